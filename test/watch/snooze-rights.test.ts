// Snooze silences an alert for everyone, is audited and posted in the audit channel: it takes the right to
// look at the cluster (PGSESSIONS_VIEWERS) and costs a token of the per-user request bucket
// (PGSESSIONS_REQUEST_RATE). The attacker is a workspace member who may not look, or a script clicking Snooze.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SIGNING_SECRET } from '../helpers/app.js';
import { fresh, sessionTracker, stateQuery, textOf } from '../helpers/approval-flow.js';
import { blockedQuery, idleInTransactionLockHolder } from '../helpers/sessions.js';
import { blockAction } from '../helpers/slack-requests.js';
import { alertPosts, snoozeButton, waitForIncident, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const VIEWER = 'USNOOZEVIEW';
const OUTSIDER = 'USNOOZEOUT';
const sessions = sessionTracker();
const { db, slack, app } = useTestApp({
  database: 'snoozerights',
  async prepare(database) {
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await stateQuery(database.url, 'INSERT INTO orders SELECT g, null FROM generate_series(1, 10) g');
  },
  env: watchEnv({ PGSESSIONS_VIEWERS: VIEWER, PGSESSIONS_REQUEST_RATE: '2/1h' }),
  start: { watchUpdateGapSeconds: 1 },
  sessions,
});

async function snooze(user: string, value: string): Promise<string> {
  const id = fresh('snooze');
  const res = await blockAction(app.port, SIGNING_SECRET, {
    userId: user,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchSnooze,
    value,
    responseUrl: slack.responseUrl(id),
  });
  assert.equal(res.status, 200);
  return textOf((await slack.waitFor(() => slack.responsesTo(id)[0], { description: `the answer to ${user}` })).body);
}

const snoozes = async () =>
  (
    await stateQuery<{ actor: string }>(
      db.url,
      `SELECT actor FROM pgsessions.audit_log WHERE event = 'snoozed' ORDER BY seq`,
    )
  ).map((r) => r.actor);

test('a member who may not look at the cluster cannot snooze its alert; a viewer can, within the request rate', async () => {
  sessions.track(await idleInTransactionLockHolder(db.url, 'orders'));
  sessions.track(await blockedQuery(db.url, 'orders'));
  const alert = await slack.waitFor(() => alertPosts(slack)[0], { timeoutMs: 15_000, description: 'an alert' });
  const row = await waitForIncident(db.url, (i) => i.status === 'open' && i.message_ts !== null);
  const value = snoozeButton(alert, 30)!.value;

  // Before: anyone who could click could silence the alert for everyone, and write to the audit log.
  assert.match(await snooze(OUTSIDER, value), /PGSESSIONS_VIEWERS/);
  assert.deepEqual(await snoozes(), [], 'a refused snooze is not audited');
  const [after] = await stateQuery<{ snoozed_by: string | null }>(
    db.url,
    'SELECT snoozed_by FROM pgsessions.incidents WHERE id = $1',
    [row.id],
  );
  assert.equal(after!.snoozed_by, null, 'the alert is not snoozed');

  assert.match(await snooze(VIEWER, value), /Snoozed for everyone/);
  assert.match(await snooze(VIEWER, value), /Snoozed for everyone/);
  // The third within the hour: the bucket (2/1h) is empty.
  assert.match(await snooze(VIEWER, value), /faster than pgsessions accepts/);
  assert.deepEqual(await snoozes(), [VIEWER, VIEWER]);
});
