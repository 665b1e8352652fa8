// A rule's approval rows as pgsessions reads them (pgsessions.rule_approvals, migration 016): parsed, never
// trusted — only a row whose MAC (src/domain/binding.ts) matches what it says counts towards the quorum.
import { z } from 'zod';
import { sameBinding, type Binder } from '../domain/binding.js';

export interface StoredApproval {
  approver: string;
  approvedAt: string;
  binding: string;
}

const approvalsSchema = z
  .array(z.object({ approver: z.string(), approved_at: z.string(), binding: z.string() }))
  .catch([]);

/** The approval rows read with a rule (RULE_QUORUM_COLUMNS), oldest first; none when the row has no such column. */
export function storedApprovals(row: Record<string, unknown>): StoredApproval[] {
  return approvalsSchema
    .parse(row.approvals ?? [])
    .map((a) => ({ approver: a.approver, approvedAt: a.approved_at, binding: a.binding }));
}

/** The row was written by pgsessions for this rule, approver and time. */
export function genuineApproval(binder: Binder, ruleId: string, a: StoredApproval): boolean {
  return sameBinding(a.binding, binder.ruleApproval({ ruleId, approver: a.approver, approvedAt: a.approvedAt }));
}

/** The frozen quorum (1 for rows from before it existed) and the approvers whose rows are genuine, in order. */
export function quorumOf(
  binder: Binder,
  ruleId: string,
  row: Record<string, unknown>,
): { quorum: number; approvers: string[] } {
  const quorum = typeof row.quorum === 'number' && Number.isInteger(row.quorum) ? row.quorum : 1;
  const approvers = storedApprovals(row)
    .filter((a) => genuineApproval(binder, ruleId, a))
    .map((a) => a.approver);
  return { quorum, approvers };
}
