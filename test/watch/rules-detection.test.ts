// A rule acts on its own thresholds, not on the alert's: on a cluster that alerts on lock waits only after
// 30 s, a rule saying waiting:1s cancels the queued DDL within seconds; a rule on one statement reaches every
// session of a query storm; a rule the watcher would never act on is refused. Real sessions, signed HTTP.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import {
  activityRow,
  blockedQuery,
  idleInTransactionLockHolder,
  longRead,
  sleepSession,
  waitUntilGone,
} from '../helpers/sessions.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { command, sessionTracker, sleep, stateQuery } from '../helpers/approval-flow.js';
import { alertPosts, watchEnv } from '../helpers/watch.js';
import { ruleDriver } from '../helpers/rules.js';

const CHANNEL = 'COPS02';
let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let etl: TestRole;
const sessions = sessionTracker();
const track = sessions.track;
const drive = () =>
  ruleDriver(
    slack,
    () => app.port,
    () => db.url,
    CHANNEL,
  );

before(async () => {
  db = await createTestDatabase('rules_detection');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await c.end();
  etl = await createRole({ prefix: 'etl_owner' });
  slack = await startSlackApi();
  // Alerts: lock waits after 30 s; idle transactions and long statements not at all.
  app = await startTestApp(
    baseEnv(
      db.url,
      slack,
      watchEnv({
        PGSESSIONS_WATCH_LOCK_WAIT: '30s',
        PGSESSIONS_PROTECTED_APPS: 'critical-etl',
        PGSESSIONS_PROTECTED_ROLES: etl.name,
      }),
    ),
    { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  );
});
afterEach(async () => {
  await stateQuery(
    db.url,
    "UPDATE pgsessions.rules SET status = 'revoked', ended_at = now() WHERE status IN ('proposed', 'approved')",
  );
  await sessions.endAll();
  slack.reset();
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await etl?.drop();
});

test("a rule's waiting:1s acts within seconds on a cluster that alerts on lock waits only after 30 s", async () => {
  const rules = drive();
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s blocking:2 for:1h deploy',
    REQUESTER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const read = track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS x int',
      application: 'rails-migrate',
    }),
  );
  for (let n = 0; n < 2; n++) track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/);
  // When it acted, as the state database recorded it against the DDL's own start: well before the alert's 30 s.
  const [waited] = await stateQuery<{ s: number }>(
    db.url,
    "SELECT extract(epoch FROM claimed_at - (target->>'queryStart')::timestamptz)::float8 AS s FROM pgsessions.rule_executions WHERE rule_id = $1",
    [id],
  );
  assert.ok(waited && waited.s >= 1 && waited.s < 30, `claimed after the DDL had waited ${waited?.s} s`);
  assert.equal((await activityRow(db.url, read.pid))?.state, 'active', 'the read is untouched');
  assert.deepEqual(
    (await rules.executions(id)).map((e) => [e.pid, e.outcome]),
    [[ddl.pid, 'cancelled']],
  );
  assert.equal(alertPosts(slack).length, 0, 'no alert: the cluster alerts at 30 s and the queue was gone long before');
});

test('a rule on one statement reaches every session of a query storm', async () => {
  const rules = drive();
  // Twelve sessions running the same statement for over 10 s: one query-storm alert, not twelve.
  const storm = await Promise.all(
    Array.from({ length: 12 }, () => sleepSession(db.url, { seconds: 120, application: 'report-runner' }).then(track)),
  );
  const other = track(await sleepSession(db.url, { seconds: 121, application: 'billing' }));
  await slack.waitFor(() => alertPosts(slack).find((c) => /storm|same statement/i.test(JSON.stringify(c.params))), {
    timeoutMs: 30_000,
    description: 'the query-storm alert',
  });
  const { id } = await rules.propose(
    'cancel active app:report-runner running:5s for:1h max:20 runaway report',
    REQUESTER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  for (const s of storm) assert.match(String((await s.finished)?.message), /canceling statement due to user request/);
  // The clients see the cancel a moment before each outcome is written.
  let done = await rules.executions(id);
  for (
    const deadline = Date.now() + 10_000;
    done.some((e) => e.outcome === null) && Date.now() < deadline;
    done = await rules.executions(id)
  )
    await sleep(100);
  assert.deepEqual(
    done.map((e) => e.pid).sort(),
    storm.map((s) => s.pid).sort(),
    'one execution per session of the storm',
  );
  assert.deepEqual([...new Set(done.map((e) => e.outcome))], ['cancelled']);
  await sleep(2_500);
  assert.equal(
    (await activityRow(db.url, other.pid))?.state,
    'active',
    'another application running a statement as long is untouched',
  );
  assert.equal((await rules.executions(id)).length, 12);
});

test('a rule on a cause this cluster never looks for, without its own threshold, is refused and nothing is stored', async () => {
  const before = (await drive().rules()).length;
  const reply = await command(
    slack,
    app.port,
    'allow terminate idle-in-transaction user:reporting for:1h reporting tool',
    { user: REQUESTER, channel: CHANNEL },
  );
  assert.match(reply.text, /PGSESSIONS_WATCH_IDLE_IN_TRANSACTION is off.*Add idle:/);
  assert.equal((await drive().rules()).length, before);
  assert.equal(drive().posts().length, 0);
});

test('whatever a rule says, protected roles and applications are never signalled; a rule naming one is refused', async () => {
  const rules = drive();
  const refusedApp = await command(
    slack,
    app.port,
    'allow terminate idle-in-transaction app:critical-etl idle:1s for:1h r',
    { user: REQUESTER, channel: CHANNEL },
  );
  assert.match(refusedApp.text, /Application critical-etl is protected/);
  const refusedRole = await command(
    slack,
    app.port,
    `allow terminate idle-in-transaction user:${etl.name} idle:1s for:1h r`,
    { user: REQUESTER, channel: CHANNEL },
  );
  assert.match(refusedRole.text, new RegExp(`Role ${etl.name} is protected`));
  assert.equal(rules.posts().length, 0);

  // A rule on the whole database: it reaches the protected sessions' database, not the sessions.
  const database = new URL(db.url).pathname.slice(1);
  const { id } = await rules.propose(
    `terminate idle-in-transaction db:${database} idle:1s for:1h max:10 stale transactions`,
    REQUESTER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const byApp = track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'critical-etl' }),
  );
  const byRole = track(
    await idleInTransactionLockHolder(etl.url(db.url), 'orders', { statement: 'SELECT 1', application: 'etl' }),
  );
  const stale = track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'reporting' }),
  );
  await waitUntilGone(db.url, stale.pid, 20_000);
  await sleep(3_000); // more looks
  assert.equal(
    (await activityRow(db.url, byApp.pid))?.state,
    'idle in transaction',
    'the protected application is untouched',
  );
  assert.equal(
    (await activityRow(db.url, byRole.pid))?.state,
    'idle in transaction',
    'the protected role is untouched',
  );
  assert.deepEqual(
    (await rules.executions(id)).map((e) => e.pid),
    [stale.pid],
    'not even claimed for the protected ones',
  );
});

test('below its thresholds a rule leaves the DDL alone: fewer waiters than blocking:, or not yet waited long enough', async () => {
  const rules = drive();
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:3s blocking:2 for:1h deploy',
    REQUESTER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS y int',
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  await sleep(5_000); // waited long enough, but only one session behind it
  assert.equal((await activityRow(db.url, ddl.pid))?.wait_event_type, 'Lock', 'one waiter behind it: still queued');
  assert.deepEqual(await rules.executions(id), []);
  const second = track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/);
  // As the state database recorded it: claimed only after the DDL had waited 3 s and the second reader queued.
  const [run] = await stateQuery<{ waited: number; after_second: boolean }>(
    db.url,
    "SELECT extract(epoch FROM claimed_at - (target->>'queryStart')::timestamptz)::float8 AS waited, claimed_at >= $2::timestamptz AS after_second FROM pgsessions.rule_executions WHERE rule_id = $1",
    [id, second.queryStart],
  );
  assert.ok(run && run.waited >= 3, `claimed after ${run?.waited} s of waiting`);
  assert.equal(run.after_second, true);
});

test('a rule approved during a long watch interval acts within seconds, not at the next interval', async () => {
  await app.stop();
  app = await startTestApp(
    baseEnv(
      db.url,
      slack,
      watchEnv({
        PGSESSIONS_WATCH_INTERVAL: '60s',
        PGSESSIONS_WATCH_LOCK_WAIT: '30s',
        PGSESSIONS_PROTECTED_APPS: 'critical-etl',
        PGSESSIONS_PROTECTED_ROLES: etl.name,
      }),
    ),
    {
      terminateTimeoutMs: 3_000,
      watchUpdateGapSeconds: 1,
    },
  );
  try {
    const rules = drive();
    const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h deploy', REQUESTER);
    track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
    const ddl = track(
      await blockedQuery(db.url, 'orders', {
        statement: 'ALTER TABLE orders ADD COLUMN IF NOT EXISTS z int',
        application: 'rails-migrate',
      }),
    );
    track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
    await sleep(1_500);
    assert.match(await rules.approve(id, APPROVER), /Rule approved/);
    assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/);
    const [run] = await stateQuery<{ after: number }>(
      db.url,
      'SELECT extract(epoch FROM e.claimed_at - r.approved_at)::float8 AS after FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id WHERE r.id = $1',
      [id],
    );
    // The next look by the interval would come some 50 s after the approval.
    assert.ok(
      run && run.after < 20,
      `claimed ${run?.after} s after the approval, long before the next look by the 60 s interval`,
    );
  } finally {
    await app.stop();
    app = await startTestApp(
      baseEnv(
        db.url,
        slack,
        watchEnv({
          PGSESSIONS_WATCH_LOCK_WAIT: '30s',
          PGSESSIONS_PROTECTED_APPS: 'critical-etl',
          PGSESSIONS_PROTECTED_ROLES: etl.name,
        }),
      ),
      { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
    );
  }
});
