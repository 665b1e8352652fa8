// The ports of the durable state, declared once: the request service depends on them, the PostgreSQL
// adapters (src/postgres/*-store.ts) conform to them with `satisfies`, and the unit tests fake them in memory.
import type { AuditEntry, AuditEntryInput, ChainVerification } from './audit.js';
import type { ExecutionResult, KillRequest } from './types.js';

export type CreateRequestInput = Omit<
  KillRequest,
  'id' | 'status' | 'decidedBy' | 'decidedAt' | 'createdAt' | 'messageTs' | 'result' | 'expiresAt'
> & { ttlSeconds: number };

/** A conditional state change: it applied, or why it did not (with the request as it is, when there is one). */
export type Decision<Code extends string> =
  | { ok: true; request: KillRequest }
  | { ok: false; code: Code; request?: KillRequest };

/** tampered: the request's seal does not match what its row says now (changed without the key); audited. */
export type ApproveCode = 'not_found' | 'self_approval' | 'already_decided' | 'expired' | 'tampered';
export type DenyCode = 'not_found' | 'already_decided' | 'expired';
export type WithdrawCode = 'not_found' | 'not_requester' | 'already_decided' | 'expired';
/**
 * not_approved: not (or no longer) approved. already_executing: another executor announced it first.
 * tampered: the approval's binding does not match the row to be signalled (audited); nothing may be signalled.
 */
export type MarkExecutingCode = 'not_found' | 'not_approved' | 'already_executing' | 'tampered';
export type FinishCode = 'not_found' | 'not_approved';

/** Requests under the two-person rule. Every change writes its audit entry in the same transaction. */
export interface RequestStorePort {
  createRequest(input: CreateRequestInput): Promise<KillRequest>;
  /** Records the ts of the approval message; false when there is no such request. */
  setMessageTs(id: string, ts: string): Promise<boolean>;
  get(id: string): Promise<KillRequest | null>;
  /** Pending and not yet past expiry, oldest first. */
  listPending(cluster?: string): Promise<KillRequest[]>;
  approve(id: string, approver: string): Promise<Decision<ApproveCode>>;
  deny(id: string, actor: string): Promise<Decision<DenyCode>>;
  withdraw(id: string, actor: string): Promise<Decision<WithdrawCode>>;
  /** Announces, once, that the signal is about to be sent (the durable intent); writes the `executing` entry. */
  markExecuting(id: string): Promise<Decision<MarkExecutingCode>>;
  finish(id: string, status: 'executed' | 'failed', result: ExecutionResult): Promise<Decision<FinishCode>>;
  expireDue(): Promise<KillRequest[]>;
  findInterrupted(olderThanSeconds: number): Promise<KillRequest[]>;
  /** How many requests are in each status. */
  countByStatus(): Promise<Record<string, number>>;
}

/** The append-only, hash-chained audit log. */
export interface AuditLogPort {
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  readAudit(afterSeq?: number, limit?: number): Promise<AuditEntry[]>;
  verifyAudit(): Promise<ChainVerification>;
}

/** What the request service needs of the state. */
export type StatePort = RequestStorePort & Pick<AuditLogPort, 'appendAudit'>;

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

/** The queue that carries audit entries to the audit channel, in seq order. */
export interface OutboxPort {
  /** Delivers the head of the outbox, holding its lock while post() runs. */
  deliverNext(post: (entry: AuditEntry) => Promise<void>, options?: DeliverOptions): Promise<DeliverResult>;
  outboxBacklog(): Promise<number>;
}
