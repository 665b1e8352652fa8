// The state database turns read-only under pgsessions (a standby after a failover, or
// default_transaction_read_only): listings still work; a request and an approval, sent as signed Slack
// requests, are refused with one sentence and write nothing (no request, no audit entry, no outbox row); the
// watcher, the outbox worker and the sweeps say so once instead of once a tick; and once the same URL leads
// to a writable database again, the next request and approval just work — no restart, no connection cut.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { sleepSession } from '../helpers/sessions.js';
import { APPROVER, AUDIT_CHANNEL, REQUESTER } from '../helpers/app.js';
import {
  as,
  click,
  command,
  fresh,
  sessionTracker,
  sleep,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { waitUntil } from '../helpers/rules.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const SENTENCE =
  /the state database is read-only \(25006\): nothing can be requested or approved until it is writable again/i;

let stateDb: TestDatabase;
const sessions = sessionTracker();
const track = sessions.track;
const {
  db: cluster,
  slack,
  app,
} = useTestApp({
  database: 'rocluster',
  async prepare() {
    stateDb = await createTestDatabase('rostate');
  },
  env: () => watchEnv({ STATE_DATABASE_URL: stateDb.url }),
  start: { sweepIntervalMs: 200, watchLeaseSeconds: 3 },
  sessions,
});
after(async () => {
  await stateQuery(serverUrl(), `ALTER DATABASE ${stateDb.name} RESET default_transaction_read_only`).catch(
    () => undefined,
  );
  await stateDb?.drop();
});

const counts = async () =>
  (
    await stateQuery<{ requests: number; audit: number; outbox: number }>(
      stateDb.url,
      `SELECT (SELECT count(*)::int FROM pgsessions.requests) AS requests, (SELECT count(*)::int FROM pgsessions.audit_log) AS audit,
              (SELECT count(*)::int FROM pgsessions.outbox) AS outbox`,
    )
  )[0]!;
// From another database: a session of the read-only one could not even turn it back.
const setReadOnly = (on: boolean) =>
  stateQuery(serverUrl(), `ALTER DATABASE ${stateDb.name} SET default_transaction_read_only = ${on ? 'on' : 'off'}`);
/** The bot's connections to the state database, cut as a failover cuts them. */
const cutStateConnections = () =>
  stateQuery(
    stateDb.url,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgsessions'`,
    [stateDb.name],
  );
const warnings = (message: string) =>
  app.logs.filter((line) => line.includes(message) && line.includes('"level":40')).length;

test('a read-only state database: listing works, a request and an approval are refused in one sentence and write nothing, and it recovers by itself', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(cluster.url, { seconds: 300 }));
  const pending = await typedRequest(
    slack,
    app.port,
    `cancel ${victim.pid} before the failover`,
    as(REQUESTER, channel),
  );

  await setReadOnly(true);
  await cutStateConnections();
  const before = await counts();

  const listing = await command(slack, app.port, '', as(REQUESTER, channel));
  assert.match(
    listing.text + JSON.stringify(listing.body.blocks ?? ''),
    new RegExp(`\\b${victim.pid}\\b`),
    'the listing still shows the sessions',
  );

  const other = track(await sleepSession(cluster.url, { seconds: 300 }));
  const refused = await command(slack, app.port, `cancel ${other.pid} during the failover`, as(REQUESTER, channel));
  assert.match(refused.text, SENTENCE);
  const approval = await click(slack, app.port, ACTION.approve, pending.id, as(APPROVER, channel));
  const approvalReply = await approval.reply(10_000);
  if (!SENTENCE.test(approvalReply))
    console.log(
      app.logs
        .filter((l) => l.includes('decision failed'))
        .join('\n')
        .slice(0, 3000),
    );
  assert.match(approvalReply, SENTENCE);

  assert.deepEqual(await counts(), before, 'no request, no audit entry, no outbox row: nothing half-written');
  assert.equal((await waitForStatus(stateDb.url, pending.id, ['pending'])).status, 'pending');

  // Meanwhile the watcher, the outbox worker and the sweeps keep trying, and say so once.
  await sleep(3_000);
  assert.ok(warnings('cannot take or renew the watch lease') <= 1, 'the watcher said it once');
  assert.ok(warnings('sweep failed') <= 1, 'the sweep said it once');
  assert.ok(warnings('audit outbox pass failed') <= 1, 'the outbox worker said it once');

  // Writable again, the same URL, the same process, the old connections left as they are.
  await setReadOnly(false);
  const { id } = await typedRequest(slack, app.port, `cancel ${other.pid} after the failover`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(stateDb.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: other.pid, outcome: 'cancelled' }]);
  await click(slack, app.port, ACTION.approve, pending.id, as(APPROVER, channel));
  assert.equal(
    (await waitForStatus(stateDb.url, pending.id, ['executed', 'failed'])).status,
    'executed',
    'the request made before the failover is approved after it',
  );

  // No audit entry lost: every one reaches the audit channel.
  await waitUntil(
    'the outbox to drain',
    async () =>
      (
        await stateQuery<{ n: number }>(
          stateDb.url,
          'SELECT count(*)::int AS n FROM pgsessions.outbox WHERE delivered_at IS NULL',
        )
      )[0]!.n === 0,
    20_000,
  );
  const audited = await stateQuery<{ n: number }>(stateDb.url, 'SELECT count(*)::int AS n FROM pgsessions.audit_log');
  const posted = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === AUDIT_CHANNEL && !c.fault).length;
  assert.equal(posted, audited[0]!.n, 'one audit message per audit entry');
  // And the watcher leads again.
  await waitUntil(
    'the watcher to lead again',
    async () =>
      (await stateQuery(stateDb.url, `SELECT 1 FROM pgsessions.watch_leases WHERE expires_at > now()`)).length > 0,
    15_000,
  );
});
