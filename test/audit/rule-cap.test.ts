// A rule's cap the runtime role cannot reset (issue 15, migration 009), played as the attacker: production
// set-up (owner role migrates, runtime role runs the app, PGSESSIONS_AUDIT_KEY set), and someone who holds
// only the runtime role's password. It may write rules.used, outcomes and (for ended rules) delete
// executions; none of that buys one signal more than two people approved.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { ruleSummary, type Rule, type RuleSpec } from '../../src/domain/rules.js';
import type { AuditEntryInput } from '../../src/domain/audit.js';
import type { RuleStorePort } from '../../src/domain/rule-service.js';
import type { TargetSnapshot } from '../../src/domain/types.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createRuleStore } from '../../src/postgres/rule-store.js';
import { SQL_PRUNE_RULE_EXECUTIONS } from '../../src/postgres/retention-sql.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { APPROVER, REQUESTER } from '../helpers/app.js';
import { sessionTracker, sleep, stateQuery } from '../helpers/approval-flow.js';
import { withRole } from '../helpers/pg.js';
import { asSuperuser } from '../helpers/roles.js';
import { ruleDriver, waitUntil } from '../helpers/rules.js';
import { idleInTransactionLockHolder, sessionAlive, waitUntilGone } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { watchEnv } from '../helpers/watch.js';

const KEY = randomBytes(32).toString('base64');
const suffix = randomBytes(4).toString('hex');
const OWNER = `pgs_cowner_${suffix}`;
const RUNTIME = `pgs_cruntime_${suffix}`;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const RULES = 'CRULESCAP';

let runtimeUrl: string;
/** The app's rule store, as a second replica would run it: the runtime role, the key. */
let runtimePool: pg.Pool;
let store: RuleStorePort;
const sessions = sessionTracker();

const urlAs = (url: string, role: string): string => withRole(url, role, PASSWORD);

/** Statements on a connection of its own, as the runtime role: the attacker's. */
async function attacker<T>(work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: runtimeUrl });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

// The app runs on the runtime role over a state database the owner migrated (in prepare).
const { db, slack, app } = useTestApp({
  database: 'rulecapatk',
  async prepare(database) {
    await asSuperuser(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
    await asSuperuser(`CREATE ROLE ${RUNTIME} LOGIN PASSWORD '${PASSWORD}'`);
    await asSuperuser(`GRANT CREATE ON DATABASE ${database.name} TO ${OWNER}`);
    runtimeUrl = urlAs(database.url, RUNTIME);
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
    // `npm run migrate`, in-process: the owner applies the migrations and grants the runtime role.
    const owner = new pg.Pool({ connectionString: urlAs(database.url, OWNER), max: 1 });
    try {
      await migrate(owner);
      const client = await owner.connect();
      try {
        const granted = await grantRuntimeRole(client, RUNTIME);
        assert.ok(granted.ok, JSON.stringify(granted));
      } finally {
        client.release();
      }
    } finally {
      await owner.end();
    }
    runtimePool = new pg.Pool({ connectionString: runtimeUrl, max: 3 });
    const state = createStateStore(runtimePool, { key: Buffer.from(KEY, 'utf8') });
    store = createRuleStore(runtimePool, state.appendIn, state.binder);
  },
  env: () => watchEnv({ STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_AUDIT_KEY: KEY }),
  start: {
    terminateTimeoutMs: 3_000,
    watchUpdateGapSeconds: 1,
  },
  revokeRules: true,
  sessions,
  async teardown() {
    await runtimePool?.end();
  },
});
// After the fixture has dropped the database the owner's objects live in.
after(async () => {
  await asSuperuser(`DROP ROLE IF EXISTS ${RUNTIME}`);
  await asSuperuser(`DROP ROLE IF EXISTS ${OWNER}`);
});

const spec = (over: Partial<RuleSpec> = {}): RuleSpec => ({
  action: 'cancel',
  cause: 'lock-queue-head',
  filters: { application: 'rails-migrate' },
  thresholds: { waitingSeconds: 5 },
  lifetimeSeconds: 3600,
  maxExecutions: 1,
  dryRun: false,
  reason: 'deploy',
  ...over,
});

async function approved(over: Partial<RuleSpec> = {}): Promise<Rule> {
  const rule = await store.create({
    cluster: 'default',
    spec: spec(over),
    proposer: 'UCAPA',
    channel: 'C1',
    proposalTtlSeconds: 600,
  });
  const decided = await store.approve(rule.id, 'UCAPB');
  assert.ok(decided.ok);
  return decided.rule;
}

let nextPid = 900_000;
const target = (): TargetSnapshot => ({
  pid: nextPid++,
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
});
const last = (t: TargetSnapshot) => ({ at: new Date().toISOString(), pid: t.pid, query: t.query, outcome: 'claimed' });
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
/** 'done', or the database's refusal. */
async function attempt(c: pg.Client, sql: string, params: unknown[]): Promise<string> {
  return c.query(sql, params).then(
    () => 'done',
    (error: Error) => error.message,
  );
}
const ruleRow = async (id: string) =>
  (
    await stateQuery<{ used: number; status: string }>(
      db.url,
      'SELECT used, status FROM pgsessions.rules WHERE id = $1',
      [id],
    )
  )[0]!;

test('max:1 with its execution in flight: resetting used, deleting or rewriting the execution row buys no second claim', async () => {
  const rule = await approved();
  const first = target();
  const claimed = await store.claim(rule, first, last(first));
  assert.ok(claimed, 'the first match is claimed');

  // Everything the role's grants allow on the count, each tried; what was refused is checked after the claim.
  const tried = await attacker(async (c) => ({
    reset: await attempt(c, 'UPDATE pgsessions.rules SET used = 0 WHERE id = $1', [rule.id]),
    // An outcome that gives the slot back, without the app's MAC (the role does not hold the key).
    giveBack: await attempt(
      c,
      "UPDATE pgsessions.rule_executions SET outcome = 'gone', finished_at = now(), outcome_binding = 'sha256:' || repeat('0', 64) WHERE id = $1",
      [claimed.executionId],
    ),
    unfinish: await attempt(
      c,
      'UPDATE pgsessions.rule_executions SET outcome = NULL, finished_at = NULL WHERE id = $1',
      [claimed.executionId],
    ),
    insertFinished: await attempt(
      c,
      "INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target, outcome) VALUES ($1, 1, now(), now(), false, '{}', 'gone')",
      [rule.id],
    ),
    delete: await attempt(c, 'DELETE FROM pgsessions.rule_executions WHERE rule_id = $1', [rule.id]),
  }));
  assert.equal((await ruleRow(rule.id)).used, 0, 'the attacker did reset used');
  const second = target();
  assert.equal(await store.claim(rule, second, last(second)), null, 'no second claim: the forged give-back counts');
  assert.equal(
    (await stateQuery(db.url, 'SELECT 1 FROM pgsessions.rule_executions WHERE rule_id = $1', [rule.id])).length,
    1,
  );
  // The app's own outcome arrives (the signal went out): the forged one stays, and is reported.
  await store.finish(claimed.executionId, 'cancelled', { ...last(first), outcome: 'cancelled' }, executed);
  const reported = await stateQuery<{ reason: string }>(
    db.url,
    "SELECT details->>'reason' AS reason FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1",
    [rule.id],
  );
  assert.deepEqual(
    reported.map((r) => r.reason),
    [`execution ${claimed.executionId} had an outcome before pgsessions recorded cancelled: written without the app`],
  );
  const second2 = target();
  assert.equal(await store.claim(rule, second2, last(second2)), null, 'still no second claim');
  assert.deepEqual(tried, {
    reset: 'done',
    giveBack: 'done',
    unfinish: 'pgsessions.rule_executions: an outcome is written once',
    insertFinished: 'pgsessions.rule_executions: an execution is claimed without an outcome',
    delete: "pgsessions.rule_executions: a live rule's executions are its count and are not deleted",
  });
});

test('a slot given back by the app (target gone) is reused; a normal rule still executes up to its cap and ends there', async () => {
  const rule = await approved({ maxExecutions: 2 });
  const gone = target();
  const a = await store.claim(rule, gone, last(gone));
  assert.ok(a);
  await store.finish(a.executionId, 'gone', { ...last(gone), outcome: 'gone' }, executed);
  assert.deepEqual(await ruleRow(rule.id), { used: 0, status: 'approved' }, 'nothing signalled: the slot is back');
  for (const n of [1, 2]) {
    const t = target();
    const c = await store.claim(rule, t, last(t));
    assert.ok(c, `claim ${n} of 2`);
    const settled = await store.finish(c.executionId, 'cancelled', { ...last(t), outcome: 'cancelled' }, executed);
    assert.equal(settled.used, n);
  }
  assert.deepEqual(await ruleRow(rule.id), { used: 2, status: 'exhausted' });
  const third = target();
  assert.equal(await store.claim(rule, third, last(third)), null);
});

test('retention still prunes an ended rule’s executions as the runtime role, and never a live one’s', async () => {
  const live = await approved({ maxExecutions: 3 });
  const ended = await approved({ maxExecutions: 3 });
  for (const rule of [live, ended]) {
    const t = target();
    const c = await store.claim(rule, t, last(t));
    assert.ok(c);
    await store.finish(c.executionId, 'cancelled', { ...last(t), outcome: 'cancelled' }, executed);
  }
  assert.equal((await store.revoke(ended.id, 'UCAPB')).ok, true);
  const deleted = await attacker((c) => c.query(SQL_PRUNE_RULE_EXECUTIONS, [0, 100]));
  assert.ok((deleted.rowCount ?? 0) >= 1);
  assert.equal(
    (await stateQuery(db.url, 'SELECT 1 FROM pgsessions.rule_executions WHERE rule_id = $1', [ended.id])).length,
    0,
    'the ended rule’s pruned',
  );
  assert.equal(
    (await stateQuery(db.url, 'SELECT 1 FROM pgsessions.rule_executions WHERE rule_id = $1', [live.id])).length,
    1,
    'the live rule’s kept',
  );
});

test('through the app: a max:2 rule whose used the attacker resets to 0 after each execution does not signal a third match', async () => {
  const rules = ruleDriver(
    slack,
    () => app.port,
    () => db.url,
    RULES,
  );
  const { id } = await rules.propose(
    'terminate idle-in-transaction app:victim-cap idle:1s for:1h max:2 stale transactions',
    REQUESTER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const reset = () => attacker((c) => c.query('UPDATE pgsessions.rules SET used = 0 WHERE id = $1', [id]));
  for (const n of [1, 2]) {
    const victim = sessions.track(
      await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'victim-cap' }),
    );
    await waitUntilGone(db.url, victim.pid, 20_000);
    await waitUntil(
      `execution ${n} settled`,
      async () => (await rules.executions(id)).filter((e) => e.outcome === 'terminated').length === n,
    );
    await reset();
  }
  const third = sessions.track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'victim-cap' }),
  );
  await sleep(4_000); // several looks of the watcher
  assert.equal(await sessionAlive(db.url, third.pid, third.backendStart), true, 'the third victim is still there');
  assert.equal((await ruleRow(id)).status, 'exhausted');
});
