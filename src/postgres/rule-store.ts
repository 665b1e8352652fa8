// Standing approvals in the state database: each decision is one conditional UPDATE written with its audit
// entry in one transaction (rule-sql.ts); each execution is claimed and counted before its signal
// (rule-executions.ts). The rows are parsed and checked against their binding in rule-rows.ts.
import type pg from 'pg';
import type { AuditEntryInput } from '../domain/audit.js';
import { createBinder, mismatchReason, ruleTampering, sameBinding, type Binder } from '../domain/binding.js';
import { ruleSummary, type Rule } from '../domain/rules.js';
import type { RuleDecision, RuleStorePort } from '../domain/rule-service.js';
import type { AppendAuditIn } from './request-store.js';
import { claimExecution, finishExecution, interruptExecution, staleExecutions } from './rule-executions.js';
import {
  boundOf,
  getIn,
  inFlightSchema,
  reportTampering,
  type RuleDb,
  toRule,
  UUID,
  whyNotBound,
} from './rule-rows.js';
import {
  SQL_ACTIVE_RULES,
  SQL_ACTIVE_RULE_CLUSTERS,
  SQL_ANY_ACTIVE_RULE,
  SQL_APPROVE_RULE,
  SQL_END_PROPOSAL,
  SQL_EXECUTIONS_IN_FLIGHT_AT_END,
  SQL_EXPIRE_RULES,
  SQL_INSERT_RULE,
  SQL_LIVE_RULES,
  SQL_LOCK_RULE,
  SQL_REVOKE_RULE,
  SQL_SEAL_RULE,
  SQL_SET_RULE_MESSAGE,
} from './rule-sql.js';
import { inTransaction } from './transaction.js';
import { countApproval } from './rule-approvals.js';
import { approversShown } from '../domain/rule-quorum.js';

export { toRule } from './rule-rows.js';

type CreateRuleInput = Parameters<RuleStorePort['create']>[0];

async function get(db: RuleDb, id: string): Promise<Rule | null> {
  return UUID.test(id) ? getIn(db.pool, db.binder, id) : null;
}

async function decide(
  db: RuleDb,
  sql: string,
  params: unknown[],
  audit: (rule: Rule) => AuditEntryInput,
): Promise<Rule | null> {
  if (!UUID.test(String(params[0]))) return null;
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(sql, params);
    if (rows.length === 0) return null;
    const rule = toRule(rows[0], db.binder);
    await db.appendAuditIn(client, audit(rule));
    return rule;
  });
}

/** Why a decision did not apply, read after the fact. */
async function whyNot(db: RuleDb, id: string, user: string): Promise<RuleDecision> {
  const rule = await get(db, id);
  if (!rule) return { ok: false, code: 'not_found' };
  if (rule.status === 'expired' || (rule.status === 'proposed' && Date.parse(rule.proposalExpiresAt) <= Date.now()))
    return { ok: false, code: 'expired', rule };
  if (rule.status === 'proposed' && rule.proposer === user) return { ok: false, code: 'self_approval', rule };
  return { ok: false, code: 'already_decided', rule };
}

async function create(db: RuleDb, input: CreateRuleInput): Promise<Rule> {
  return inTransaction(db.pool, async (client) => {
    const s = input.spec;
    const { rows } = await client.query(SQL_INSERT_RULE, [
      input.cluster,
      JSON.stringify(s),
      s.action,
      s.cause,
      s.dryRun,
      s.reason,
      input.proposer,
      input.channel,
      input.proposalTtlSeconds,
      s.lifetimeSeconds,
      s.maxExecutions,
      input.quorum ?? 1,
    ]);
    const rule = toRule(rows[0], db.binder);
    await client.query(SQL_SEAL_RULE, [rule.id, db.binder.rule(rule, null)]);
    await db.appendAuditIn(client, {
      event: 'rule_proposed',
      actor: rule.proposer,
      cluster: rule.cluster,
      details: ruleSummary(rule),
    });
    return rule;
  });
}

/**
 * The approval, in one transaction: the proposal locked, its seal checked against what it says now (its
 * full definition, proposer), then the conditional UPDATE that writes the approval and its binding. The
 * lifetime comes from the sealed definition, not from a column.
 */
async function approveIn(
  db: RuleDb,
  id: string,
  approver: string,
): Promise<{ approved?: Rule; tampered?: Rule; pending?: Rule } | null> {
  const { binder, appendAuditIn } = db;
  const current = await get(db, id);
  if (current?.status !== 'proposed') return null;
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_LOCK_RULE, [id, current.spec.lifetimeSeconds]);
    const row = rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    const asked = toRule(row, db.binder);
    // Not approvable anyway (decided, expired, self-approval): whyNot says why; only an approval is checked.
    if (asked.status !== 'proposed' || Date.parse(asked.proposalExpiresAt) <= Date.now() || asked.proposer === approver)
      return null;
    if (
      !sameBinding(boundOf(row).binding, binder.rule(asked, null)) ||
      JSON.stringify(asked.spec) !== JSON.stringify(current.spec)
    ) {
      await appendAuditIn(client, ruleTampering(asked, 'approval', mismatchReason(boundOf(row).binding, binder)));
      return { tampered: asked };
    }
    // Each approval is a row of its own; only the one that reaches the quorum approves (rule-approvals.ts).
    const counted = await countApproval(db, client, asked, row, approver, String(row.now_at));
    if (counted.kind === 'tampered') return { tampered: counted.rule };
    if (counted.kind === 'pending') return { pending: counted.rule };
    const binding = binder.rule(asked, {
      approver,
      approvedAt: String(row.now_at),
      expiresAt: String(row.expires_if_approved),
      approvers: counted.approvers,
    });
    const updated = await client.query(SQL_APPROVE_RULE, [id, approver, asked.spec.lifetimeSeconds, binding]);
    if (updated.rows.length === 0) return null;
    const r = toRule(updated.rows[0], db.binder);
    await appendAuditIn(client, {
      event: 'rule_approved',
      actor: approver,
      cluster: r.cluster,
      details: { ...ruleSummary(r), approver, expiresAt: r.expiresAt ?? '', binding, ...approversShown(r) },
    });
    return { approved: r };
  });
}

async function approve(db: RuleDb, id: string, approver: string): Promise<RuleDecision> {
  const decided = UUID.test(id) ? await approveIn(db, id, approver) : null;
  if (decided?.tampered) return { ok: false, code: 'tampered', rule: decided.tampered };
  if (decided?.pending) return { ok: true, rule: decided.pending };
  return decided?.approved ? { ok: true, rule: decided.approved } : whyNot(db, id, approver);
}

async function deny(db: RuleDb, id: string, user: string): Promise<RuleDecision> {
  const rule = await decide(db, SQL_END_PROPOSAL, [id, user, 'denied'], (r) => ({
    event: 'rule_denied',
    actor: user,
    cluster: r.cluster,
    details: { ...ruleSummary(r), deniedBy: user },
  }));
  return rule ? { ok: true, rule } : whyNot(db, id, '');
}

async function withdraw(db: RuleDb, id: string, user: string): Promise<RuleDecision> {
  const rule = await decide(db, SQL_END_PROPOSAL, [id, user, 'withdrawn'], (r) => ({
    event: 'rule_withdrawn',
    actor: user,
    cluster: r.cluster,
    details: { ...ruleSummary(r), withdrawnBy: user },
  }));
  return rule ? { ok: true, rule } : { ok: false, code: 'already_decided' };
}

async function revoke(db: RuleDb, id: string, user: string): Promise<RuleDecision> {
  const rule = await decide(db, SQL_REVOKE_RULE, [id, user], (r) => ({
    event: 'rule_revoked',
    actor: user,
    cluster: r.cluster,
    details: { ...ruleSummary(r), revokedBy: user },
  }));
  if (rule) return { ok: true, rule };
  return (await get(db, id)) ? { ok: false, code: 'already_decided' } : { ok: false, code: 'not_found' };
}

async function expireDue(db: RuleDb): Promise<Rule[]> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_EXPIRE_RULES);
    const rules = rows.map((row) => toRule(row, db.binder));
    for (const r of rules)
      await db.appendAuditIn(client, {
        event: 'rule_ended',
        cluster: r.cluster,
        details: { ...ruleSummary(r), why: 'expired' },
      });
    return rules;
  });
}

async function live(db: RuleDb, cluster?: string): Promise<Rule[]> {
  const { rows } = await db.pool.query(SQL_LIVE_RULES, [cluster ?? null]);
  return rows.map((row) => toRule(row, db.binder));
}

/** The approved rules the watcher may act under: a row that does not match its binding is left out, audited. */
async function active(db: RuleDb, cluster: string): Promise<Rule[]> {
  const { rows } = await db.pool.query(SQL_ACTIVE_RULES, [cluster]);
  const bound: Rule[] = [];
  for (const row of rows as Array<Record<string, unknown>>) {
    const rule = toRule(row, db.binder);
    const why = whyNotBound(db.binder, rule, row);
    if (why === null) bound.push(rule);
    else await reportTampering(db, rule, 'rule_claim', why, row);
  }
  return bound;
}

async function anyActive(db: RuleDb, cluster: string): Promise<boolean> {
  const { rows } = await db.pool.query<{ active: boolean }>(SQL_ANY_ACTIVE_RULE, [cluster]);
  return rows[0]?.active === true;
}

async function activeClusters(db: RuleDb): Promise<Set<string>> {
  const { rows } = await db.pool.query<{ cluster: string }>(SQL_ACTIVE_RULE_CLUSTERS, []);
  return new Set(rows.map((row) => row.cluster));
}

async function inFlightAtEnd(db: RuleDb, id: string) {
  if (!UUID.test(id)) return [];
  const { rows } = await db.pool.query(SQL_EXECUTIONS_IN_FLIGHT_AT_END, [id]);
  return rows.map((row) => inFlightSchema.parse(row));
}

/**
 * binder: seals each proposal, binds each approval, and checks the binding of every rule the watcher is about
 * to act under (active) and of the row every claim reserves a slot on (claim). A rule that does not match is
 * never acted on, and audited as `tampering_detected` (once per row content and process: every look sees it).
 */
export function createRuleStore(
  pool: pg.Pool,
  appendAuditIn: AppendAuditIn,
  binder: Binder = createBinder(null),
): RuleStorePort {
  const db: RuleDb = { pool, appendAuditIn, binder, reported: new Set<string>() };
  return {
    get: (id) => get(db, id),
    create: (input) => create(db, input),
    setMessageTs: async (id, ts) => {
      await pool.query(SQL_SET_RULE_MESSAGE, [id, ts]);
    },
    approve: (id, approver) => approve(db, id, approver),
    deny: (id, user) => deny(db, id, user),
    withdraw: (id, user) => withdraw(db, id, user),
    revoke: (id, user) => revoke(db, id, user),
    expireDue: () => expireDue(db),
    live: (cluster) => live(db, cluster),
    active: (cluster) => active(db, cluster),
    anyActive: (cluster) => anyActive(db, cluster),
    activeClusters: () => activeClusters(db),
    inFlightAtEnd: (id) => inFlightAtEnd(db, id),
    claim: (rule, target, last, incident, fence) => claimExecution(db, rule, target, last, incident, fence),
    finish: (executionId, outcome, last, audit) => finishExecution(db, executionId, outcome, last, audit),
    stale: (olderThanSeconds) => staleExecutions(db, olderThanSeconds),
    interrupt: (executionId, olderThanSeconds, last, audit) =>
      interruptExecution(db, executionId, olderThanSeconds, last, audit),
  };
}
