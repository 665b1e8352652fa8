// An approval the state refused, in words: an approver already counted towards the quorum hears how many
// approvals the request still needs; every other code has its sentence in messages.ts.
import { refused } from './outcome.js';
import { alreadyApprovedSentence } from './quorum.js';
import { refuseRequest } from './request-asks.js';
import type { ApproveCode, Decision } from './state-ports.js';

export function approvalRefused(decided: Extract<Decision<ApproveCode>, { ok: false }>) {
  if (decided.code === 'already_approved' && decided.request) {
    return refused('already_approved', alreadyApprovedSentence(decided.request));
  }
  return refuseRequest(decided.code);
}
