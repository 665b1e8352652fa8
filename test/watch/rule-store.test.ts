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
import { ruleSummary } from '../../src/domain/rules.js';
import type { AuditEntryInput } from '../../src/domain/audit.js';
import type { RuleStorePort } from '../../src/domain/rule-service.js';
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
  const rule = await store.create({
    cluster: 'c1',
    spec: spec(over),
    proposer: 'UA',
    channel: 'C1',
    proposalTtlSeconds: 600,
  });
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
const ruleRow = async (id: string) =>
  (await pool.query('SELECT used, status FROM pgsessions.rules WHERE id = $1', [id])).rows[0] as {
    used: number;
    status: string;
  };
const audits = async (id: string) =>
  (await pool.query("SELECT event FROM pgsessions.audit_log WHERE details->>'rule' = $1 ORDER BY seq", [id])).rows.map(
    (r: { event: string }) => r.event,
  );
const executed = (rule: Rule): AuditEntryInput => ({
  event: 'rule_executed',
  actor: null,
  cluster: rule.cluster,
  details: {
    ...ruleSummary(rule),
    approver: rule.approver,
    dryRun: false,
    used: rule.used,
    target: target(),
    incident: 'k',
    result: { outcomes: [] },
  },
});
const interrupted = (rule: Rule): AuditEntryInput => ({
  event: 'rule_executed',
  actor: null,
  cluster: rule.cluster,
  details: {
    ...ruleSummary(rule),
    approver: rule.approver,
    dryRun: false,
    used: rule.used,
    target: target(),
    incident: 'k',
    result: { outcomes: [], interrupted: true },
  },
});

test('the proposer cannot approve, in the store and in the schema', async () => {
  const rule = await store.create({
    cluster: 'c1',
    spec: spec(),
    proposer: 'UA',
    channel: 'C1',
    proposalTtlSeconds: 600,
  });
  const self = await store.approve(rule.id, 'UA');
  assert.equal(self.ok, false);
  assert.equal(!self.ok && self.code, 'self_approval');
  // The runtime role writing the row directly is stopped by the CHECK.
  await assert.rejects(
    pool.query(
      "UPDATE pgsessions.rules SET approver = proposer, status = 'approved', approved_at = now(), expires_at = now() + interval '1 hour' WHERE id = $1",
      [rule.id],
    ),
    /rules_two_people/,
  );
});

test('two replicas claiming the same match: exactly one executes it', async () => {
  const rule = await approved();
  const t = target();
  const claims = await Promise.all([
    store.claim(rule, t, last(t)),
    other.claim(rule, t, last(t)),
    store.claim(rule, t, last(t)),
    other.claim(rule, t, last(t)),
  ]);
  assert.equal(claims.filter(Boolean).length, 1);
  const { rows } = await pool.query('SELECT used FROM pgsessions.rules WHERE id = $1', [rule.id]);
  assert.equal(rows[0].used, 1, 'counted once');
  // After a restart the same statement is still claimed: never again.
  assert.equal(await store.claim(rule, t, last(t)), null);
});

test('the cap holds under concurrent matches from two replicas: claims reserve, the rule ends only once they are finished', async () => {
  const rule = await approved({ maxExecutions: 3 });
  const targets = Array.from({ length: 12 }, () => target());
  const claims = await Promise.all(targets.map((t, i) => (i % 2 ? store : other).claim(rule, t, last(t))));
  const won = claims.filter((c): c is NonNullable<typeof c> => c !== null);
  assert.equal(won.length, 3);
  assert.deepEqual(
    await ruleRow(rule.id),
    { used: 3, status: 'approved' },
    'reserved, not ended: an outcome may still give a slot back',
  );
  const { rows: runs } = await pool.query(
    'SELECT count(*)::int AS n FROM pgsessions.rule_executions WHERE rule_id = $1',
    [rule.id],
  );
  assert.equal(runs[0].n, 3, 'a claim that got no slot left no execution row');
  // All three signalled, finished by both replicas at once: the rule ends exactly once, whoever finishes last.
  await Promise.all(
    won.map((c, i) =>
      (i % 2 ? store : other).finish(c.executionId, 'cancelled', { ...last(target()), outcome: 'cancelled' }, executed),
    ),
  );
  assert.deepEqual(await ruleRow(rule.id), { used: 3, status: 'exhausted' });
  assert.deepEqual(await audits(rule.id), [
    'rule_proposed',
    'rule_approved',
    'rule_executed',
    'rule_executed',
    'rule_executed',
    'rule_ended',
  ]);
  const t = target();
  assert.equal(await store.claim(rule, t, last(t)), null, 'nothing is claimed past the cap');
});

test('finishing the last executions in parallel, over many rounds, never misses the end of the rule', async () => {
  for (let round = 0; round < 8; round++) {
    const rule = await approved({ maxExecutions: 2 });
    const [a, b] = [target(), target()];
    const ca = await store.claim(rule, a, last(a));
    const cb = await other.claim(rule, b, last(b));
    assert.ok(ca && cb);
    await Promise.all([
      store.finish(ca.executionId, 'terminated', last(a), executed),
      other.finish(cb.executionId, 'error', last(b), executed),
    ]);
    assert.deepEqual(await ruleRow(rule.id), { used: 2, status: 'exhausted' }, `round ${round}`);
    assert.equal((await audits(rule.id)).filter((e) => e === 'rule_ended').length, 1, 'ended once');
  }
});

test('an outcome that signalled nothing gives its slot back and the rule goes on; signalled, unknown and dry-run outcomes keep it', async () => {
  const rule = await approved({ maxExecutions: 1 });
  for (const outcome of ['gone', 'refused', 'permission_denied'] as const) {
    const t = target();
    const c = await store.claim(rule, t, last(t));
    assert.ok(c, `a slot is free again before ${outcome}`);
    const t2 = target();
    assert.equal(await other.claim(rule, t2, last(t2)), null, 'the one slot is reserved while its signal is out');
    const after = await store.finish(c.executionId, outcome, { ...last(t), outcome }, executed);
    assert.equal(after.used, 0, outcome);
    assert.equal(after.status, 'approved', outcome);
    assert.equal(after.last?.outcome, outcome);
  }
  for (const outcome of ['cancelled', 'terminated', 'still_running', 'error', 'dry_run'] as const) {
    const r = await approved({ maxExecutions: 1, dryRun: outcome === 'dry_run' });
    const t = target();
    const c = await store.claim(r, t, last(t));
    assert.ok(c);
    const after = await store.finish(c.executionId, outcome, { ...last(t), outcome }, executed);
    assert.deepEqual([after.used, after.status], [1, 'exhausted'], outcome);
  }
  // The schema's own cap never broke on the way.
  const { rows } = await pool.query(
    'SELECT count(*)::int AS n FROM pgsessions.rules WHERE used < 0 OR used > max_executions',
  );
  assert.equal(rows[0].n, 0);
});

test('a finish recorded twice (a late replica) counts and audits once', async () => {
  const rule = await approved({ maxExecutions: 2 });
  const t = target();
  const c = await store.claim(rule, t, last(t));
  assert.ok(c);
  await Promise.all([
    store.finish(c.executionId, 'gone', last(t), executed),
    other.finish(c.executionId, 'gone', last(t), executed),
  ]);
  assert.deepEqual(await ruleRow(rule.id), { used: 0, status: 'approved' }, 'one give-back, not two');
  assert.deepEqual(await audits(rule.id), ['rule_proposed', 'rule_approved', 'rule_executed']);
});

test('an orphaned claim is reconciled once by replicas sweeping together: interrupted, slot kept, audited, the rule ended at its cap', async () => {
  const rule = await approved({ maxExecutions: 1 });
  const t = target();
  const c = await store.claim(rule, t, last(t), 'lock-queue-head:orders');
  assert.ok(c);
  assert.deepEqual(await store.stale(60), [], 'a fresh claim is not stale');
  await pool.query("UPDATE pgsessions.rule_executions SET claimed_at = now() - interval '2 minutes' WHERE id = $1", [
    c.executionId,
  ]);
  const [stale] = await store.stale(60);
  assert.equal(stale?.executionId, c.executionId);
  assert.equal(stale?.incident, 'lock-queue-head:orders');
  assert.equal(stale?.target.pid, t.pid);
  const results = await Promise.all(
    Array.from({ length: 6 }, (_, i) =>
      (i % 2 ? store : other).interrupt(c.executionId, 60, { ...last(t), outcome: 'interrupted' }, interrupted),
    ),
  );
  assert.equal(results.filter(Boolean).length, 1, 'one replica reconciles it');
  const { rows } = await pool.query('SELECT outcome FROM pgsessions.rule_executions WHERE rule_id = $1', [rule.id]);
  assert.deepEqual(rows, [{ outcome: 'interrupted' }]);
  assert.deepEqual(await ruleRow(rule.id), { used: 1, status: 'exhausted' }, 'it may have acted: it counts');
  assert.deepEqual(await audits(rule.id), ['rule_proposed', 'rule_approved', 'rule_executed', 'rule_ended']);
  // The replica that claimed it, back from a long stall, cannot undo the reconciliation; what it saw is added.
  await store.finish(c.executionId, 'gone', last(t), executed);
  assert.deepEqual(await ruleRow(rule.id), { used: 1, status: 'exhausted' });
  assert.deepEqual(await audits(rule.id), [
    'rule_proposed',
    'rule_approved',
    'rule_executed',
    'rule_ended',
    'rule_executed',
  ]);
  const again = await pool.query('SELECT outcome FROM pgsessions.rule_executions WHERE id = $1', [c.executionId]);
  assert.equal(again.rows[0].outcome, 'interrupted');
  assert.equal(await store.claim(rule, t, last(t)), null, 'and the statement is never claimed again');
});

test('a claim whose recorded target was rewritten with junk (the state DB role) is still reconciled, by the identity in its typed columns', async () => {
  const rule = await approved({ maxExecutions: 2 });
  const t = target();
  const c = await store.claim(rule, t, last(t), 'k1');
  assert.ok(c);
  // The runtime role may INSERT a claim with any target; the owner rewrites this one to play such a row.
  await pool.query(
    `UPDATE pgsessions.rule_executions SET target = '{"pid": "1; DROP TABLE x", "user": 42, "query": ["x"], "incident": {}}'::jsonb, claimed_at = now() - interval '2 minutes' WHERE id = $1`,
    [c.executionId],
  );
  const stale = (await store.stale(60)).find((s) => s.executionId === c.executionId);
  assert.ok(stale);
  assert.equal(stale.target.pid, t.pid);
  assert.equal(Date.parse(stale.target.backendStart), Date.parse(t.backendStart));
  assert.equal(Date.parse(stale.target.queryStart!), Date.parse(t.queryStart!));
  assert.deepEqual([stale.target.user, stale.target.query, stale.incident], [null, null, '']);
  assert.ok(await store.interrupt(c.executionId, 60, { ...last(t), outcome: 'interrupted' }, interrupted));
  assert.deepEqual(await ruleRow(rule.id), { used: 1, status: 'approved' });
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
    const { rows } = await pool.query(
      'SELECT max(claimed_at) AS last, count(*)::int AS n FROM pgsessions.rule_executions WHERE rule_id = $1',
      [rule.id],
    );
    if (rows[0].n > 0)
      assert.ok(new Date(rows[0].last).getTime() <= acknowledged + 5, 'every claim committed before the revoke');
  }
});

test('an expired rule claims nothing, and the sweep ends it with an audit entry', async () => {
  const rule = await approved();
  await pool.query("UPDATE pgsessions.rules SET expires_at = now() - interval '1 second' WHERE id = $1", [rule.id]);
  const t = target();
  assert.equal(await store.claim(rule, t, last(t)), null);
  const ended = await store.expireDue();
  assert.ok(ended.some((r) => r.id === rule.id && r.status === 'expired'));
  const { rows } = await pool.query(
    "SELECT details->>'why' AS why FROM pgsessions.audit_log WHERE event = 'rule_ended' AND details->>'rule' = $1",
    [rule.id],
  );
  assert.deepEqual(rows, [{ why: 'expired' }]);
});

test('a claim past the cap is refused by claim() itself: it resolves to null, throws nothing, and leaves no execution row', async () => {
  const rule = await approved({ maxExecutions: 2 });
  for (let i = 0; i < 2; i++) {
    const t = target();
    assert.ok(await store.claim(rule, t, last(t)), `claim ${i + 1} of 2`);
  }
  // Both slots reserved, neither finished: the rule is still approved, used = max. The next claim must be a
  // value, not the rules_cap CHECK constraint throwing (which a claim without `used < max_executions` hits).
  assert.deepEqual(await ruleRow(rule.id), { used: 2, status: 'approved' });
  const t = target();
  const outcome = await store.claim(rule, t, last(t)).then(
    (value) => ({ value }),
    (error: Error) => ({ error: error.message }),
  );
  assert.deepEqual(outcome, { value: null });
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM pgsessions.rule_executions WHERE rule_id = $1', [
    rule.id,
  ]);
  assert.equal(rows[0].n, 2);
});
