// What the ports of the durable state take and answer: inputs, decisions and their codes, delivery results.
// The ports themselves are declared in ports.ts (re-exported here for the adapters that import them from here).
import type { KillRequest } from './types.js';

export type { AuditLogPort, OutboxPort, RequestStorePort, StatePort } from './ports.js';

export type CreateRequestInput = Omit<
  KillRequest,
  'id' | 'status' | 'decidedBy' | 'decidedAt' | 'createdAt' | 'messageTs' | 'result' | 'expiresAt'
> & { ttlSeconds: number };

/** A conditional state change: it applied, or why it did not (with the request as it is, when there is one). */
export type Decision<Code extends string> =
  | { ok: true; request: KillRequest }
  | { ok: false; code: Code; request?: KillRequest };

/** tampered: the request's seal does not match what its row says now (changed without the key); audited. */
/** already_approved: this approver is already counted towards the request's quorum (request-approvals.ts). */
export type ApproveCode =
  | 'not_found'
  | 'self_approval'
  | 'already_decided'
  | 'expired'
  | 'tampered'
  | 'already_approved';
export type DenyCode = 'not_found' | 'already_decided' | 'expired';
export type WithdrawCode = 'not_found' | 'not_requester' | 'already_decided' | 'expired';
/**
 * not_approved: not (or no longer) approved. already_executing: another executor announced it first.
 * tampered: the approval's binding does not match the row to be signalled (audited); nothing may be signalled.
 */
export type MarkExecutingCode = 'not_found' | 'not_approved' | 'already_executing' | 'tampered';
export type FinishCode = 'not_found' | 'not_approved';

export type DeliverResult =
  /** The head entry was posted and marked delivered. */
  | { status: 'delivered'; seq: number; attempts: number }
  /** post() threw: the failure is recorded and the entry retried after retryAfterSeconds. */
  | { status: 'failed'; seq: number; attempts: number; error: unknown; retryAfterSeconds: number }
  /** The head entry is not due before nextAttemptAt; nothing after it is posted before it. */
  | { status: 'waiting'; seq: number; nextAttemptAt: string }
  /** Nothing left to deliver. */
  | { status: 'idle' }
  /** Another instance is delivering right now. */
  | { status: 'busy' };

export interface DeliverOptions {
  /** Seconds to wait before retrying after post() threw; attempts counts this failure. Default: 1, 2, 4 … 300. */
  retryDelaySeconds?: (error: unknown, attempts: number) => number;
}
