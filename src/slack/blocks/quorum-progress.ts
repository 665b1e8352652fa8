// A request's quorum on screen (docs/approvals.md "Quorum"): "Needs 2 approvals" while nobody approved,
// "1 of 2 approvals: @alex" after each approval short of the quorum. Nothing at all for the two-person rule.
import { countsApprovals, quorumOf } from '../../domain/quorum.js';
import type { KillRequest } from '../../domain/types.js';
import { userMention } from './mrkdwn.js';

/** At most this many approvers are named (the quorum is at most 10 anyway). */
const NAMED = 10;

/** The waiting line under the buttons (mrkdwn), for a request that can still be approved. */
export function waitingLine(r: KillRequest): string {
  if (!countsApprovals(r)) return 'Waiting for an approver other than the requester. The requester may withdraw.';
  const needed = quorumOf(r);
  const approvers = r.approvers ?? [];
  if (approvers.length === 0) {
    return `Needs ${needed} approvals, from ${needed} different people other than the requester. The requester may withdraw.`;
  }
  const named = approvers.slice(0, NAMED).map(userMention).join(', ');
  return `${approvers.length} of ${needed} approvals: ${named}. The requester may withdraw.`;
}

/** Who approved a decided request: every approver counted, else the one who decided. */
export function approvedBy(r: KillRequest, fallback: string): string {
  const approvers = r.approvers ?? [];
  return countsApprovals(r) && approvers.length > 0 ? approvers.slice(0, NAMED).map(userMention).join(', ') : fallback;
}

/** " · 1 of 2 approvals" in the pending list; nothing for the two-person rule. */
export function progressWords(r: KillRequest): string {
  return countsApprovals(r) ? ` · ${r.approvers?.length ?? 0} of ${quorumOf(r)} approvals` : '';
}
