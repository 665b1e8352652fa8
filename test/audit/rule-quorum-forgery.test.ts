// Quorum for rules (issue 16, migration 016) played as the attacker who holds only the state database's
// runtime password: production set-up (owner role migrates, runtime role runs the app, PGSESSIONS_AUDIT_KEY
// set). The role may insert approval rows and write a rule's status and binding; it may not change a quorum.
// A forged approval is not counted (tampering_detected), an approval written without the key never acts, and
// a quorum lowered behind the app's back breaks the rule's seal: the matching session is never touched.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Rule, RuleSpec } from '../../src/domain/rules.js';
import type { RuleStorePort } from '../../src/domain/rule-service.js';
import { createRuleStore } from '../../src/postgres/rule-store.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { sessionTracker, sleep, stateQuery } from '../helpers/approval-flow.js';
import { waitUntil } from '../helpers/rules.js';
import { idleInTransactionLockHolder, sessionAlive } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { watchEnv } from '../helpers/watch.js';
import { productionRoles } from '../helpers/production-roles.js';

const KEY = randomBytes(32).toString('base64');
const roles = productionRoles('q');
const PROPOSER = 'UQPROP';

let runtimeUrl: string;
let runtimePool: pg.Pool;
/** The app's rule store, as a second replica runs it: the runtime role, the key. */
let store: RuleStorePort;
const sessions = sessionTracker();

/** Statements on a connection of its own, as the runtime role: the attacker's. 'done', or the database's refusal. */
async function attempt(sql: string, params: unknown[]): Promise<string> {
  const c = new pg.Client({ connectionString: runtimeUrl });
  await c.connect();
  try {
    return await c.query(sql, params).then(
      () => 'done',
      (error: Error) => error.message,
    );
  } finally {
    await c.end();
  }
}

const { db } = useTestApp({
  database: 'rulequorumatk',
  async prepare(database) {
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
    runtimeUrl = await roles.prepare(database);
    runtimePool = new pg.Pool({ connectionString: runtimeUrl, max: 3 });
    const state = createStateStore(runtimePool, { key: Buffer.from(KEY, 'utf8') });
    store = createRuleStore(runtimePool, state.appendIn, state.binder);
  },
  env: () => watchEnv({ STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_AUDIT_KEY: KEY, PGSESSIONS_QUORUM: 'terminate:2' }),
  start: { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  revokeRules: true,
  sessions,
  async teardown() {
    await runtimePool?.end();
  },
});
after(async () => {
  await roles.drop();
});

let nth = 0;
/** A terminate rule of quorum 2 on the watched cluster, for the idle transactions of an application of its own. */
async function proposed(): Promise<{ rule: Rule; application: string }> {
  const application = `quorum-atk-${++nth}`;
  const spec: RuleSpec = {
    action: 'terminate',
    cause: 'idle-in-transaction',
    filters: { application },
    thresholds: { idleSeconds: 1 },
    lifetimeSeconds: 3600,
    maxExecutions: 3,
    dryRun: false,
    reason: 'stale transactions',
  };
  const rule = await store.create({
    cluster: 'default',
    spec,
    proposer: PROPOSER,
    channel: 'CQATK',
    proposalTtlSeconds: 600,
    quorum: 2,
  });
  assert.equal(rule.quorum, 2);
  return { rule, application };
}
const victimOf = async (application: string) =>
  sessions.track(await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application }));
const status = async (id: string) =>
  (await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.rules WHERE id = $1', [id]))[0]?.status;
const tampering = (id: string, stage: string) =>
  stateQuery<{ reason: string }>(
    db.url,
    "SELECT details->>'reason' AS reason FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1 AND details->>'stage' = $2",
    [id, stage],
  );
const executions = async (id: string) =>
  (await stateQuery(db.url, 'SELECT 1 FROM pgsessions.rule_executions WHERE rule_id = $1', [id])).length;
const FAKE_MAC = `hmac-sha256:${'0'.repeat(16)}:${'0'.repeat(64)}`;

test('a forged approval row is not counted (tampering_detected), and an approval written without the key never acts', async () => {
  const { rule, application } = await proposed();
  const victim = await victimOf(application);
  assert.equal(
    await attempt('INSERT INTO pgsessions.rule_approvals (rule_id, approver, binding) VALUES ($1, $2, $3)', [
      rule.id,
      'UFORGED',
      FAKE_MAC,
    ]),
    'done',
    'the role may insert an approval row',
  );
  const decided = await store.approve(rule.id, 'UGENUINE');
  assert.ok(decided.ok);
  assert.equal(decided.rule.status, 'proposed', 'one genuine approval of two: the forged row is not counted');
  assert.deepEqual(decided.rule.approvers, ['UGENUINE']);
  assert.match((await tampering(rule.id, 'approval'))[0]?.reason ?? '', /UFORGED.*not counted/);

  // The role writes the approval itself (its trigger allows proposed -> approved), without the key.
  assert.equal(
    await attempt(
      "UPDATE pgsessions.rules SET status = 'approved', approver = 'UGENUINE', approved_at = now(), expires_at = now() + interval '1 hour', binding = $2 WHERE id = $1",
      [rule.id, FAKE_MAC],
    ),
    'done',
  );
  await waitUntil('the watcher to refuse the rule', async () => (await tampering(rule.id, 'rule_claim')).length > 0);
  await sleep(2_000);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the matching session is untouched');
  assert.equal(await executions(rule.id), 0, 'nothing was claimed under the forged approval');
});

test('a quorum cannot be lowered by the runtime role; lowered by any other means, the seal breaks and the rule never acts', async () => {
  const { rule, application } = await proposed();
  const victim = await victimOf(application);
  assert.match(
    await attempt('UPDATE pgsessions.rules SET quorum = 1 WHERE id = $1', [rule.id]),
    /permission denied/,
    'the runtime role has no UPDATE on quorum',
  );
  // Past the grants (a role that slipped through, a restored dump): the quorum now says one.
  await stateQuery(db.url, 'UPDATE pgsessions.rules SET quorum = 1 WHERE id = $1', [rule.id]);
  const decided = await store.approve(rule.id, 'UGENUINE');
  assert.equal(decided.ok, false);
  assert.equal(!decided.ok && decided.code, 'tampered', 'one approval under a lowered quorum approves nothing');
  assert.equal(await status(rule.id), 'proposed');
  assert.ok((await tampering(rule.id, 'approval')).length > 0, 'audited');
  await sleep(3_000);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.equal(await executions(rule.id), 0);
});

test('approval rows: never in the proposer’s name, never changed or removed, not after the decision, and not counted on another rule', async () => {
  const { rule: a } = await proposed();
  const { rule: b } = await proposed();
  const first = await store.approve(a.id, 'UFIRST');
  assert.ok(first.ok && first.rule.status === 'proposed');
  const tried = {
    proposer: await attempt('INSERT INTO pgsessions.rule_approvals (rule_id, approver, binding) VALUES ($1, $2, $3)', [
      a.id,
      PROPOSER,
      FAKE_MAC,
    ]),
    change: await attempt("UPDATE pgsessions.rule_approvals SET approver = 'UOTHER' WHERE rule_id = $1", [a.id]),
    remove: await attempt('DELETE FROM pgsessions.rule_approvals WHERE rule_id = $1', [a.id]),
    // A genuine row of rule a, copied onto rule b: its MAC names rule a.
    replay: await attempt(
      'INSERT INTO pgsessions.rule_approvals (rule_id, approver, approved_at, binding) SELECT $2, approver, approved_at, binding FROM pgsessions.rule_approvals WHERE rule_id = $1',
      [a.id, b.id],
    ),
  };
  assert.match(tried.proposer, /not by its proposer/);
  assert.match(tried.change, /permission denied/);
  assert.match(tried.remove, /permission denied/);
  assert.equal(tried.replay, 'done');
  const onB = await store.approve(b.id, 'USECOND');
  assert.ok(onB.ok);
  assert.equal(onB.rule.status, 'proposed', 'the copied approval is not counted on rule b');
  assert.deepEqual(onB.rule.approvers, ['USECOND']);

  const approved = await store.approve(a.id, 'USECOND');
  assert.ok(approved.ok);
  assert.equal(approved.rule.status, 'approved');
  assert.deepEqual(approved.rule.approvers, ['UFIRST', 'USECOND']);
  assert.match(
    await attempt('INSERT INTO pgsessions.rule_approvals (rule_id, approver, binding) VALUES ($1, $2, $3)', [
      a.id,
      'ULATE',
      FAKE_MAC,
    ]),
    /only a live proposal/,
  );
  assert.equal((await store.active('default')).filter((r) => r.id === a.id).length, 1, 'the genuine rule is active');
});
