// One approval of a rule proposal counted towards its quorum (issue 16, migration 016), inside the locked
// transaction of the approval (rule-store.ts): the rows already stored are checked against their MACs (a
// forged row is not counted, and audited as tampering_detected), the same approver twice counts once, this
// approval is stored with its own MAC, and either it reaches the quorum — the caller then approves the rule in
// the same transaction — or it is audited as rule_approval_recorded.
import type pg from 'pg';
import { ruleTampering } from '../domain/binding.js';
import { RULE_QUORUM_WORDS } from '../domain/messages.js';
import { ruleSummary, type Rule } from '../domain/rules.js';
import { genuineApproval, quorumOf, storedApprovals } from './rule-approvals-rows.js';
import { SQL_INSERT_RULE_APPROVAL, SQL_RULE_APPROVALS } from './rule-approvals-sql.js';
import type { RuleDb } from './rule-rows.js';

export type CountedApproval =
  /** This approval reaches the quorum: every approver (genuine rows, this one last). */
  | { kind: 'reached'; approvers: string[] }
  /** Short of the quorum (recorded and audited), or this approver's approval was already counted (`again`). */
  | { kind: 'pending'; rule: Rule; again: boolean }
  /** A row in this approver's name that pgsessions did not write stands in the way (audited). */
  | { kind: 'tampered'; rule: Rule };

/** Audits each approval row that pgsessions did not write, once per row and process. */
async function reportForged(db: RuleDb, client: pg.PoolClient, rule: Rule, row: Record<string, unknown>) {
  for (const a of storedApprovals(row)) {
    if (genuineApproval(db.binder, rule.id, a)) continue;
    const seen = `${rule.id}|approval_row|${a.approver}|${a.approvedAt}|${a.binding}`;
    if (db.reported.has(seen)) continue;
    const entry = ruleTampering(rule, 'approval', RULE_QUORUM_WORDS.forgedApproval(a.approver));
    await db.appendAuditIn(client, entry);
    db.reported.add(seen);
  }
}

/**
 * `rule` and `row`: the proposal as locked (FOR UPDATE) and checked against its seal; `approvedAt`: this
 * transaction's now(), as read with the lock.
 */
export async function countApproval(
  db: RuleDb,
  client: pg.PoolClient,
  rule: Rule,
  row: Record<string, unknown>,
  approver: string,
  approvedAt: string,
): Promise<CountedApproval> {
  // Not the approvals read with the lock: that statement's snapshot may predate an approval committed while it
  // waited for the lock. A statement of its own, after the lock, sees them all.
  const { rows } = await client.query(SQL_RULE_APPROVALS, [rule.id]);
  const fresh = (rows[0] ?? {}) as Record<string, unknown>;
  await reportForged(db, client, rule, fresh);
  const counted = quorumOf(db.binder, rule.id, { ...row, ...fresh }).approvers;
  if (counted.includes(approver)) return { kind: 'pending', rule: { ...rule, approvers: counted }, again: true };
  const binding = db.binder.ruleApproval({ ruleId: rule.id, approver, approvedAt });
  const inserted = await client.query(SQL_INSERT_RULE_APPROVAL, [rule.id, approver, approvedAt, binding]);
  if (inserted.rows.length === 0) return { kind: 'tampered', rule: { ...rule, approvers: counted } };
  const approvers = [...counted, approver];
  const needed = rule.quorum ?? 1;
  if (approvers.length >= needed) return { kind: 'reached', approvers };
  await db.appendAuditIn(client, {
    event: 'rule_approval_recorded',
    actor: approver,
    cluster: rule.cluster,
    details: { ...ruleSummary(rule), approver, approvals: approvers, needed, binding },
  });
  return { kind: 'pending', rule: { ...rule, approvers }, again: false };
}
