// GET /metrics and GET /healthz: on METRICS_PORT when it is set (and then /metrics no longer on PORT), and
// however often they are scraped, they ask the state database at most once per cache period. Queries are
// counted by wrapping pg's Client.query for connections to the state database (pg_stat_statements is not
// available on the test server): that sees every statement the app sends there, whatever code sends it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { sleep } from '../helpers/replies.js';
import { useTestApp } from '../helpers/use-test-app.js';

let stateDb: TestDatabase;
const CACHE_MS = 1_500;

// Every statement sent by a pg client connected to the state database.
let stateQueries = 0;
const originalQuery = pg.Client.prototype.query;

const { app } = useTestApp({
  database: 'probes',
  async prepare() {
    stateDb = await createTestDatabase('probes_state');
    const stateName = stateDb.name;
    (pg.Client.prototype as { query: unknown }).query = function (this: pg.Client, ...args: unknown[]) {
      // Statements only: not the BEGIN/SET LOCAL and COMMIT each one is wrapped in (src/postgres/statement.ts).
      const framing = typeof args[0] === 'string' && /^(BEGIN; SET LOCAL|COMMIT$|ROLLBACK$)/.test(args[0]);
      if (
        (this as unknown as { connectionParameters: { database: string } }).connectionParameters.database ===
          stateName &&
        !framing
      )
        stateQueries += 1;
      return (originalQuery as (...a: unknown[]) => unknown).apply(this, args);
    };
  },
  env: () => ({ STATE_DATABASE_URL: stateDb.url, METRICS_PORT: '0' }),
  // The outbox, the sweeper and the reserved connection's check also ask the state database: make them run
  // only once, at start-up.
  start: {
    outboxIntervalMs: 3_600_000,
    sweepIntervalMs: 3_600_000,
    lifelineHealthIntervalMs: 3_600_000,
    probeCacheMs: CACHE_MS,
  },
});

// After the fixture has stopped the app and dropped the cluster's database.
after(async () => {
  pg.Client.prototype.query = originalQuery;
  await stateDb?.drop();
});

async function get(port: number, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  return { status: res.status, body: await res.text() };
}

test('with METRICS_PORT, /metrics is served there and not on PORT; /healthz on both', async () => {
  assert.ok(app.metricsPort && app.metricsPort !== app.port, `metrics port ${app.metricsPort}`);
  const metrics = await get(app.metricsPort, '/metrics');
  assert.equal(metrics.status, 200);
  assert.match(metrics.body, /^# TYPE pgsessions_commands_total counter$/m);
  assert.match(metrics.body, /^pgsessions_audit_outbox_backlog 0$/m);
  assert.equal((await get(app.port, '/metrics')).status, 404, 'not on the port Slack reaches');
  assert.equal((await get(app.metricsPort, '/healthz')).status, 200);
  assert.equal((await get(app.port, '/healthz')).status, 200);
  assert.equal((await get(app.metricsPort, '/slack/events')).status, 404, 'the metrics port serves nothing else');
});

test('50 quick scrapes of /metrics and /healthz ask the state database at most once per cache period', async () => {
  await sleep(CACHE_MS + 200); // let earlier answers expire: the burst below starts with a fresh read
  stateQueries = 0;
  const started = Date.now();
  for (let i = 0; i < 50; i++) {
    const [m, h] = await Promise.all([get(app.metricsPort!, '/metrics'), get(app.port, '/healthz')]);
    assert.equal(m.status, 200);
    assert.equal(h.status, 200);
  }
  const elapsed = Date.now() - started;
  // One health check, one count of requests by status, one outbox backlog: per cache period started.
  const periods = Math.ceil(elapsed / CACHE_MS);
  assert.ok(stateQueries >= 1, 'the counter sees the app’s queries');
  assert.ok(
    stateQueries <= 3 * periods,
    `${stateQueries} state queries for 100 probes in ${elapsed} ms (${periods} cache periods)`,
  );

  // After the cache period, a scrape reads again (the figures are not frozen).
  await sleep(CACHE_MS + 100);
  const before = stateQueries;
  await get(app.metricsPort!, '/metrics');
  assert.equal(stateQueries - before, 2, 'requests by status and the backlog were read again');
});
