// Kill requests in PostgreSQL under the two-person rule. Every state change and its audit entry are written
// in one transaction; every decision is one conditional UPDATE (request-sql.ts).
import type pg from 'pg';
import type { AuditEntry, AuditEntryInput, BriefTarget, RequestSummary } from '../domain/audit.js';
import { createBinder, mismatchReason, requestTampering, sameBinding, type Binder } from '../domain/binding.js';
import type {
  ApproveCode,
  CreateRequestInput,
  Decision,
  DenyCode,
  FinishCode,
  MarkExecutingCode,
  RequestStorePort,
  WithdrawCode,
} from '../domain/state-ports.js';
import type { ExecutionResult, KillRequest, TargetSnapshot } from '../domain/types.js';
import {
  SQL_APPROVE,
  SQL_COUNT_BY_STATUS,
  SQL_DENY,
  SQL_EXPIRE_DUE,
  SQL_FIND_INTERRUPTED,
  SQL_FINISH,
  SQL_GET_REQUEST,
  SQL_INSERT_REQUEST,
  SQL_LIST_PENDING,
  SQL_LOCK_REQUEST,
  SQL_MARK_EXECUTING,
  SQL_SEAL_REQUEST,
  SQL_SET_MESSAGE_TS,
  SQL_WITHDRAW,
} from './request-sql.js';
import { approveTowardsQuorum, claimedApproval, FORGED_APPROVAL_REASON } from './request-approvals.js';
import { countsApprovals } from '../domain/quorum.js';
import { toRequest } from './state-rows.js';
import { inTransaction } from './transaction.js';

/** Appends an audit entry inside the given transaction (the audit store's appendIn). */
export type AppendAuditIn = (client: pg.PoolClient, input: AuditEntryInput) => Promise<AuditEntry>;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The session as the audit names it: enough to identify it, without the query text. */
function briefTarget(t: TargetSnapshot): BriefTarget {
  return {
    pid: t.pid,
    user: t.user,
    database: t.database,
    application: t.application,
    backendType: t.backendType,
    backendStart: t.backendStart,
    queryStart: t.queryStart,
  };
}

export function requestSummary(r: KillRequest): RequestSummary {
  return { action: r.action, reason: r.reason, requester: r.requester, targets: r.targets.map(briefTarget) };
}

/** The binding as stored with the row (null when there is none). */
const storedBinding = (row: Record<string, unknown>): string | null =>
  typeof row.binding === 'string' ? row.binding : null;

/** The approval a request's row claims: who and when (its decision). */
const approvalOf = (r: KillRequest) => ({
  approver: r.decidedBy ?? '',
  approvedAt: r.decidedAt ?? '',
  expiresAt: null,
});

/** What every request operation works with: the state pool, the audit append and the binder. */
interface RequestDb {
  pool: pg.Pool;
  appendAuditIn: AppendAuditIn;
  binder: Binder;
}

async function readWithExpiry(
  db: RequestDb,
  id: string,
): Promise<{ request: KillRequest; pastExpiry: boolean } | null> {
  const { rows } = await db.pool.query(SQL_GET_REQUEST, [id]);
  const row = rows[0] as Record<string, unknown> | undefined;
  if (!row) return null;
  return { request: toRequest(row), pastExpiry: row.past_expiry === true };
}

/** One conditional UPDATE and, when it changed the row, its audit entry: both or neither. */
async function decide(
  db: RequestDb,
  sql: string,
  params: unknown[],
  audit: (request: KillRequest) => AuditEntryInput,
): Promise<KillRequest | null> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(sql, params);
    if (rows.length === 0) return null;
    const request = toRequest(rows[0]);
    await db.appendAuditIn(client, audit(request));
    return request;
  });
}

/**
 * The approval, in one transaction: the row locked, its seal checked against what it says now (what was
 * asked, by whom, until when), then the conditional UPDATE that writes the binding of the approval.
 */
async function approveIn(
  db: RequestDb,
  id: string,
  approver: string,
): Promise<Partial<Record<'approved' | 'recorded' | 'already' | 'tampered', KillRequest>> | null> {
  const { binder, appendAuditIn } = db;
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_LOCK_REQUEST, [id]);
    const row = rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    const asked = toRequest(row);
    // Not approvable anyway (decided, expired, self-approval): whyNot says why; only an approval is checked.
    if (asked.status !== 'pending' || row.past_expiry === true || asked.requester === approver) return null;
    if (!sameBinding(storedBinding(row), binder.request(asked, null))) {
      await appendAuditIn(client, requestTampering(asked, 'approval', mismatchReason(storedBinding(row), binder)));
      return { tampered: asked };
    }
    const quorumDb = { binder, appendAuditIn, summary: requestSummary };
    if (countsApprovals(asked)) return approveTowardsQuorum(client, quorumDb, asked, approver, String(row.now_at));
    const binding = binder.request(asked, { approver, approvedAt: String(row.now_at), expiresAt: null });
    const updated = await client.query(SQL_APPROVE, [id, approver, binding]);
    if (updated.rows.length === 0) return null;
    const r = toRequest(updated.rows[0]);
    await appendAuditIn(client, {
      requestId: r.id,
      event: 'approved',
      actor: approver,
      cluster: r.cluster,
      details: { ...requestSummary(r), approver, binding },
    });
    return { approved: r };
  });
}

/**
 * The durable intent to signal, once; the row it returns is what the executor signals, so its binding is
 * checked here, against that very row: a change since the approval (targets, approver, time) is refused.
 */
async function markExecutingIn(
  db: RequestDb,
  id: string,
): Promise<{ executing?: KillRequest; tampered?: KillRequest } | null> {
  const { binder, appendAuditIn } = db;
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_MARK_EXECUTING, [id]);
    const row = rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    const r = toRequest(row);
    const approval = countsApprovals(r) ? await claimedApproval(client, binder, r) : approvalOf(r);
    if (approval === null) {
      await appendAuditIn(client, requestTampering(r, 'execution', FORGED_APPROVAL_REASON));
      return { tampered: r };
    }
    if (!sameBinding(storedBinding(row), binder.request(r, approval))) {
      await appendAuditIn(client, requestTampering(r, 'execution', mismatchReason(storedBinding(row), binder)));
      return { tampered: r };
    }
    await appendAuditIn(client, {
      requestId: r.id,
      event: 'executing',
      actor: null,
      cluster: r.cluster,
      details: { ...requestSummary(r), approver: r.decidedBy },
    });
    return { executing: r };
  });
}

/** Why a decision did not apply, read after the fact. */
async function whyNot(db: RequestDb, id: string, requesterMustBe?: string, requesterMustNotBe?: string) {
  const found = await readWithExpiry(db, id);
  if (!found) return { code: 'not_found' as const };
  const { request, pastExpiry } = found;
  if (request.status === 'expired') return { code: 'expired' as const, request };
  if (request.status !== 'pending') return { code: 'already_decided' as const, request };
  if (requesterMustNotBe !== undefined && request.requester === requesterMustNotBe) {
    return { code: 'self_approval' as const, request };
  }
  if (requesterMustBe !== undefined && request.requester !== requesterMustBe) {
    return { code: 'not_requester' as const, request };
  }
  if (pastExpiry) return { code: 'expired' as const, request };
  // Unreachable in practice (a request never returns to pending); say "decided" rather than guess.
  return { code: 'already_decided' as const, request };
}

async function createRequest(db: RequestDb, input: CreateRequestInput): Promise<KillRequest> {
  if (!Number.isFinite(input.ttlSeconds) || input.ttlSeconds <= 0) {
    throw new Error('createRequest: ttlSeconds must be a positive number');
  }
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_INSERT_REQUEST, [
      input.cluster,
      input.action,
      JSON.stringify(input.targets),
      input.reason,
      input.requester,
      input.channel,
      input.ttlSeconds,
      input.escalateAfterSeconds,
      input.scope === null ? null : JSON.stringify(input.scope),
      input.quorum ?? null,
    ]);
    const request = toRequest(rows[0]);
    await client.query(SQL_SEAL_REQUEST, [request.id, db.binder.request(request, null)]);
    await db.appendAuditIn(client, {
      requestId: request.id,
      event: 'requested',
      actor: request.requester,
      cluster: request.cluster,
      details: {
        action: request.action,
        reason: request.reason,
        requester: request.requester,
        channel: request.channel,
        expiresAt: request.expiresAt,
        escalateAfterSeconds: request.escalateAfterSeconds,
        scope: request.scope,
        targets: request.targets,
      },
    });
    return request;
  });
}

async function setMessageTs(db: RequestDb, id: string, messageTs: string): Promise<boolean> {
  if (!UUID.test(id)) return false;
  const { rowCount } = await db.pool.query(SQL_SET_MESSAGE_TS, [id, messageTs]);
  return (rowCount ?? 0) > 0;
}

async function get(db: RequestDb, id: string): Promise<KillRequest | null> {
  if (!UUID.test(id)) return null;
  return (await readWithExpiry(db, id))?.request ?? null;
}

async function listPending(db: RequestDb, cluster?: string): Promise<KillRequest[]> {
  const { rows } = await db.pool.query(SQL_LIST_PENDING, [cluster ?? null]);
  return rows.map(toRequest);
}

async function approve(db: RequestDb, id: string, approver: string): Promise<Decision<ApproveCode>> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  const decided = await approveIn(db, id, approver);
  if (decided?.tampered) return { ok: false, code: 'tampered', request: decided.tampered };
  if (decided?.already) return { ok: false, code: 'already_approved', request: decided.already };
  const request = decided?.approved ?? decided?.recorded;
  if (request) return { ok: true, request };
  const why = await whyNot(db, id, undefined, approver);
  if (why.code === 'not_requester') return { ok: false, code: 'already_decided', request: why.request };
  return { ok: false, ...why };
}

async function deny(db: RequestDb, id: string, actor: string): Promise<Decision<DenyCode>> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  const request = await decide(db, SQL_DENY, [id, actor], (r) => ({
    requestId: r.id,
    event: 'denied',
    actor,
    cluster: r.cluster,
    details: { ...requestSummary(r), deniedBy: actor },
  }));
  if (request) return { ok: true, request };
  const why = await whyNot(db, id);
  if (why.code === 'self_approval' || why.code === 'not_requester') {
    return { ok: false, code: 'already_decided', request: why.request };
  }
  return { ok: false, ...why };
}

async function withdraw(db: RequestDb, id: string, actor: string): Promise<Decision<WithdrawCode>> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  const request = await decide(db, SQL_WITHDRAW, [id, actor], (r) => ({
    requestId: r.id,
    event: 'withdrawn',
    actor,
    cluster: r.cluster,
    details: { ...requestSummary(r), withdrawnBy: actor },
  }));
  if (request) return { ok: true, request };
  const why = await whyNot(db, id, actor);
  if (why.code === 'self_approval') return { ok: false, code: 'already_decided', request: why.request };
  return { ok: false, ...why };
}

async function markExecuting(db: RequestDb, id: string): Promise<Decision<MarkExecutingCode>> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  const marked = await markExecutingIn(db, id);
  if (marked?.tampered) return { ok: false, code: 'tampered', request: marked.tampered };
  const request = marked?.executing;
  if (request) return { ok: true, request };
  const found = await readWithExpiry(db, id);
  if (!found) return { ok: false, code: 'not_found' };
  const code = found.request.status === 'approved' ? 'already_executing' : 'not_approved';
  return { ok: false, code, request: found.request };
}

async function finish(
  db: RequestDb,
  id: string,
  status: 'executed' | 'failed',
  result: ExecutionResult,
): Promise<Decision<FinishCode>> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  const request = await decide(db, SQL_FINISH, [id, status, JSON.stringify(result)], (r) => ({
    requestId: r.id,
    event: status,
    actor: null,
    cluster: r.cluster,
    details: { ...requestSummary(r), approver: r.decidedBy, result },
  }));
  if (request) return { ok: true, request };
  const found = await readWithExpiry(db, id);
  if (!found) return { ok: false, code: 'not_found' };
  return { ok: false, code: 'not_approved', request: found.request };
}

async function expireDue(db: RequestDb): Promise<KillRequest[]> {
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_EXPIRE_DUE);
    const expired = rows
      .map(toRequest)
      .sort((a, b) => a.expiresAt.localeCompare(b.expiresAt) || a.id.localeCompare(b.id));
    for (const r of expired) {
      await db.appendAuditIn(client, {
        requestId: r.id,
        event: 'expired',
        actor: null,
        cluster: r.cluster,
        details: { ...requestSummary(r), expiresAt: r.expiresAt },
      });
    }
    return expired;
  });
}

async function findInterrupted(db: RequestDb, olderThanSeconds: number): Promise<KillRequest[]> {
  const { rows } = await db.pool.query(SQL_FIND_INTERRUPTED, [olderThanSeconds]);
  return rows.map(toRequest);
}

async function countByStatus(db: RequestDb): Promise<Record<string, number>> {
  const { rows } = await db.pool.query<{ status: string; n: string }>(SQL_COUNT_BY_STATUS);
  return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
}

/**
 * binder: computes the seal at creation and the binding at approval, and checks the seal before approving and
 * the binding before the executor signals (src/domain/binding.ts). A mismatch is audited as
 * `tampering_detected` in the same transaction and answered with the code `tampered`.
 */
export function createRequestStore(pool: pg.Pool, appendAuditIn: AppendAuditIn, binder: Binder = createBinder(null)) {
  const db: RequestDb = { pool, appendAuditIn, binder };
  return {
    createRequest: (input: CreateRequestInput) => createRequest(db, input),
    setMessageTs: (id: string, messageTs: string) => setMessageTs(db, id, messageTs),
    get: (id: string) => get(db, id),
    listPending: (cluster?: string) => listPending(db, cluster),
    approve: (id: string, approver: string) => approve(db, id, approver),
    deny: (id: string, actor: string) => deny(db, id, actor),
    withdraw: (id: string, actor: string) => withdraw(db, id, actor),
    markExecuting: (id: string) => markExecuting(db, id),
    finish: (id: string, status: 'executed' | 'failed', result: ExecutionResult) => finish(db, id, status, result),
    expireDue: () => expireDue(db),
    findInterrupted: (olderThanSeconds: number) => findInterrupted(db, olderThanSeconds),
    countByStatus: () => countByStatus(db),
  } satisfies RequestStorePort;
}

export type RequestStore = ReturnType<typeof createRequestStore>;
