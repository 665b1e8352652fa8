// PGSESSIONS_RETENTION on a real state database: cleared incidents and the executions of ended rules older
// than the retention are pruned, at start-up and then hourly; open incidents, live rules' executions and
// every audit entry stay whatever their age.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createLogger } from '../../src/logger.js';
import { createLeadership } from '../../src/watch/leadership.js';
import pg from 'pg';
import { clusterDownIncident } from '../../src/domain/watch.js';
import { createIncidentStore } from '../../src/postgres/incident-store.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createRetentionStore } from '../../src/postgres/retention-store.js';
import { baseEnv, startTestApp } from '../helpers/app.js';
import { useTestApp } from '../helpers/use-test-app.js';

let pool: pg.Pool;
const DAY = 86_400;

// A migrated state database and the stand-in; one test starts its own app.
const { db, slack } = useTestApp({
  database: 'retention',
  app: false,
  async prepare(database) {
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool);
  },
  async teardown() {
    await pool?.end();
  },
});

/** A cleared (or open) incident whose clearing is `ageDays` old and already shown. */
async function incident(name: string, status: 'cleared' | 'open', ageDays: number): Promise<string> {
  const store = createIncidentStore(pool);
  const leadership = createLeadership(db.url, createLogger('silent'));
  try {
    const fence = await leadership.lead(name);
    assert.ok(fence, `leads ${name}`);
    await store.open(clusterDownIncident(name, 'refused'), 'CWATCH', fence);
  } finally {
    await leadership.close();
  }
  const { rows } = await pool.query<{ id: string }>(
    `UPDATE pgsessions.incidents SET status = $2, cleared_at = CASE WHEN $2 = 'cleared' THEN now() - make_interval(days => $3) END,
       opened_at = now() - make_interval(days => $3 + 1), shown_version = version
     WHERE cluster = $1 RETURNING id::text`,
    [name, status, ageDays],
  );
  return rows[0]!.id;
}

/** A rule in `status` with one execution finished `ageDays` ago. */
async function execution(status: 'expired' | 'approved', ageDays: number): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `WITH r AS (
       INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, status, proposer, approver, channel, proposal_expires_at, lifetime_seconds, approved_at, expires_at, max_executions)
       VALUES ('c', '{}', 'cancel', 'active', 'r', $1, 'UA', 'UB', 'C1', now(), 3600, now(), now() + interval '1 hour', 5) RETURNING id)
     INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target, outcome, claimed_at, finished_at)
     SELECT id, 1, now(), now(), false, '{}', 'cancelled', now() - make_interval(days => $2), now() - make_interval(days => $2) FROM r
     RETURNING id::text`,
    [status, ageDays],
  );
  return rows[0]!.id;
}

const exists = async (table: string, id: string) =>
  (await pool.query(`SELECT 1 FROM pgsessions.${table} WHERE id = $1`, [id])).rowCount === 1;

test('prune removes what is past the retention and nothing else', async () => {
  const old = await incident('old', 'cleared', 40);
  const recent = await incident('recent', 'cleared', 3);
  const open = await incident('open', 'open', 40);
  const oldEnded = await execution('expired', 40);
  const oldLive = await execution('approved', 40);
  const recentEnded = await execution('expired', 3);
  await pool
    .query(
      `INSERT INTO pgsessions.audit_log (at, event, details, prev_hash, hash) SELECT now() - interval '400 days', 'refused', '{"why":"x"}', repeat('0', 64), repeat('1', 64)`,
    )
    .catch(() => undefined);
  const auditBefore = (await pool.query('SELECT count(*)::int AS n FROM pgsessions.audit_log')).rows[0].n;

  const pruned = await createRetentionStore(pool).prune(30 * DAY);
  assert.deepEqual(pruned, { incidents: 1, ruleExecutions: 1 });
  assert.equal(await exists('incidents', old), false);
  assert.equal(await exists('incidents', recent), true);
  assert.equal(await exists('incidents', open), true, 'an open incident stays whatever its age');
  assert.equal(await exists('rule_executions', oldEnded), false);
  assert.equal(await exists('rule_executions', oldLive), true, "a live rule's executions are its claims: kept");
  assert.equal(await exists('rule_executions', recentEnded), true);
  assert.equal(
    (await pool.query('SELECT count(*)::int AS n FROM pgsessions.audit_log')).rows[0].n,
    auditBefore,
    'audit entries are never pruned',
  );
});

test('the app prunes at start-up with PGSESSIONS_RETENTION', async () => {
  const old = await incident('startup-old', 'cleared', 5);
  const kept = await incident('startup-kept', 'cleared', 1);
  const app = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_RETENTION: '2d' }));
  try {
    const deadline = Date.now() + 15_000;
    while (await exists('incidents', old)) {
      if (Date.now() > deadline) throw new Error('the old incident was not pruned');
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.equal(await exists('incidents', kept), true);
    assert.match(app.logs.join(''), /pruned incidents and rule executions past PGSESSIONS_RETENTION/);
  } finally {
    await app.stop();
  }
});

test('the clear-reason lookups can use their indexes (migration 008) instead of scanning every request and execution', async () => {
  const { SQL_EXECUTED_ON, SQL_RULE_EXECUTED_ON, SQL_STORM_REQUEST } = await import(
    '../../src/postgres/incident-sql.js'
  );
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await client.query('SET LOCAL enable_seqscan = off'); // tiny tables: ask whether an index fits at all
    const plan = async (sql: string, params: unknown[]) =>
      (await client.query(`EXPLAIN ${sql}`, params)).rows
        .map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN'])
        .join('\n');
    const at = '2026-01-01T00:00:00Z';
    assert.match(await plan(SQL_EXECUTED_ON, ['c', 1, at]), /requests_cluster_decided_idx/);
    assert.match(await plan(SQL_STORM_REQUEST, ['c', '[]']), /requests_cluster_decided_idx/);
    assert.match(await plan(SQL_RULE_EXECUTED_ON, ['c', 1, at, at]), /rule_executions_session_idx/);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
});
