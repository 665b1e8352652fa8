// The pools and the reserved connection on a real server: no session state left behind by a statement
// (transaction pooling may give the next one another server connection), the reserved connection kept
// open and reopened, and used — one caller at a time — when the server refuses a new connection. A role
// limited to one connection (CONNECTION LIMIT 1) refuses with the same 53300 as a full server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createLogger } from '../../src/logger.js';
import { createLifeline } from '../../src/postgres/lifeline.js';
import { acquire, createPool, queryRouted, troubleOf } from '../../src/postgres/pools.js';
import { beginSql } from '../../src/postgres/statement.js';
import { inTransaction } from '../../src/postgres/transaction.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { stateQuery } from '../helpers/approval-flow.js';

const logger = createLogger('silent');
const ROLE = `lifeline_${randomBytes(4).toString('hex')}`;
let db: TestDatabase;
let limitedUrl: string;
const closers: Array<() => Promise<unknown>> = [];

before(async () => {
  db = await createTestDatabase('lifeline');
  await stateQuery(serverUrl(), `CREATE ROLE ${ROLE} LOGIN PASSWORD 'lifeline-pw-1' CONNECTION LIMIT 1`);
  const u = new URL(db.url);
  u.username = ROLE;
  u.password = 'lifeline-pw-1';
  limitedUrl = u.toString();
});
after(async () => {
  for (const close of closers.splice(0)) await close().catch(() => undefined);
  await db?.drop();
  await stateQuery(serverUrl(), `DROP ROLE IF EXISTS ${ROLE}`).catch(() => undefined);
});

async function waitUntil<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('the transaction opener sets only SET LOCALs from whole numbers, and refuses anything else', () => {
  const sql = beginSql({ statementTimeoutMs: 10_000, lockTimeoutMs: 2_000, idleInTransactionTimeoutMs: 60_000 });
  assert.match(sql, /^BEGIN; /);
  for (const part of sql.split('; ').slice(1)) assert.match(part, /^SET LOCAL /);
  assert.match(sql, /statement_timeout = 10000/);
  assert.throws(
    () => beginSql({ statementTimeoutMs: 1.5, lockTimeoutMs: 2_000, idleInTransactionTimeoutMs: 60_000 }),
    /whole number/,
  );
  assert.throws(
    () => beginSql({ statementTimeoutMs: 10_000, lockTimeoutMs: -1, idleInTransactionTimeoutMs: 60_000 }),
    /whole number/,
  );
  assert.throws(
    () =>
      beginSql({
        statementTimeoutMs: 10_000,
        lockTimeoutMs: 2_000,
        idleInTransactionTimeoutMs: Number('1; DROP TABLE x'),
      }),
    /whole number/,
  );
});

test('a statement runs with its timeouts and UTC, and leaves none of it on the connection', async () => {
  const pool = createPool(db.url, logger, { max: 1, statementTimeoutMs: 7_000 });
  closers.push(() => pool.end());
  const inside = (
    await pool.query(
      `SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt, current_setting('TimeZone') AS tz, current_setting('DateStyle') AS ds`,
    )
  ).rows[0];
  assert.deepEqual(inside, { st: '7s', lt: '2s', tz: 'UTC', ds: 'ISO, YMD' });
  // The same (only) server connection, asked outside any transaction of ours: the server's defaults.
  const raw = await pool.connect();
  try {
    const after = (
      await raw.query(`SELECT current_setting('statement_timeout') AS st, current_setting('lock_timeout') AS lt`)
    ).rows[0];
    assert.deepEqual(after, { st: '0', lt: '0' });
  } finally {
    raw.release();
  }
  // The start-up packet carried no timeouts either: the server saw the defaults at connect.
  const started = await stateQuery<{ n: number }>(
    db.url,
    `SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'pgsessions' AND datname = $1`,
    [db.name],
  );
  assert.equal(started[0]?.n, 1);
  await assert.rejects(
    pool.query('SELECT pg_sleep(10)', []).then(() => null),
    (error: { code?: string }) => error.code === '57014',
    'the statement timeout cut it',
  );
});

test('the reserved connection is reopened after its backend is terminated', async () => {
  const lifeline = createLifeline(db.url, logger, { applicationName: 'pgsessions', healthIntervalMs: 200 });
  closers.push(() => lifeline.close());
  assert.equal(await lifeline.open(), true);
  const first = lifeline.pid();
  assert.ok(first);
  await stateQuery(db.url, 'SELECT pg_terminate_backend($1)', [first]);
  const second = await waitUntil('a new reserved connection', () => {
    const pid = lifeline.pid();
    return pid !== null && pid !== first ? pid : undefined;
  });
  const alive = await stateQuery(db.url, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1', [second]);
  assert.equal(alive.length, 1);
});

test('when new connections are refused (53300), statements and transactions run on the reserved connection, one at a time', async () => {
  const lifeline = createLifeline(limitedUrl, logger, { applicationName: 'pgsessions' });
  closers.push(() => lifeline.close());
  assert.equal(await lifeline.open(), true);
  const pool = createPool(limitedUrl, logger, { max: 4, lifeline });
  closers.push(() => pool.end());

  const routed = await queryRouted(pool, 'SELECT pg_backend_pid() AS pid');
  assert.equal(routed.refused, 'server');
  assert.equal(routed.rows[0]?.pid, lifeline.pid());
  // Several at once: each waits for the one before it on the one connection.
  const many = await Promise.all(
    Array.from({ length: 5 }, (_, i) => pool.query('SELECT $1::int AS i, pg_sleep(0.05)', [i])),
  );
  assert.deepEqual(
    many.map((r) => r.rows[0].i),
    [0, 1, 2, 3, 4],
  );
  const written = await inTransaction(pool, async (client) => {
    await client.query('CREATE TEMP TABLE t (x int) ON COMMIT DROP');
    await client.query('INSERT INTO t VALUES (1), (2)');
    return (await client.query('SELECT sum(x)::int AS s FROM t')).rows[0].s;
  });
  assert.equal(written, 3);
  // Work that must not hold the reserved connection (a Slack call inside) gets the refusal instead.
  const refused = await acquire(pool, { lifeline: false }).then(
    () => null,
    (error: unknown) => error,
  );
  assert.equal(troubleOf(refused), 'full');
  await pool.end();
  await lifeline.close();
});

test('a pool without a reserved connection says full (53300), not unreachable', async () => {
  const holder = new pg.Client({ connectionString: limitedUrl });
  await holder.connect();
  closers.push(() => holder.end());
  const pool = createPool(limitedUrl, logger, { max: 1 });
  closers.push(() => pool.end());
  const error = await pool.query('SELECT 1').then(
    () => null,
    (e: unknown) => e,
  );
  assert.equal((error as { code?: string }).code, '53300');
  assert.equal(troubleOf(error), 'full');
});
