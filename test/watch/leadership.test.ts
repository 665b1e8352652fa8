// Exactly one watcher per cluster across replicas: two app instances on one state database post one alert;
// when the leader dies (a real process, SIGKILL) or loses its connection, the other takes over within two
// intervals and goes on updating the same message instead of posting a new one.
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
import { createLeadership, WATCH_LOCK_CLASS } from '../../src/watch/leadership.js';
import { createLogger } from '../../src/logger.js';

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
  slack = await startSlackApi();
});
afterEach(() => sessions.endAll());
after(async () => {
  await slack?.close();
  await db?.drop();
});

async function leaderPids(): Promise<number[]> {
  const rows = await stateQuery<{ pid: number }>(db.url, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND granted`, [WATCH_LOCK_CLASS]);
  return rows.map((r) => r.pid);
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
const options = { watchUpdateGapSeconds: 1 };

// First in the file: pg warns once per process, so an earlier queued query elsewhere would hide it.
test('several watched clusters share the leadership connection one query at a time', async () => {
  const warnings: string[] = [];
  const onWarning = (w: Error) => warnings.push(w.message);
  process.on('warning', onWarning);
  const leadership = createLeadership(db.url, createLogger('silent'));
  try {
    const names = Array.from({ length: 8 }, (_, i) => `queued-${i}`);
    for (let round = 0; round < 3; round++) {
      assert.deepEqual(await Promise.all(names.map((n) => leadership.holds(n))), names.map(() => true));
      await sleep(250); // past the gap between two liveness checks
    }
  } finally {
    await leadership.close();
    await new Promise((resolve) => setImmediate(resolve));
    process.off('warning', onWarning);
  }
  // pg 8 queues a query sent while another runs, deprecated and removed in pg 9.
  assert.deepEqual(warnings.filter((w) => /already executing a query/.test(w)), []);
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
  assert.equal((await leaderPids()).length, 1, 'one watcher for the cluster');

  // The leader loses its connection: someone takes over within two intervals, and nothing is reposted.
  const [old] = await leaderPids();
  await stateQuery(db.url, 'SELECT pg_terminate_backend($1)', [old]);
  const started = Date.now();
  await waitFor('a new leader', 8_000, async () => ((await leaderPids()).some((p) => p !== old) ? true : undefined));
  // Two intervals are 2 s; the bound is loose so a loaded machine does not fail it, yet a lease-based or
  // TCP-timeout takeover (tens of seconds) would.
  assert.ok(Date.now() - started <= 6_000, `taken over in ${Date.now() - started} ms (interval 1 s)`);
  const [row] = (await incidents(db.url)).filter((i) => i.status === 'open');
  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(() => updatesOfMessage(slack, row!.message_ts!).find((u) => /2 sessions wait/.test(textOf(u.params))), { timeoutMs: 10_000 });
  assert.equal(alertPosts(slack).length, 1, 'the new leader updates the same message');
  await sessions.endAll();
  slack.reset();
});

test('the leader killed with SIGKILL: the other instance takes over without reposting', async () => {
  // A stale incident from the test before must not count: wait until nothing is open.
  await waitFor('a quiet cluster', 15_000, async () => ((await incidents(db.url)).some((i) => i.status === 'open') ? undefined : true)).catch(() => undefined);
  const holder = track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../../src/main.ts', import.meta.url))], {
    env: { ...process.env, ...env(), LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  sessions.defer(async () => child.kill('SIGKILL'));
  const row = await waitForIncident(db.url, (i) => i.status === 'open' && i.message_ts !== null && i.key.includes(`${holder.pid}:`), 20_000, 'the child to post the alert');
  const [childLeader] = await leaderPids();
  assert.ok(childLeader);

  const b = await startTestApp(env(), options);
  sessions.defer(() => b.stop(), { first: true });
  await sleep(1_500);
  assert.deepEqual(await leaderPids(), [childLeader], 'the second instance follows while the first lives');

  child.kill('SIGKILL');
  const killedAt = Date.now();
  await waitFor('the survivor to lead', 8_000, async () => ((await leaderPids()).some((p) => p !== childLeader) ? true : undefined));
  assert.ok(Date.now() - killedAt <= 6_000, `taken over ${Date.now() - killedAt} ms after the kill (interval 1 s)`);

  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(() => updatesOfMessage(slack, row.message_ts!).find((u) => /2 sessions wait/.test(textOf(u.params))), { timeoutMs: 10_000, description: 'the survivor updating the same message' });
  assert.equal(alertPosts(slack).filter((c) => textOf(c.params).includes(`pid ${holder.pid}`)).length, 1, 'not reposted after the leader change');
});
