// Who may decide a request or rule proposal: an approver of its cluster, and, once its escalation is due, the
// escalation tier too (PGSESSIONS_ESCALATE_TO, docs/approvals.md "Escalation"): the people it escalates to are
// told "your approval is asked", so their Approve must count. The deadline is read from the subject's creation
// time, which its seal covers (a backdated row is refused as tampered when it is approved), never from a table
// the state database's runtime role writes.
import { mayApprove, type AccessRules, type GroupsPort } from './policy.js';
import type { ApprovalRouting } from './routing.js';

export async function mayDecide(
  user: string,
  subject: { createdAt: string },
  rules: AccessRules,
  routing: ApprovalRouting,
  groups: GroupsPort,
  now: number = Date.now(),
): Promise<boolean> {
  if (await mayApprove(user, rules, groups)) return true;
  const escalate = routing.escalate;
  if (!escalate || escalate.to.length === 0) return false;
  const due = Date.parse(subject.createdAt) + escalate.afterSeconds * 1000;
  if (!(due <= now)) return false;
  return mayApprove(user, { ...rules, approvers: escalate.to }, groups);
}
