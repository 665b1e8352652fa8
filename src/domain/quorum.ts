// Quorum for kill requests (issue 16, docs/approvals.md "Quorum"): how many distinct approvers, none the
// requester, a request needs — frozen when it is made — and how far it has come. Pure.
import { QUORUM } from './binding.js';
import { FAILURE_MESSAGES } from './messages.js';
import type { KillRequest } from './types.js';

/** The distinct approvers this request needs (as frozen at its creation). */
export const quorumOf = (r: Pick<KillRequest, 'quorum'>): number => r.quorum ?? QUORUM;

/** Whether approvals are counted one by one (more than one approver needed). */
export const countsApprovals = (r: Pick<KillRequest, 'quorum'>): boolean => quorumOf(r) > QUORUM;

/** Approvals still missing. */
export function approvalsLeft(r: Pick<KillRequest, 'quorum' | 'approvers'>): number {
  return Math.max(0, quorumOf(r) - (r.approvers?.length ?? 0));
}

/** "1 more approval", "2 more approvals". */
export function moreApprovals(n: number): string {
  return `${n} more approval${n === 1 ? '' : 's'}`;
}

/** "You already approved this request; it needs 1 more approval." */
export function alreadyApprovedSentence(r: Pick<KillRequest, 'quorum' | 'approvers'>): string {
  return `${FAILURE_MESSAGES.already_approved} it needs ${moreApprovals(approvalsLeft(r))}.`;
}
