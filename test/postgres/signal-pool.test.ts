// Approved kills are never starved by listings: a cluster signals through connections of its own. Here
// every listing connection is taken and held busy on the server (pg_sleep), as 50 people listing a slow
// cluster would hold them, and a terminate must still go through at once.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createLogger } from '../../src/logger.js';
import { createPool } from '../../src/postgres/pools.js';
import { createCluster, type Cluster } from '../../src/postgres/session-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { activityRow, sleepSession } from '../helpers/sessions.js';

const logger = createLogger('silent');
let db: TestDatabase;
let listingPool: pg.Pool;
let signalPool: pg.Pool;
let cluster: Cluster;

before(async () => {
  db = await createTestDatabase('signalpool');
  // A short wait for a pool slot, so that a starved signal fails in 1 s rather than the default 5.
  listingPool = createPool(db.url, logger, { max: 3, connectTimeoutMs: 1_000 });
  signalPool = createPool(db.url, logger, { max: 2, connectTimeoutMs: 1_000 });
  cluster = createCluster('default', listingPool, logger, { signalPool });
});

after(async () => {
  await listingPool?.end();
  await signalPool?.end();
  await db?.drop();
});

/** Cancels the pg_sleep(30) queries holding the pools' connections, from a connection of its own. */
async function stopSleepers(): Promise<void> {
  const admin = new pg.Client({ connectionString: db.url });
  await admin.connect();
  try {
    await admin.query(
      `SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'SELECT pg_sleep(30)'`,
    );
  } finally {
    await admin.end();
  }
}

const guard = { protectedRoles: [], protectedApps: [], terminateTimeoutMs: 5_000 };

test('a terminate goes through while every listing connection is busy, and listings still queue behind them', async () => {
  const victim = await sleepSession(db.url, { seconds: 300, application: 'victim' });
  const held: pg.PoolClient[] = [];
  const busy: Promise<unknown>[] = [];
  try {
    // Take every listing connection and keep each busy on the server.
    for (let i = 0; i < 3; i++) held.push(await listingPool.connect());
    for (const client of held) busy.push(client.query('SELECT pg_sleep(30)').catch(() => undefined));
    assert.equal(listingPool.totalCount, 3);
    assert.equal(listingPool.idleCount, 0);

    // A listing now has to wait for a connection, and gives up (the pool is saturated)...
    await assert.rejects(cluster.list({ limit: 20 }), /busy|timeout/i);

    // ...but the signal has its own connections.
    const outcome = await cluster.signal(
      'terminate',
      { pid: victim.pid, backendStart: victim.backendStart, queryStart: null, backendType: 'client backend' },
      guard,
    );
    assert.equal(outcome.outcome, 'terminated');
    assert.equal(await activityRow(db.url, victim.pid), undefined, 'the victim is gone from pg_stat_activity');
    assert.ok(signalPool.totalCount >= 1, 'the signal used the signal pool');
  } finally {
    await stopSleepers();
    for (const client of held) client.release();
    await Promise.all(busy);
    await victim.end();
  }
});

test('without a signal pool (one pool for everything) the same terminate is starved: what the separate pool fixes', async () => {
  const shared = createPool(db.url, logger, { max: 2, connectTimeoutMs: 1_000 });
  const single = createCluster('default', shared, logger);
  const victim = await sleepSession(db.url, { seconds: 300, application: 'victim2' });
  const held: pg.PoolClient[] = [];
  try {
    for (let i = 0; i < 2; i++) held.push(await shared.connect());
    const busy = held.map((client) => client.query('SELECT pg_sleep(30)').catch(() => undefined));
    await assert.rejects(
      single.signal(
        'terminate',
        { pid: victim.pid, backendStart: victim.backendStart, queryStart: null, backendType: 'client backend' },
        guard,
      ),
    );
    assert.ok(await activityRow(db.url, victim.pid), 'the victim is still there');
    await stopSleepers();
    for (const client of held) client.release();
    await Promise.all(busy);
  } finally {
    await shared.end().catch(() => undefined);
    await victim.end();
  }
});
