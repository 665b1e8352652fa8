// terminate-all freezes the sessions it showed, and ending a walsender is its own, warned-about action.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { sessionAlive, sleepSession, walsender } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, SIGNING_SECRET, startTestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  buttonsIn,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { ACTION, decodeTarget, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { WALSENDER_WARNING } from '../../src/slack/blocks/replication.js';
import { useTestApp } from '../helpers/use-test-app.js';

const PROTECTED_ROLE = `prot_${randomBytes(4).toString('hex')}`;
const PASSWORD = 'prot-password';

let other: TestDatabase;
const sessions = sessionTracker();
const track = sessions.track;
// db: the cluster's database the bot connects to, and the bulk target.
const { db, slack, app } = useTestApp({
  database: 'bulk',
  async prepare() {
    other = await createTestDatabase('bulko');
    await stateQuery(serverUrl(), `CREATE ROLE ${PROTECTED_ROLE} LOGIN PASSWORD '${PASSWORD}'`);
  },
  env: { PGSESSIONS_PROTECTED_ROLES: PROTECTED_ROLE },
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});
after(async () => {
  await other?.drop();
  await stateQuery(serverUrl(), `DROP ROLE IF EXISTS ${PROTECTED_ROLE}`).catch(() => undefined);
});

function asRole(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}

test('terminate-all ends exactly the sessions frozen in the request: not later arrivals, other databases, protected roles, walsenders or the bot', async () => {
  const channel = fresh('C');
  const frozen = [
    track(await sleepSession(db.url, { seconds: 120, application: 'bulk-a' })),
    track(await sleepSession(db.url, { seconds: 120, application: 'bulk-b' })),
    track(await sleepSession(db.url, { seconds: 120, application: 'bulk-c' })),
  ];
  const elsewhere = track(await sleepSession(other.url, { seconds: 120, application: 'bulk-elsewhere' }));
  const protectedOne = track(
    await sleepSession(asRole(db.url, PROTECTED_ROLE, PASSWORD), { seconds: 120, application: 'bulk-protected' }),
  );
  const sender = track(await walsender(db.url, { application: 'bulk-standby' }));
  const bot = await stateQuery<{ pid: number }>(
    db.url,
    `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgsessions' AND datname = $1`,
    [db.name],
  );
  assert.ok(bot.length > 0, 'the bot has its own connections on that database');

  const { id, reply, post } = await typedRequest(
    slack,
    app.port,
    `terminate-all db:${db.name} nightly maintenance`,
    as(REQUESTER, channel),
  );
  assert.match(reply, /for 3 sessions/);
  const request = await requestRow(db.url, id);
  assert.deepEqual(request.targets.map((t) => t.pid).sort(), frozen.map((s) => s.pid).sort());
  const shown = textOf(post.params.blocks);
  for (const s of frozen) assert.ok(shown.includes(`pid ${s.pid}`));
  assert.match(shown, /never ones that arrived later/);

  const late = track(await sleepSession(db.url, { seconds: 120, application: 'bulk-late' }));
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.deepEqual(
    row.result?.outcomes,
    frozen.map((s) => ({ pid: s.pid, outcome: 'terminated' })).sort((a, b) => a.pid - b.pid),
  );
  for (const s of frozen) assert.equal(await sessionAlive(db.url, s.pid), false, `frozen pid ${s.pid} is gone`);
  assert.equal(await sessionAlive(db.url, late.pid, late.backendStart), true, 'the late arrival survives');
  assert.equal(await sessionAlive(db.url, elsewhere.pid, elsewhere.backendStart), true, 'the other database survives');
  assert.equal(
    await sessionAlive(db.url, protectedOne.pid, protectedOne.backendStart),
    true,
    'the protected role survives',
  );
  assert.equal(await sessionAlive(db.url, sender.pid, sender.backendStart), true, 'the walsender survives');
  for (const b of bot) assert.equal(await sessionAlive(db.url, b.pid), true, 'the bot kept its connections');
  await waitForUpdate(slack, db.url, id, /3 terminated/);
});

test('terminate-all over the cap is refused with the count and the cap, and requests nothing', async () => {
  const channel = fresh('C');
  const capped = await startTestApp(baseEnv(db.url, slack), { bulkCap: 2 });
  try {
    for (let i = 0; i < 3; i++) track(await sleepSession(other.url, { seconds: 120, application: `cap-${i}` }));
    const { text } = await command(
      slack,
      capped.port,
      `terminate-all db:${other.name} too many`,
      as(REQUESTER, channel),
    );
    assert.match(text, /more sessions than one request may/);
    assert.match(text, /the cap is 2/);
    assert.equal(approvalPosts(slack, channel).length, 0);
  } finally {
    await capped.stop();
  }
});

test('End walsender from the replication listing warns in the modal and, once approved, ends the walsender', async () => {
  const channel = fresh('C');
  const sender = track(await walsender(db.url, { application: 'standby-east' }));
  const listing = await command(slack, app.port, 'replication', as(REQUESTER, channel));
  const end = buttonsIn(listing.body.blocks).find(
    (b) => b.action_id === ACTION.terminateWalsender && decodeTarget(b.value)?.pid === sender.pid,
  );
  assert.ok(end, 'the replication listing offers End walsender');

  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.terminateWalsender,
    value: end.value,
    responseUrl: slack.responseUrl(fresh('row')),
    isEphemeral: true,
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger));
  const modal = opened.params.view as { private_metadata: string };
  assert.ok(
    textOf(modal).includes(JSON.stringify(WALSENDER_WARNING).slice(1, 40)),
    'the modal carries the walsender warning',
  );
  await slack.waitFor(() =>
    slack
      .callsTo('views.update')
      .find((c) => (c.params.view as { private_metadata?: string }).private_metadata === modal.private_metadata),
  );

  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.request,
    privateMetadata: modal.private_metadata,
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'standby rebuilt' } } },
  });
  const post = await slack.waitFor(() => approvalPosts(slack, channel)[0]);
  assert.match(textOf(post.params.blocks), /End walsender request/);
  const id = buttonsIn(post.params.blocks).find((b) => b.action_id === ACTION.approve)!.value;
  assert.equal(await sessionAlive(db.url, sender.pid, sender.backendStart), true);

  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: sender.pid, outcome: 'terminated' }]);
  assert.equal(await sessionAlive(db.url, sender.pid), false, 'the walsender is gone');
  assert.ok(await sender.finished, 'the replication stream ended');
});

test('a typed terminate of a walsender pid is refused: walsenders are ended only with End walsender', async () => {
  const channel = fresh('C');
  const sender = track(await walsender(db.url, { application: 'standby-west' }));
  const { text } = await command(slack, app.port, `terminate ${sender.pid} wrong tool`, as(REQUESTER, channel));
  assert.match(text, /not a client session/);
  assert.equal(await sessionAlive(db.url, sender.pid, sender.backendStart), true);
});
