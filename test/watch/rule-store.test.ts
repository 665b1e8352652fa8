// The rule store on a real state database, raced: a match claimed by two replicas at once executes once,
// the cap holds under concurrent matches, a revoke wins against every later claim, and the two-person rule
// holds in the schema against the runtime role itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createAuditStore } from '../../src/postgres/audit-store.js';
import { createRuleStore } from '../../src/postgres/rule-store.js';
import type { RuleStorePort } from '../../src/domain/rules-service.js';
import type { Rule, RuleSpec } from '../../src/domain/rules.js';
import type { TargetSnapshot } from '../../src/domain/types.js';

let db: TestDatabase;
let pool: pg.Pool;
let store: RuleStorePort;
/** A second replica: its own pool on the same state database. */
let otherPool: pg.Pool;
let other: RuleStorePort;

before(async () => {
  db = await createTestDatabase('rstore');
  pool = new pg.Pool({ connectionString: db.url, max: 6 });
  otherPool = new pg.Pool({ connectionString: db.url, max: 6 });
  await migrate(pool);
  store = createRuleStore(pool, createAuditStore(pool).appendIn);
  other = createRuleStore(otherPool, createAuditStore(otherPool).appendIn);
});
after(async () => {
  await pool?.end();
  await otherPool?.end();
  await db?.drop();
});

const spec = (over: Partial<RuleSpec> = {}): RuleSpec => ({
  action: 'cancel',
  cause: 'lock-queue-head',
  filters: { application: 'rails-migrate' },
  thresholds: { waitingSeconds: 5 },
  lifetimeSeconds: 3600,
  maxExecutions: 5,
  dryRun: false,
  reason: 'deploy',
  ...over,
});

async function approved(over: Partial<RuleSpec> = {}): Promise<Rule> {
  const rule = await store.create({ cluster: 'c1', spec: spec(over), proposer: 'UA', channel: 'C1', proposalTtlSeconds: 600 });
  const decided = await store.approve(rule.id, 'UB');
  assert.ok(decided.ok);
  return decided.rule;
}

let nextPid = 1000;
function target(pid = nextPid++): TargetSnapshot {
  return {
    pid,
    backendStart: '2026-01-01T00:00:00Z',
    queryStart: '2026-01-01T00:01:00Z',
    xactStart: null,
    backendType: 'client backend',
    user: 'app',
    database: 'shop',
    application: 'rails-migrate',
    client: null,
    state: 'active',
    query: 'ALTER TABLE orders ADD COLUMN x int',
  };
}
const last = (t: TargetSnapshot) => ({ at: new Date().toISOString(), pid: t.pid, query: t.query, outcome: 'claimed' });

test('the proposer cannot approve, in the store and in the schema', async () => {
  const rule = await store.create({ cluster: 'c1', spec: spec(), proposer: 'UA', channel: 'C1', proposalTtlSeconds: 600 });
  const self = await store.approve(rule.id, 'UA');
  assert.equal(self.ok, false);
  assert.equal(!self.ok && self.code, 'self_approval');
  // The runtime role writing the row directly is stopped by the CHECK.
  await assert.rejects(pool.query("UPDATE pgsessions.rules SET approver = proposer, status = 'approved', expires_at = now() + interval '1 hour' WHERE id = $1", [rule.id]), /rules_two_people/);
});

test('two replicas claiming the same match: exactly one executes it', async () => {
  const rule = await approved();
  const t = target();
  const claims = await Promise.all([store.claim(rule, t, last(t)), other.claim(rule, t, last(t)), store.claim(rule, t, last(t)), other.claim(rule, t, last(t))]);
  assert.equal(claims.filter(Boolean).length, 1);
  const { rows } = await pool.query('SELECT used FROM pgsessions.rules WHERE id = $1', [rule.id]);
  assert.equal(rows[0].used, 1, 'counted once');
  // After a restart the same statement is still claimed: never again.
  assert.equal(await store.claim(rule, t, last(t)), null);
});

test('the cap holds under concurrent matches from two replicas', async () => {
  const rule = await approved({ maxExecutions: 3 });
  const targets = Array.from({ length: 12 }, () => target());
  const claims = await Promise.all(targets.map((t, i) => (i % 2 ? store : other).claim(rule, t, last(t))));
  assert.equal(claims.filter(Boolean).length, 3);
  const { rows } = await pool.query('SELECT used, status FROM pgsessions.rules WHERE id = $1', [rule.id]);
  assert.deepEqual(rows[0], { used: 3, status: 'exhausted' });
  const { rows: runs } = await pool.query('SELECT count(*)::int AS n FROM pgsessions.rule_executions WHERE rule_id = $1', [rule.id]);
  assert.equal(runs[0].n, 3, 'a claim that was not counted left no execution row');
});

test('revoke racing matches: once the revoke is acknowledged, no claim succeeds', async () => {
  for (let round = 0; round < 5; round++) {
    const rule = await approved({ maxExecutions: 100 });
    const racing = Array.from({ length: 6 }, () => target()).map((t) => other.claim(rule, t, last(t)));
    const revoked = await store.revoke(rule.id, 'UC');
    assert.ok(revoked.ok);
    const acknowledged = Date.now();
    await Promise.all(racing);
    for (let n = 0; n < 5; n++) {
      const t = target();
      assert.equal(await other.claim(rule, t, last(t)), null, 'no claim after the revoke');
    }
    const { rows } = await pool.query('SELECT max(claimed_at) AS last, count(*)::int AS n FROM pgsessions.rule_executions WHERE rule_id = $1', [rule.id]);
    if (rows[0].n > 0) assert.ok(new Date(rows[0].last).getTime() <= acknowledged + 5, 'every claim committed before the revoke');
  }
});

test('an expired rule claims nothing, and the sweep ends it with an audit entry', async () => {
  const rule = await approved();
  await pool.query("UPDATE pgsessions.rules SET expires_at = now() - interval '1 second' WHERE id = $1", [rule.id]);
  const t = target();
  assert.equal(await store.claim(rule, t, last(t)), null);
  const ended = await store.expireDue();
  assert.ok(ended.some((r) => r.id === rule.id && r.status === 'expired'));
  const { rows } = await pool.query("SELECT details->>'why' AS why FROM pgsessions.audit_log WHERE event = 'rule_ended' AND details->>'rule' = $1", [rule.id]);
  assert.deepEqual(rows, [{ why: 'expired' }]);
});
