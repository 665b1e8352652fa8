// Quorum approvals in the state database (migration 015, docs/approvals.md "Quorum"): each approval of a
// request needing more than one approver is a row of pgsessions.request_approvals with its own MAC over
// request id + approver + time. Counted only with a valid MAC; the approval that reaches the quorum moves the
// request to approved in the same transaction (the request row is locked FOR UPDATE by the caller, so
// approvals on several replicas are counted one after the other, exactly once), with a binding over the
// sorted approvers. A row without a valid MAC (written with the runtime role's password alone) is tampering.
import type pg from 'pg';
import type { AuditEntryInput, RequestSummary } from '../domain/audit.js';
import { requestTampering, sameBinding, type Binder } from '../domain/binding.js';
import { quorumOf } from '../domain/quorum.js';
import type { KillRequest } from '../domain/types.js';
import { SQL_INSERT_APPROVAL, SQL_LIST_APPROVALS } from './request-approvals-sql.js';
import { SQL_APPROVE } from './request-sql.js';
import { toRequest } from './state-rows.js';

interface ApprovalRow {
  approver: string;
  approved_at: string;
  binding: string;
}

export interface QuorumDb {
  binder: Binder;
  appendAuditIn: (client: pg.PoolClient, input: AuditEntryInput) => Promise<unknown>;
  summary: (r: KillRequest) => RequestSummary;
}

export type QuorumApproval =
  | { approved: KillRequest }
  | { recorded: KillRequest }
  | { already: KillRequest }
  | { tampered: KillRequest };

const FORGED =
  'an approval row of this request does not carry a valid MAC: it was written without the key and is not counted';

/** The request's approvals whose MAC is valid, in order; null when any is not (none may then be counted). */
async function verifiedApprovers(client: pg.PoolClient, binder: Binder, requestId: string): Promise<string[] | null> {
  const { rows } = await client.query<ApprovalRow>(SQL_LIST_APPROVALS, [requestId]);
  const approvers: string[] = [];
  for (const row of rows) {
    const expected = binder.approval({ requestId, approver: row.approver, approvedAt: row.approved_at });
    if (!sameBinding(row.binding, expected)) return null;
    approvers.push(row.approver);
  }
  return approvers;
}

/**
 * One approval of a sealed, pending request needing more than one approver (the caller locked its row and
 * checked its seal; nowAt is this transaction's time as text). Records it, and approves the request when it
 * reaches the quorum; an approver already counted is not counted again.
 */
export async function approveTowardsQuorum(
  client: pg.PoolClient,
  db: QuorumDb,
  asked: KillRequest,
  approver: string,
  nowAt: string,
): Promise<QuorumApproval | null> {
  const before = await verifiedApprovers(client, db.binder, asked.id);
  if (before === null) {
    await db.appendAuditIn(client, requestTampering(asked, 'approval', FORGED));
    return { tampered: asked };
  }
  if (before.includes(approver)) return { already: { ...asked, approvers: before } };
  const binding = db.binder.approval({ requestId: asked.id, approver, approvedAt: nowAt });
  await client.query(SQL_INSERT_APPROVAL, [asked.id, approver, nowAt, binding]);
  const approvers = [...before, approver];
  const needed = quorumOf(asked);
  if (approvers.length < needed) {
    const recorded = { ...asked, approvers };
    await db.appendAuditIn(client, {
      requestId: asked.id,
      event: 'approval_recorded',
      actor: approver,
      cluster: asked.cluster,
      details: { ...db.summary(asked), approver, approvals: approvers, needed, binding },
    });
    return { recorded };
  }
  const approval = { approver, approvedAt: nowAt, expiresAt: null, approvers };
  const requestBinding = db.binder.request(asked, approval);
  const updated = await client.query(SQL_APPROVE, [asked.id, approver, requestBinding]);
  if (updated.rows.length === 0) return null;
  const r = toRequest(updated.rows[0]);
  await db.appendAuditIn(client, {
    requestId: r.id,
    event: 'approved',
    actor: approver,
    cluster: r.cluster,
    details: { ...db.summary(r), approver, binding: requestBinding, approvals: approvers },
  });
  return { approved: r };
}

/**
 * The approval a request with a quorum claims now, for the check before any signal: its decision and the
 * approvers counted (each row's MAC valid). null: an approval row is forged, nothing may be signalled.
 */
export async function claimedApproval(
  client: pg.PoolClient,
  binder: Binder,
  r: KillRequest,
): Promise<{ approver: string; approvedAt: string; expiresAt: null; approvers: string[] } | null> {
  const approvers = await verifiedApprovers(client, binder, r.id);
  if (approvers === null) return null;
  return { approver: r.decidedBy ?? '', approvedAt: r.decidedAt ?? '', expiresAt: null, approvers };
}

export { FORGED as FORGED_APPROVAL_REASON };
