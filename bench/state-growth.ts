// `npm run bench:growth`: the state database after 24 h of watching 20 clusters at a 10 s interval, written
// through the real stores on an embedded PostgreSQL, then pg_total_relation_size per table. Simulated load
// (per cluster per day, a busy but plausible fleet): an incident every 30 min lasting 5 min (30 looks, each
// changing it: a refresh), its alert posted once, updated every 30 s, cleared; one standing-approval execution
// an hour (claimed, finished, audited); a snooze every 6 h (audited). Prints figures; asserts nothing.
// Then PGSESSIONS_RETENTION's prune, run as if 31 days had passed, shows what a month leaves behind.
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/playground/embedded-postgres.js';
import { migrate } from '../src/postgres/migrate.js';
import { createIncidentStore } from '../src/postgres/incident-store.js';
import { createRuleStore } from '../src/postgres/rule-store.js';
import { createStateStore } from '../src/postgres/state-store.js';
import { createRetentionStore } from '../src/postgres/retention-store.js';
import type { Incident } from '../src/domain/watch.js';
import type { AuditEntryInput } from '../src/domain/audit.js';
import { table } from './stats.js';
import { createLeadership } from '../src/watch/leadership.js';
import { createLogger } from '../src/logger.js';

const CLUSTERS = Number(process.env.BENCH_GROWTH_CLUSTERS ?? 20);
const INCIDENTS_PER_DAY = 48;
const LOOKS_PER_INCIDENT = 30;
const UPDATES_PER_INCIDENT = 10;
const EXECUTIONS_PER_DAY = 24;
const SNOOZES_PER_DAY = 4;
const log = (message: string) => console.error(`[bench:growth ${new Date().toISOString().slice(11, 19)}] ${message}`);

const QUERY = `UPDATE orders SET status = $1, updated_at = now() WHERE customer_id = $2 AND status IN ('new', 'paid') /* app:checkout controller:orders#update */`;

function incident(cluster: string, n: number, look: number): Incident {
  const backendStart = new Date(Date.UTC(2026, 0, 1, 0, n)).toISOString();
  const root = {
    pid: 10_000 + n,
    backendStart,
    queryStart: backendStart,
    xactStart: backendStart,
    user: 'checkout',
    database: 'shop',
    application: 'checkout-web',
    state: 'idle in transaction',
    queryId: '-4242424242424242',
    query: QUERY,
    ageSeconds: 30 + look * 10,
    waitSeconds: null,
  };
  return {
    key: `${cluster}|root-blocker|${root.pid}:${backendStart}`,
    cluster,
    cause: 'root-blocker',
    subject: `${root.pid}:${backendStart}`,
    root,
    waiting: 3 + look,
    oldestWaitSeconds: 10 + look * 10,
    applications: ['checkout-web', 'billing-worker', 'admin'],
    lock: { locktype: 'relation', mode: 'RowExclusiveLock', relation: 'public.orders' } as Incident['lock'],
    behind: null,
    members: [],
    connections: null,
    lagBytes: null,
    error: null,
  };
}

async function sizes(pool: pg.Pool): Promise<Array<{ table: string; rows: number; bytes: number }>> {
  const { rows } = await pool.query<{ table: string; rows: string; bytes: string }>(`
    SELECT c.relname AS table, c.reltuples::bigint AS rows, pg_total_relation_size(c.oid) AS bytes
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'pgsessions' AND c.relkind = 'r' ORDER BY pg_total_relation_size(c.oid) DESC`);
  return rows.map((r) => ({ table: r.table, rows: Number(r.rows), bytes: Number(r.bytes) }));
}

const kb = (bytes: number) => `${(bytes / 1024).toFixed(0)} kB`;

const server = await startEmbeddedPostgres();
const pool = new pg.Pool({ connectionString: server.url, max: 4 });
pool.on('error', () => undefined); // the server stopping at the end ends idle connections
// The watcher writes as the leader of each cluster: every write carries its lease's fencing token.
const leadership = createLeadership(server.url, createLogger('silent'));
try {
  await migrate(pool);
  const state = createStateStore(pool);
  const incidents = createIncidentStore(pool);
  const rules = createRuleStore(pool, state.appendIn);
  const started = Date.now();
  for (let c = 0; c < CLUSTERS; c++) {
    const cluster = `cluster-${String(c).padStart(2, '0')}`;
    const fence = await leadership.lead(cluster);
    if (!fence) throw new Error(`could not lead ${cluster}`);
    for (let n = 0; n < INCIDENTS_PER_DAY; n++) {
      await incidents.open(incident(cluster, n, 0), 'CWATCH', fence);
      const id = (await incidents.live(cluster, 30)).find((r) => r.key === incident(cluster, n, 0).key)!.id;
      if ((await incidents.claimPost(id, fence)) !== null)
        await incidents.posted(id, `${1_700_000_000 + n}.000100`, 1, 'open');
      for (let look = 1; look < LOOKS_PER_INCIDENT; look++) {
        await incidents.refresh(id, incident(cluster, n, look), fence);
        if (look % Math.ceil(LOOKS_PER_INCIDENT / UPDATES_PER_INCIDENT) === 0)
          await incidents.shown(id, look + 1, 'open');
      }
      await incidents.clear(id, { kind: 'resolved' }, fence);
      await incidents.shown(id, LOOKS_PER_INCIDENT + 1, 'cleared');
    }
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, status, proposer, approver, channel, proposal_expires_at, lifetime_seconds, approved_at, expires_at, max_executions)
       VALUES ($1, $2, 'cancel', 'root-blocker', 'deploy window', 'approved', 'UA', 'UB', 'C1', now(), 86400, now(), now() + interval '1 day', 1000) RETURNING id::text`,
      [
        cluster,
        JSON.stringify({
          action: 'cancel',
          cause: 'root-blocker',
          filters: { application: 'checkout-web' },
          thresholds: {},
          lifetimeSeconds: 86_400,
          maxExecutions: 1000,
          dryRun: false,
          reason: 'deploy window',
        }),
      ],
    );
    const rule = (await rules.get(rows[0]!.id))!;
    for (let e = 0; e < EXECUTIONS_PER_DAY; e++) {
      const target = { ...incident(cluster, e, 0).root!, pid: 20_000 + e, backendType: 'client backend' };
      const claimed = await rules.claim(
        rule,
        target as never,
        { at: new Date().toISOString(), pid: target.pid, query: QUERY, outcome: 'claimed' },
        `${cluster}|root-blocker|x`,
      );
      if (!claimed) continue;
      const last = { at: new Date().toISOString(), pid: target.pid, query: QUERY, outcome: 'cancelled' };
      await rules.finish(
        claimed.executionId,
        'cancelled',
        last,
        (r) =>
          ({
            event: 'rule_executed',
            actor: null,
            cluster,
            details: {
              rule: r.id,
              text: 'cancel app:checkout-web',
              words: 'cancel checkout-web',
              reason: 'deploy window',
              proposer: 'UA',
              approver: 'UB',
              dryRun: false,
              used: r.used,
              target,
              incident: 'x',
              result: { outcomes: [{ pid: target.pid, outcome: 'cancelled' }] },
            },
          }) as unknown as AuditEntryInput,
      );
    }
    for (let s = 0; s < SNOOZES_PER_DAY; s++) {
      await state.appendAudit({
        event: 'snoozed',
        actor: 'UONCALL',
        cluster,
        details: { incident: '5f0c3e2a-0000-4000-8000-000000000000', cause: 'root-blocker', minutes: 30 },
      } as AuditEntryInput);
    }
    log(
      `${cluster}: ${INCIDENTS_PER_DAY} incidents × ${LOOKS_PER_INCIDENT} looks, ${EXECUTIONS_PER_DAY} rule executions, ${SNOOZES_PER_DAY} snoozes`,
    );
  }
  const writeSeconds = (Date.now() - started) / 1000;
  await pool.query('ANALYZE');
  const before = await sizes(pool);
  await pool.query('VACUUM ANALYZE');
  const vacuumed = await sizes(pool);
  // A month later: everything written above is past a 30-day retention (incidents and the rule, now ended).
  await pool.query(`UPDATE pgsessions.incidents SET cleared_at = cleared_at - interval '31 days'`);
  await pool.query(`UPDATE pgsessions.rules SET status = 'expired', ended_at = now()`);
  await pool.query(`UPDATE pgsessions.rule_executions SET finished_at = finished_at - interval '31 days'`);
  const pruned = await createRetentionStore(pool).prune(30 * 86_400);
  await pool.query('VACUUM ANALYZE');
  const after = await sizes(pool);

  const by = (list: typeof before) => new Map(list.map((r) => [r.table, r]));
  const [v, a] = [by(vacuumed), by(after)];
  console.log(
    `\nState database after 24 h of watching ${CLUSTERS} clusters at 10 s (written in ${writeSeconds.toFixed(1)} s)\n`,
  );
  console.log(
    table([
      ['table', 'rows', 'size (as written)', 'size (after VACUUM)', 'after a 30d prune'],
      ...before.map((r) => [
        r.table,
        String(v.get(r.table)?.rows ?? r.rows),
        kb(r.bytes),
        kb(v.get(r.table)?.bytes ?? 0),
        kb(a.get(r.table)?.bytes ?? 0),
      ]),
    ]),
  );
  const total = (list: typeof before) => list.reduce((sum, r) => sum + r.bytes, 0);
  console.log(
    `\ntotal: ${kb(total(before))} as written, ${kb(total(vacuumed))} after VACUUM; the prune removed ${pruned.incidents} incidents and ${pruned.ruleExecutions} rule executions (${kb(total(after))} left: audit entries are never pruned)`,
  );
} finally {
  await leadership.close();
  await pool.end();
  await server.stop();
}
