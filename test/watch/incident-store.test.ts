// The incident store on a real state database: one row per cause, reopened on the same message when it
// comes back soon, a new life when it comes back later; a message claimed by one watcher at a time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { migrate } from '../../src/postgres/migrate.js';
import type { IncidentStorePort as IncidentStore } from '../../src/domain/ports.js';
import { createIncidentStore } from '../../src/postgres/incident-store.js';
import { clusterDownIncident } from '../../src/domain/watch.js';
import { createLeadership, type Leadership } from '../../src/watch/leadership.js';
import type { Fence } from '../../src/domain/lease.js';
import { createLogger } from '../../src/logger.js';

let db: TestDatabase;
let pool: pg.Pool;
let store: IncidentStore;
let leadership: Leadership;
/** The writes are the watcher's: it leads the cluster (a lease in the state database). */
const lead = async (cluster: string): Promise<Fence> => {
  const fence = await leadership.lead(cluster);
  assert.ok(fence, `leads ${cluster}`);
  return fence;
};

before(async () => {
  db = await createTestDatabase('istore');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  store = createIncidentStore(pool);
  leadership = createLeadership(db.url, createLogger('silent'));
});
after(async () => {
  await leadership?.close();
  await pool?.end();
  await db?.drop();
});

test('an incident is opened once, however often it is seen, and its message is claimed by one watcher', async () => {
  const incident = clusterDownIncident('c1', 'refused');
  const fence = await lead('c1');
  await store.open(incident, 'CWATCH', fence);
  await store.open(incident, 'CWATCH', fence); // a second watcher, or the same one again: no second row
  const [row, ...rest] = await store.live('c1', 30);
  assert.equal(rest.length, 0);
  assert.equal(row!.status, 'open');
  const claims = await Promise.all([
    store.claimPost(row!.id, fence),
    store.claimPost(row!.id, fence),
    store.claimPost(row!.id, fence),
  ]);
  assert.equal(claims.filter(Boolean).length, 1, 'exactly one claim wins');
  await store.posted(row!.id, '111.222', row!.version, 'open');
  assert.equal(await store.claimPost(row!.id, fence), null, 'a posted message is never claimed again');
});

test('a cleared incident that comes back soon reopens its message; one that comes back later gets a new one', async () => {
  const incident = clusterDownIncident('c2', 'refused');
  const fence = await lead('c2');
  await store.open(incident, 'CWATCH', fence);
  const [first] = await store.live('c2', 30);
  await store.posted(first!.id, '333.444', first!.version, 'open');
  await store.clear(first!.id, { kind: 'back' }, fence);
  await store.open(incident, 'CWATCH', fence);
  const [again] = (await store.live('c2', 30)).filter((r) => r.status === 'open');
  assert.equal(again!.id, first!.id);
  assert.equal(again!.messageTs, '333.444', 'the same message');
  assert.equal(again!.openedAt, first!.openedAt);

  await store.clear(first!.id, { kind: 'back' }, fence);
  await pool.query(`UPDATE pgsessions.incidents SET cleared_at = now() - interval '10 minutes' WHERE id = $1`, [
    first!.id,
  ]);
  await store.open(incident, 'CWATCH', fence);
  const [later] = (await store.live('c2', 30)).filter((r) => r.status === 'open');
  assert.equal(later!.messageTs, null, 'a new message for a new life');
  assert.equal(later!.shownVersion, 0);
});

test('a Retry-After keeps the message unclaimed until it has passed', async () => {
  const incident = clusterDownIncident('c3', 'refused');
  const fence = await lead('c3');
  await store.open(incident, 'CWATCH', fence);
  const [row] = await store.live('c3', 30);
  assert.ok(await store.claimPost(row!.id, fence));
  await store.postFailed(row!.id, 60);
  assert.equal(await store.claimPost(row!.id, fence), null);
  assert.equal((await store.live('c3', 30))[0]!.postDue, false);
});

test('a snooze needs a real incident id; junk changes nothing', async () => {
  assert.equal(await store.snooze("x'; DROP TABLE pgsessions.incidents; --", 30, 'U1'), null);
  assert.equal(await store.snooze('00000000-0000-4000-8000-000000000000', 30, 'U1'), null);
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM pgsessions.incidents');
  assert.ok(rows[0].n >= 3);
});

test('the rule that relieved a session is read from the state database: a terminate, or a cancel of that very statement, never a dry run or a refusal', async () => {
  const { rows } = await pool.query(
    `INSERT INTO pgsessions.rules (cluster, spec, action, cause, dry_run, reason, proposer, approver, status, channel, proposal_expires_at, lifetime_seconds, max_executions, approved_at, expires_at)
     VALUES ('c9', '{}'::jsonb, 'cancel', 'lock-queue-head', $1, 'r', 'UA', 'UB', 'approved', 'C', now(), 60, 5, now(), now() + interval '1 minute')
     RETURNING id::text AS id`,
    [false],
  );
  const rule = rows[0].id as string;
  const run = (pid: number, queryStart: string, outcome: string, dryRun = false) =>
    pool.query(
      `INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target, outcome, finished_at)
       VALUES ($1, $2, '2026-01-01T00:00:00Z', $3::timestamptz, $4, '{}'::jsonb, $5, now())`,
      [rule, pid, queryStart, dryRun, outcome],
    );
  const bs = '2026-01-01 00:00:00+00';
  await run(1, '2026-01-01T00:01:00Z', 'cancelled');
  assert.deepEqual(await store.ruleExecutedOn('c9', 1, bs, '2026-01-01T00:01:00.000Z'), {
    ruleId: rule,
    outcome: 'cancelled',
    proposer: 'UA',
    approver: 'UB',
  });
  assert.equal(
    await store.ruleExecutedOn('c9', 1, bs, '2026-01-01T00:02:00Z'),
    null,
    'a later statement of the session was not cancelled',
  );
  assert.equal(await store.ruleExecutedOn('c8', 1, bs, '2026-01-01T00:01:00Z'), null, 'another cluster');
  await run(2, '-infinity', 'terminated');
  assert.equal((await store.ruleExecutedOn('c9', 2, bs, null))?.outcome, 'terminated');
  await run(3, '2026-01-01T00:01:00Z', 'permission_denied');
  assert.equal(await store.ruleExecutedOn('c9', 3, bs, '2026-01-01T00:01:00Z'), null);
  await run(4, '2026-01-01T00:01:00Z', 'cancelled', true);
  assert.equal(await store.ruleExecutedOn('c9', 4, bs, '2026-01-01T00:01:00Z'), null, 'a dry run relieved nothing');
});
