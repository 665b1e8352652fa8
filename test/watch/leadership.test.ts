// Exactly one watcher per cluster across replicas, through a lease row per cluster: two app instances on one
// state database post one alert; a leader that loses its connection keeps its lease (same token) and goes
// on; when the leader dies (a real process, SIGKILL) the other takes over once the lease has expired — within
// 30 s with the default lease — and goes on updating the same message instead of posting a new one.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockedQuery, idleInTransactionLockHolder } from '../helpers/sessions.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { alertPosts, incidents, updatesOfMessage, waitForIncident, watchEnv } from '../helpers/watch.js';
import { createLeadership, DEFAULT_LEASE_SECONDS } from '../../src/watch/leadership.js';
import { createLogger } from '../../src/logger.js';
import { migrate } from '../../src/postgres/migrate.js';

let db: TestDatabase;
let slack: SlackApi;
const sessions = sessionTracker();
const track = sessions.track;

before(async () => {
  db = await createTestDatabase('lead');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await c.end();
  const pool = new pg.Pool({ connectionString: db.url });
  await migrate(pool);
  await pool.end();
  slack = await startSlackApi();
});
afterEach(() => sessions.endAll());
after(async () => {
  await slack?.close();
  await db?.drop();
});

/** The current (unexpired) leases of the cluster: who leads it, and under which fencing token. */
async function leaders(): Promise<Array<{ holder: string; token: string }>> {
  return stateQuery<{ holder: string; token: string }>(
    db.url,
    `SELECT holder, token::text AS token FROM pgsessions.watch_leases WHERE cluster = 'default' AND expires_at > now()`,
  );
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

const env = () => baseEnv(db.url, slack, watchEnv());
const options = { watchUpdateGapSeconds: 1, watchLeaseSeconds: 3 };

// First in the file: pg warns once per process, so an earlier queued query elsewhere would hide it.
test('several watched clusters take their leases on the one leadership connection one query at a time', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const leadership = createLeadership(db.url, createLogger('silent'), { leaseSeconds: 0.6 });
  try {
    const names = Array.from({ length: 8 }, (_, i) => `queued-${i}`);
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(
        (await Promise.all(names.map((n) => leadership.lead(n)))).map((f) => f?.cluster),
        names,
      );
      await sleep(250);
    }
  } finally {
    await leadership.close();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
  }
  // pg 8 queues a query sent while another runs, deprecated and removed in pg 9.
  assert.deepEqual(
    warnings.filter((w) => /already executing a query/.test(w)),
    [],
  );
});

test('two app instances sharing a state database post one alert, and one of them leads', async () => {
  const a: TestApp = await startTestApp(env(), options);
  const b: TestApp = await startTestApp(env(), options);
  sessions.defer(() => a.stop(), { first: true });
  sessions.defer(() => b.stop(), { first: true });
  track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(() => alertPosts(slack)[0], { timeoutMs: 10_000 });
  await sleep(3_000);
  assert.equal(alertPosts(slack).length, 1, 'one alert however many replicas');
  const [lease, ...others] = await leaders();
  assert.deepEqual(others, [], 'one watcher for the cluster');
  // The cluster may move once, at a safe point, to the replica whose fair share it is (src/domain/share.ts).
  assert.ok(
    [a, b].some((app) => app.logs.some((l) => l.includes('watching this cluster (leader)'))),
    'a replica says it leads',
  );

  // The leader loses its connections to the state database: it reconnects and keeps its lease, same token.
  await stateQuery(
    db.url,
    `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'pgsessions' AND datname = current_database()`,
  );
  await sleep(3_000); // a full lease: a leader that lost it would be replaced by now
  assert.deepEqual(await leaders(), [lease], 'the same leader, the same term');
  const [row] = (await incidents(db.url)).filter((i) => i.status === 'open');
  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(
    () => updatesOfMessage(slack, row!.message_ts!).find((u) => /2 sessions wait/.test(textOf(u.params))),
    { timeoutMs: 10_000 },
  );
  assert.equal(alertPosts(slack).length, 1, 'the leader updates the same message');
  await sessions.endAll();
  slack.reset();
});

test('the leader killed with SIGKILL: the other instance takes over without reposting', async () => {
  // A stale incident from the test before must not count: wait until nothing is open.
  await waitFor('a quiet cluster', 15_000, async () =>
    (await incidents(db.url)).some((i) => i.status === 'open') ? undefined : true,
  ).catch(() => undefined);
  const holder = track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', fileURLToPath(new URL('../../src/main.ts', import.meta.url))],
    {
      env: { ...process.env, ...env(), LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  sessions.defer(async () => child.kill('SIGKILL'));
  const row = await waitForIncident(
    db.url,
    (i) => i.status === 'open' && i.message_ts !== null && i.key.includes(`${holder.pid}:`),
    20_000,
    'the child to post the alert',
  );
  const [childLease, ...others] = await leaders();
  assert.ok(childLease, 'somebody leads');
  assert.ok(childLease.holder.includes(`:${child.pid}:`), `the child leads: ${JSON.stringify(childLease)}`);
  assert.deepEqual(others, []);
  const childHolder = childLease.holder;
  const childToken = childLease.token;

  const b = await startTestApp(env(), options);
  sessions.defer(() => b.stop(), { first: true });
  await sleep(1_500);
  assert.deepEqual(await leaders(), [childLease], 'the second instance follows while the first lives');

  child.kill('SIGKILL');
  const killedAt = Date.now();
  // The child runs with the default lease (15 s): nobody releases it, so it has to expire first.
  const taken = await waitFor('the survivor to lead', 35_000, async () =>
    (await leaders()).find((l) => l.holder !== childHolder),
  );
  const took = Date.now() - killedAt;
  assert.ok(took <= 30_000, `taken over ${took} ms after the kill (default lease ${DEFAULT_LEASE_SECONDS} s)`);
  assert.equal(BigInt(taken.token), BigInt(childToken) + 1n, 'a takeover is a new term: the fencing token goes up');

  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(
    () => updatesOfMessage(slack, row.message_ts!).find((u) => /2 sessions wait/.test(textOf(u.params))),
    { timeoutMs: 10_000, description: 'the survivor updating the same message' },
  );
  assert.equal(
    alertPosts(slack).filter((c) => textOf(c.params).includes(`pid ${holder.pid}`)).length,
    1,
    'not reposted after the leader change',
  );
});
