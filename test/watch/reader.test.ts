// The watcher's one read on a real server: real lock holders, waiters and a queued DDL, read by the SQL the
// watcher runs, then judged by the pure detection.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { blockedQuery, idleInTransactionLockHolder, longRead, sleepSession } from '../helpers/sessions.js';
import { sessionTracker } from '../helpers/approval-flow.js';
import { createLogger } from '../../src/logger.js';
import { createPool } from '../../src/postgres/pools.js';
import type { WatchReaderPort as WatchReader } from '../../src/domain/ports.js';
import { createWatchReader } from '../../src/postgres/watch-reader.js';
import { detectIncidents, type WatchThresholds } from '../../src/domain/watch.js';

let db: TestDatabase;
let reader: WatchReader;
const sessions = sessionTracker();
const T: WatchThresholds = {
  lockWaitSeconds: 0,
  idleInTransactionSeconds: 600,
  activeSeconds: 1800,
  connectionsShare: 0.9,
  replicationLagBytes: null,
  stormSessions: 3,
  stormSeconds: 0,
};

before(async () => {
  db = await createTestDatabase('wread');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
  await c.query('INSERT INTO orders SELECT g, null FROM generate_series(1, 10) g');
  await c.end();
  reader = createWatchReader('main', createPool(db.url, createLogger('silent'), { max: 1, statementTimeoutMs: 2_000 }));
});
afterEach(() => sessions.endAll());
after(async () => {
  await reader?.close();
  await db?.drop();
});

test('an idle-in-transaction lock holder and its waiters: the holder, its lock and the relation by name', async () => {
  const holder = sessions.track(await idleInTransactionLockHolder(db.url, 'orders', { application: 'reporting' }));
  const w1 = sessions.track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  sessions.track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  const snap = await reader.read({ walsenders: false });
  const me = snap.sessions.find((s) => s.pid === holder.pid);
  assert.equal(me?.state, 'idle in transaction');
  assert.equal(me?.backendStart, holder.backendStart);
  assert.equal(snap.sessions.find((s) => s.pid === w1.pid)?.waitingFor?.mode, 'AccessShareLock');
  assert.ok((snap.sessions.find((s) => s.pid === w1.pid)?.waitSeconds ?? -1) >= 0);
  const found = detectIncidents(snap, T);
  const incident = found.find((i) => i.cause === 'root-blocker');
  assert.ok(incident, JSON.stringify(found));
  assert.equal(incident.root?.pid, holder.pid);
  assert.equal(incident.waiting, 2);
  assert.equal(incident.lock?.mode, 'AccessExclusiveLock');
  assert.equal(incident.lock?.relation, 'orders');
  assert.ok(snap.connections.total >= 3 && snap.connections.available > 0);
  assert.ok(!snap.sessions.some((s) => s.application === 'pgsessions'), 'the watcher does not watch itself');
});

test('a DDL queued behind a long read, readers behind it: the DDL is the lock-queue head', async () => {
  const read = sessions.track(await longRead(db.url, 'orders', { seconds: 120 }));
  const ddl = sessions.track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN x int',
      application: 'rails-migrate',
    }),
  );
  sessions.track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  sessions.track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  const found = detectIncidents(await reader.read({ walsenders: false }), T);
  const head = found.find((i) => i.cause === 'lock-queue-head');
  assert.ok(head, JSON.stringify(found.map((i) => i.cause)));
  assert.equal(head.root?.pid, ddl.pid);
  assert.equal(head.behind?.pid, read.pid);
  assert.equal(head.waiting, 2);
  assert.equal(head.lock?.relation, 'orders');
  assert.match(head.root?.query ?? '', /ALTER TABLE orders/);
});

test('the same statement in several sessions is read with its query id where the server has one', async () => {
  for (let i = 0; i < 3; i++) sessions.track(await sleepSession(db.url, { seconds: 60, application: 'storm' }));
  const found = detectIncidents(await reader.read({ walsenders: false }), T);
  const storm = found.find((i) => i.cause === 'query-storm');
  assert.ok(storm);
  assert.equal(storm.members.length, 3);
  assert.deepEqual(storm.applications, ['storm']);
});
