// Executions under a standing approval: each one claimed and counted against the rule's cap before its signal,
// its outcome recorded once (or reconciled as interrupted), and the rule settled — ended at its cap once
// nothing of it is in flight. Every step runs in one transaction with its audit entry.
import type pg from 'pg';
import type { AuditEntryInput } from '../domain/audit.js';
import { ruleTampering, sameBinding } from '../domain/binding.js';
import type { Fence } from '../domain/lease.js';
import { ruleSummary, type Rule, type RuleExecutionOutcome, type RuleLastExecution } from '../domain/rules.js';
import type { StaleExecution } from '../domain/rule-service.js';
import type { TargetSnapshot } from '../domain/types.js';
import { countedIn } from './rule-count.js';
import { getIn, reportTampering, type RuleDb, toRule, toStale, whyNotBound } from './rule-rows.js';
import {
  SQL_CLAIM_EXECUTION,
  SQL_EXECUTION_RULE,
  SQL_EXHAUST_RULE,
  SQL_FINISH_EXECUTION,
  SQL_INTERRUPT_EXECUTION,
  SQL_LOCK_RULE_ROW,
  SQL_RESERVE_EXECUTION,
  SQL_SETTLE_EXECUTION,
  SQL_STALE_EXECUTIONS,
} from './rule-sql.js';
import { inTransaction } from './transaction.js';
import { NotReserved } from '../domain/errors.js';

type RuleAudit = (rule: Rule) => AuditEntryInput;

/** Claims one execution and reserves a slot of the cap (RuleStorePort.claim). */
export async function claimExecution(
  db: RuleDb,
  rule: Rule,
  target: TargetSnapshot,
  last: RuleLastExecution,
  incident = '',
  fence?: Fence,
): Promise<{ executionId: string; rule: Rule } | null> {
  if (fence && fence.cluster !== rule.cluster) return null;
  return inTransaction(db.pool, async (client) => {
    await client.query(SQL_LOCK_RULE_ROW, [rule.id]);
    const claimed = await client.query<{ id: string }>(SQL_CLAIM_EXECUTION, [
      rule.id,
      target.pid,
      target.backendStart,
      rule.spec.action === 'cancel' ? target.queryStart : '-infinity',
      rule.spec.dryRun,
      // The incident key rides along so that a reconciliation after a crash can name it in the audit.
      JSON.stringify({ ...target, incident }),
      rule.cluster,
      fence?.token ?? null,
    ]);
    const executionId = claimed.rows[0]?.id;
    if (!executionId) return null;
    const reserved = await client.query(SQL_RESERVE_EXECUTION, [
      rule.id,
      JSON.stringify(last),
      await countedIn(client, db.binder, rule.id),
    ]);
    // Revoked, expired or every slot taken since it was read: nothing is claimed (the INSERT rolls back too).
    if (reserved.rows.length === 0) throw new NotReserved();
    // The row the slot was taken on must still be the rule that was approved (and matched), else no claim.
    const now = toRule(reserved.rows[0], db.binder);
    const why =
      whyNotBound(db.binder, now, reserved.rows[0]) ??
      (sameDefinition(now, rule) ? null : 'the rule changed between its read and its claim');
    if (why !== null) throw new NotReserved({ rule: now, why, row: reserved.rows[0] });
    return { executionId, rule: now };
  }).catch(async (error: unknown) => {
    if (!(error instanceof NotReserved)) throw error;
    if (error.tampered)
      await reportTampering(db, error.tampered.rule, 'rule_claim', error.tampered.why, error.tampered.row);
    return null;
  });
}

/** Records the outcome once and settles the rule (RuleStorePort.finish). */
export async function finishExecution(
  db: RuleDb,
  executionId: string,
  outcome: RuleExecutionOutcome,
  last: RuleLastExecution,
  audit: RuleAudit,
): Promise<Rule> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query<{ rule_id: string }>(SQL_FINISH_EXECUTION, [
      executionId,
      outcome,
      db.binder.outcome({ executionId, outcome }),
    ]);
    const ruleId = rows[0]?.rule_id;
    if (!ruleId) return finishedBefore(db, client, executionId, outcome, audit);
    return settle(db, client, ruleId, last, audit);
  });
}

/** The execution already had an outcome: say what really happened, and whether the app wrote the first one. */
async function finishedBefore(
  db: RuleDb,
  client: pg.PoolClient,
  executionId: string,
  outcome: RuleExecutionOutcome,
  audit: RuleAudit,
): Promise<Rule> {
  const { rows: known } = await client.query<{
    rule_id: string;
    outcome: string | null;
    outcome_binding: string | null;
  }>(SQL_EXECUTION_RULE, [executionId]);
  const rule = known[0] ? await getIn(client, db.binder, known[0].rule_id) : null;
  if (!rule) throw new Error(`rule execution ${executionId} does not exist`);
  // Reconciled as interrupted while its signal was still out (a stall longer than interruptedAfter):
  // the cap was settled then, and stays so; what really happened is still added to the audit trail.
  if (known[0]?.outcome === 'interrupted') await db.appendAuditIn(client, audit(rule));
  // No MAC: someone else wrote it while the signal was out (a forged give-back still counts, rule-count.ts):
  // said, and what really happened audited. With the MAC it is a late replica's second finish.
  else if (
    known[0]?.outcome &&
    !sameBinding(known[0].outcome_binding, db.binder.outcome({ executionId, outcome: known[0].outcome }))
  ) {
    await db.appendAuditIn(
      client,
      ruleTampering(
        rule,
        'rule_claim',
        `execution ${executionId} had an outcome before pgsessions recorded ${outcome}: written without the app`,
      ),
    );
    await db.appendAuditIn(client, audit(rule));
  }
  return rule;
}

/** Claims with no outcome after this long (RuleStorePort.stale). */
export async function staleExecutions(db: RuleDb, olderThanSeconds: number): Promise<StaleExecution[]> {
  const { rows } = await db.pool.query(SQL_STALE_EXECUTIONS, [olderThanSeconds]);
  return rows.map(toStale);
}

/** Records 'interrupted' once across replicas (RuleStorePort.interrupt). */
export async function interruptExecution(
  db: RuleDb,
  executionId: string,
  olderThanSeconds: number,
  last: RuleLastExecution,
  audit: RuleAudit,
): Promise<Rule | null> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query<{ rule_id: string }>(SQL_INTERRUPT_EXECUTION, [executionId, olderThanSeconds]);
    const ruleId = rows[0]?.rule_id;
    // Another replica reconciled it first, or its replica finished it after all.
    if (!ruleId) return null;
    return settle(db, client, ruleId, last, audit);
  });
}

/**
 * An execution's outcome settles its rule: the last execution shown, its count read again (a slot given
 * back when nothing was signalled), the execution audited, and the rule ended at its cap once nothing of it
 * is in flight — its row lock taken first, so two replicas finishing at once cannot both miss the end.
 */
async function settle(
  db: RuleDb,
  client: pg.PoolClient,
  ruleId: string,
  last: RuleLastExecution,
  audit: RuleAudit,
): Promise<Rule> {
  await client.query(SQL_LOCK_RULE_ROW, [ruleId]);
  const counted = await countedIn(client, db.binder, ruleId);
  const { rows } = await client.query(SQL_SETTLE_EXECUTION, [ruleId, JSON.stringify(last), counted]);
  const settled = toRule(rows[0], db.binder);
  await db.appendAuditIn(client, audit(settled));
  const { rows: ended } = await client.query(SQL_EXHAUST_RULE, [ruleId, counted]);
  if (ended.length === 0) return settled;
  const rule = toRule(ended[0], db.binder);
  await db.appendAuditIn(client, {
    event: 'rule_ended',
    cluster: rule.cluster,
    details: { ...ruleSummary(rule), why: 'exhausted' },
  });
  return rule;
}

/** The same rule, as approved: its definition, cluster, proposer, approver and expiry. */
function sameDefinition(a: Rule, b: Rule): boolean {
  return (
    a.id === b.id &&
    a.cluster === b.cluster &&
    a.proposer === b.proposer &&
    a.approver === b.approver &&
    a.expiresAt === b.expiresAt &&
    JSON.stringify(a.spec) === JSON.stringify(b.spec)
  );
}
