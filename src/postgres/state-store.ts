// The durable state of pgsessions in the state database (schema `pgsessions`): kill requests under the
// two-person rule, the hash-chained audit log, and the outbox that carries audit entries to Slack.
// Every state change and its audit entry are written in one transaction; every decision is one conditional
// UPDATE, so concurrent clicks, replicas and restarts cannot approve or execute anything twice.
import pg from 'pg';
import { z } from 'zod';
import {
  AUDIT_EVENTS,
  GENESIS_HASH,
  chainHash,
  verifyChain,
  type AuditEntry,
  type AuditEntryInput,
  type ChainVerification,
} from '../domain/audit.js';
import {
  ACTIONS,
  REQUEST_STATUSES,
  TARGET_OUTCOMES,
  type ExecutionResult,
  type KillRequest,
  type TargetSnapshot,
} from '../domain/types.js';

// ---------------------------------------------------------------------------------------------------------
// SQL
// ---------------------------------------------------------------------------------------------------------

/** Advisory lock key (transaction level) that serialises audit appends, so the hash chain has no forks. */
const SQL_COUNT_BY_STATUS = `SELECT status, count(*) AS n FROM pgsessions.requests GROUP BY status`;

export const AUDIT_LOCK_KEY = '7246372002';
/** Advisory lock key (transaction level) held by the one instance delivering the outbox at a time. */
export const OUTBOX_LOCK_KEY = '7246372003';

/** A timestamptz as the server's own text: UTC, microseconds, ISO 8601 (JavaScript Dates would drop microseconds). */
const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

const REQUEST_COLUMNS = `
  id::text AS id, cluster, action, targets, reason, requester, channel, message_ts, status, decided_by,
  ${ts('decided_at')} AS decided_at, ${ts('created_at')} AS created_at, ${ts('expires_at')} AS expires_at,
  escalate_after_seconds, scope, result`;

const SQL_INSERT_REQUEST = `
  INSERT INTO pgsessions.requests
    (cluster, action, targets, reason, requester, channel, expires_at, escalate_after_seconds, scope)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, now() + make_interval(secs => $7), $8, $9::jsonb)
  RETURNING ${REQUEST_COLUMNS}`;

const SQL_SET_MESSAGE_TS = 'UPDATE pgsessions.requests SET message_ts = $2 WHERE id = $1';

const SQL_GET_REQUEST = `
  SELECT ${REQUEST_COLUMNS}, expires_at <= now() AS past_expiry
  FROM pgsessions.requests WHERE id = $1`;

const SQL_LIST_PENDING = `
  SELECT ${REQUEST_COLUMNS}
  FROM pgsessions.requests
  WHERE status = 'pending' AND expires_at > now() AND ($1::text IS NULL OR cluster = $1)
  ORDER BY created_at, id`;

const SQL_APPROVE = `
  UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now()
  WHERE id = $1 AND status = 'pending' AND expires_at > now() AND requester <> $2
  RETURNING ${REQUEST_COLUMNS}`;

const SQL_DENY = `
  UPDATE pgsessions.requests SET status = 'denied', decided_by = $2, decided_at = now()
  WHERE id = $1 AND status = 'pending' AND expires_at > now()
  RETURNING ${REQUEST_COLUMNS}`;

const SQL_WITHDRAW = `
  UPDATE pgsessions.requests SET status = 'withdrawn', decided_by = $2, decided_at = now()
  WHERE id = $1 AND status = 'pending' AND expires_at > now() AND requester = $2
  RETURNING ${REQUEST_COLUMNS}`;

const SQL_MARK_EXECUTING = `
  UPDATE pgsessions.requests SET executing_at = now()
  WHERE id = $1 AND status = 'approved' AND executing_at IS NULL
  RETURNING ${REQUEST_COLUMNS}`;

const SQL_FINISH = `
  UPDATE pgsessions.requests SET status = $2, result = $3::jsonb, executed_at = now()
  WHERE id = $1 AND status = 'approved'
  RETURNING ${REQUEST_COLUMNS}`;

// SKIP LOCKED: two instances sweeping at once take disjoint rows (no double expiry, no deadlock), and a row
// an approver is deciding right now is left to that decision (the next sweep sees it if still pending).
const SQL_EXPIRE_DUE = `
  UPDATE pgsessions.requests SET status = 'expired'
  WHERE id IN (
    SELECT id FROM pgsessions.requests
    WHERE status = 'pending' AND expires_at <= now()
    ORDER BY id
    FOR UPDATE SKIP LOCKED)
  RETURNING ${REQUEST_COLUMNS}`;

// Approved with no outcome, long after the decision (or the start of execution, plus any escalation wait).
const SQL_FIND_INTERRUPTED = `
  SELECT ${REQUEST_COLUMNS}
  FROM pgsessions.requests
  WHERE status = 'approved' AND result IS NULL
    AND coalesce(executing_at, decided_at) + make_interval(secs => coalesce(escalate_after_seconds, 0) + $1::double precision) < now()
  ORDER BY decided_at, id`;

const SQL_AUDIT_LOCK = 'SELECT pg_advisory_xact_lock($1::bigint)';

// A separate statement from the lock, so its snapshot sees the entry committed by the previous lock holder.
const SQL_AUDIT_NEXT = `
  SELECT nextval(pg_get_serial_sequence('pgsessions.audit_log', 'seq'))::text AS seq,
         ${ts('clock_timestamp()')} AS at,
         (SELECT hash FROM pgsessions.audit_log ORDER BY seq DESC LIMIT 1) AS prev_hash`;

const SQL_AUDIT_INSERT = `
  WITH entry AS (
    INSERT INTO pgsessions.audit_log (seq, at, request_id, event, actor, cluster, details, prev_hash, hash)
    VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7::jsonb, $8, $9)
    RETURNING seq)
  INSERT INTO pgsessions.outbox (audit_seq) SELECT seq FROM entry`;

const AUDIT_COLUMNS = (alias: string): string => `
  ${alias}.seq::text AS seq, ${ts(`${alias}.at`)} AS at, ${alias}.request_id::text AS request_id, ${alias}.event,
  ${alias}.actor, ${alias}.cluster, ${alias}.details, ${alias}.prev_hash, ${alias}.hash`;

const SQL_READ_AUDIT = `
  SELECT ${AUDIT_COLUMNS('a')} FROM pgsessions.audit_log a WHERE a.seq > $1 ORDER BY a.seq LIMIT $2`;

const SQL_OUTBOX_TRY_LOCK = 'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked';

// The head of the queue only: entries reach the audit channel in seq order, a failing one holds back the rest.
const SQL_OUTBOX_HEAD = `
  SELECT ${AUDIT_COLUMNS('a')}, o.attempts, o.next_attempt_at <= now() AS due, ${ts('o.next_attempt_at')} AS next_attempt_at
  FROM pgsessions.outbox o JOIN pgsessions.audit_log a ON a.seq = o.audit_seq
  WHERE o.delivered_at IS NULL
  ORDER BY o.audit_seq
  LIMIT 1
  FOR UPDATE OF o`;

const SQL_OUTBOX_CLAIM = `
  WITH due AS (
    SELECT audit_seq FROM pgsessions.outbox
    WHERE delivered_at IS NULL AND next_attempt_at <= now()
    ORDER BY audit_seq
    LIMIT $1
    FOR UPDATE SKIP LOCKED)
  UPDATE pgsessions.outbox o SET next_attempt_at = now() + make_interval(secs => $2)
  FROM due, pgsessions.audit_log a
  WHERE o.audit_seq = due.audit_seq AND a.seq = o.audit_seq
  RETURNING ${AUDIT_COLUMNS('a')}`;

const SQL_OUTBOX_DELIVERED = `
  UPDATE pgsessions.outbox SET delivered_at = clock_timestamp(), attempts = attempts + 1
  WHERE audit_seq = $1 AND delivered_at IS NULL
  RETURNING attempts`;

const SQL_OUTBOX_FAILED = `
  UPDATE pgsessions.outbox
  SET attempts = attempts + 1, last_error = $2, next_attempt_at = clock_timestamp() + make_interval(secs => $3)
  WHERE audit_seq = $1 AND delivered_at IS NULL
  RETURNING attempts`;

const SQL_OUTBOX_BACKLOG = 'SELECT count(*)::int AS backlog FROM pgsessions.outbox WHERE delivered_at IS NULL';

// ---------------------------------------------------------------------------------------------------------
// Rows, checked at the boundary
// ---------------------------------------------------------------------------------------------------------

const nullableString = z.string().nullable();

const TargetSnapshotSchema = z.object({
  pid: z.number().int(),
  backendStart: z.string(),
  queryStart: nullableString,
  xactStart: nullableString,
  backendType: z.string(),
  user: nullableString,
  database: nullableString,
  application: nullableString,
  client: nullableString,
  state: nullableString,
  query: nullableString,
});

const ExecutionResultSchema = z.object({
  outcomes: z.array(
    z.object({ pid: z.number().int(), outcome: z.enum(TARGET_OUTCOMES), message: z.string().optional() }),
  ),
  unreachable: z.boolean().optional(),
  interrupted: z.boolean().optional(),
  message: z.string().optional(),
});

const ScopeSchema = z.object({
  database: z.string().optional(),
  user: z.string().optional(),
  application: z.string().optional(),
});

const RequestRowSchema = z.object({
  id: z.string(),
  cluster: z.string(),
  action: z.enum(ACTIONS),
  targets: z.array(TargetSnapshotSchema),
  reason: z.string(),
  requester: z.string(),
  channel: z.string(),
  message_ts: nullableString,
  status: z.enum(REQUEST_STATUSES),
  decided_by: nullableString,
  decided_at: nullableString,
  created_at: z.string(),
  expires_at: z.string(),
  escalate_after_seconds: z.number().int().nullable(),
  scope: ScopeSchema.nullable(),
  result: ExecutionResultSchema.nullable(),
});

const AuditRowSchema = z.object({
  seq: z.string().regex(/^\d+$/),
  at: z.string(),
  request_id: nullableString,
  event: z.enum(AUDIT_EVENTS),
  actor: nullableString,
  cluster: nullableString,
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
});

function toRequest(row: unknown): KillRequest {
  const parsed = RequestRowSchema.safeParse(row);
  if (!parsed.success) {
    throw new Error(`pgsessions.requests: malformed row: ${z.prettifyError(parsed.error)}`);
  }
  const r = parsed.data;
  return {
    id: r.id,
    cluster: r.cluster,
    action: r.action,
    targets: r.targets,
    reason: r.reason,
    requester: r.requester,
    channel: r.channel,
    messageTs: r.message_ts,
    status: r.status,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    escalateAfterSeconds: r.escalate_after_seconds,
    scope: r.scope,
    result: r.result,
  };
}

function toAuditEntry(row: unknown): AuditEntry {
  const parsed = AuditRowSchema.safeParse(row);
  if (!parsed.success) {
    throw new Error(`pgsessions.audit_log: malformed row: ${z.prettifyError(parsed.error)}`);
  }
  const r = parsed.data;
  return {
    seq: Number(r.seq),
    at: r.at,
    requestId: r.request_id,
    event: r.event,
    actor: r.actor,
    cluster: r.cluster,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
  };
}

// ---------------------------------------------------------------------------------------------------------
// The store
// ---------------------------------------------------------------------------------------------------------

export type CreateRequestInput = Omit<
  KillRequest,
  'id' | 'status' | 'decidedBy' | 'decidedAt' | 'createdAt' | 'messageTs' | 'result' | 'expiresAt'
> & { ttlSeconds: number };

export type ApproveResult =
  | { ok: true; request: KillRequest }
  | { ok: false; code: 'not_found' | 'self_approval' | 'already_decided' | 'expired'; request?: KillRequest };
export type DenyResult =
  | { ok: true; request: KillRequest }
  | { ok: false; code: 'not_found' | 'already_decided' | 'expired'; request?: KillRequest };
export type WithdrawResult =
  | { ok: true; request: KillRequest }
  | { ok: false; code: 'not_found' | 'not_requester' | 'already_decided' | 'expired'; request?: KillRequest };
/** not_approved: not (or no longer) approved. already_executing: another executor announced it first. */
export type MarkExecutingResult =
  | { ok: true; request: KillRequest }
  | { ok: false; code: 'not_found' | 'not_approved' | 'already_executing'; request?: KillRequest };
export type FinishResult =
  | { ok: true; request: KillRequest }
  | { ok: false; code: 'not_found' | 'not_approved'; request?: KillRequest };

export interface OutboxItem {
  seq: number;
  entry: AuditEntry;
}

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

export interface StateStore {
  createRequest(input: CreateRequestInput): Promise<KillRequest>;
  /** Records the ts of the approval message; false when there is no such request. */
  setMessageTs(id: string, ts: string): Promise<boolean>;
  get(id: string): Promise<KillRequest | null>;
  /** Pending and not yet past expiry, oldest first. */
  listPending(cluster?: string): Promise<KillRequest[]>;
  approve(id: string, approver: string): Promise<ApproveResult>;
  deny(id: string, actor: string): Promise<DenyResult>;
  withdraw(id: string, actor: string): Promise<WithdrawResult>;
  /** Announces, once, that the signal is about to be sent; writes the `executing` audit entry. */
  markExecuting(id: string, details?: Record<string, unknown>): Promise<MarkExecutingResult>;
  finish(id: string, status: 'executed' | 'failed', result: ExecutionResult): Promise<FinishResult>;
  expireDue(): Promise<KillRequest[]>;
  findInterrupted(olderThanSeconds: number): Promise<KillRequest[]>;
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  readAudit(afterSeq?: number, limit?: number): Promise<AuditEntry[]>;
  verifyAudit(): Promise<ChainVerification>;
  /** Leases up to `limit` due entries for leaseSeconds (other claimers skip them); then markDelivered/markFailed. */
  claimOutbox(limit: number, leaseSeconds?: number): Promise<OutboxItem[]>;
  markDelivered(seq: number): Promise<void>;
  markFailed(seq: number, error: unknown, retryAfterSeconds: number): Promise<void>;
  /** Delivers the head of the outbox, holding its lock while post() runs. */
  deliverNext(post: (entry: AuditEntry) => Promise<void>, options?: DeliverOptions): Promise<DeliverResult>;
  outboxBacklog(): Promise<number>;
  /** How many requests are in each status. */
  countByStatus(): Promise<Record<string, number>>;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const MAX_ERROR_TEXT = 1000;

/** 1s, 2s, 4s … capped at 5 minutes. */
export function defaultRetryDelaySeconds(_error: unknown, attempts: number): number {
  return Math.min(300, 2 ** Math.max(0, attempts - 1));
}

export function describeError(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}

async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no pool error listener: without this, a connection lost while idle in the
  // transaction (say, during a slow post to Slack) would be an uncaught 'error' event and end the process.
  // The failure still surfaces as the rejection of the next query.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    try {
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Appends one entry to the chain inside the caller's transaction (which must commit for it to count). */
async function appendAuditIn(client: pg.PoolClient, input: AuditEntryInput): Promise<AuditEntry> {
  // Normalise to what jsonb will give back, so the hash computed now is the hash verification recomputes.
  const details = JSON.parse(JSON.stringify(input.details ?? {})) as Record<string, unknown>;
  await client.query(SQL_AUDIT_LOCK, [AUDIT_LOCK_KEY]);
  const next = await client.query<{ seq: string; at: string; prev_hash: string | null }>(SQL_AUDIT_NEXT);
  const row = next.rows[0];
  if (!row) throw new Error('pgsessions.audit_log: could not allocate a sequence value');
  const prevHash = row.prev_hash ?? GENESIS_HASH;
  const fields = {
    seq: Number(row.seq),
    at: row.at,
    requestId: input.requestId ?? null,
    event: input.event,
    actor: input.actor ?? null,
    cluster: input.cluster ?? null,
    details,
  };
  const hash = chainHash(prevHash, fields);
  await client.query(SQL_AUDIT_INSERT, [
    row.seq,
    fields.at,
    fields.requestId,
    fields.event,
    fields.actor,
    fields.cluster,
    JSON.stringify(details),
    prevHash,
    hash,
  ]);
  return { ...fields, prevHash, hash };
}

/** The session as the audit names it: enough to identify it, without the query text. */
function briefTarget(t: TargetSnapshot): Record<string, unknown> {
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

function requestSummary(r: KillRequest): Record<string, unknown> {
  return { action: r.action, reason: r.reason, requester: r.requester, targets: r.targets.map(briefTarget) };
}

export function createStateStore(pool: pg.Pool): StateStore {
  async function readWithExpiry(id: string): Promise<{ request: KillRequest; pastExpiry: boolean } | null> {
    const { rows } = await pool.query(SQL_GET_REQUEST, [id]);
    const row = rows[0] as Record<string, unknown> | undefined;
    if (!row) return null;
    return { request: toRequest(row), pastExpiry: row.past_expiry === true };
  }

  /** One conditional UPDATE and, when it changed the row, its audit entry: both or neither. */
  async function decide(
    sql: string,
    id: string,
    actor: string,
    audit: (request: KillRequest) => AuditEntryInput,
  ): Promise<KillRequest | null> {
    return inTransaction(pool, async (client) => {
      const { rows } = await client.query(sql, [id, actor]);
      if (rows.length === 0) return null;
      const request = toRequest(rows[0]);
      await appendAuditIn(client, audit(request));
      return request;
    });
  }

  /** Why a decision did not apply, read after the fact. */
  async function whyNot(id: string, requesterMustBe?: string, requesterMustNotBe?: string) {
    const found = await readWithExpiry(id);
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

  return {
    async createRequest(input) {
      if (!Number.isFinite(input.ttlSeconds) || input.ttlSeconds <= 0) {
        throw new Error('createRequest: ttlSeconds must be a positive number');
      }
      return inTransaction(pool, async (client) => {
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
        ]);
        const request = toRequest(rows[0]);
        await appendAuditIn(client, {
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
    },

    async setMessageTs(id, messageTs) {
      if (!UUID.test(id)) return false;
      const { rowCount } = await pool.query(SQL_SET_MESSAGE_TS, [id, messageTs]);
      return (rowCount ?? 0) > 0;
    },

    async get(id) {
      if (!UUID.test(id)) return null;
      return (await readWithExpiry(id))?.request ?? null;
    },

    async listPending(cluster) {
      const { rows } = await pool.query(SQL_LIST_PENDING, [cluster ?? null]);
      return rows.map(toRequest);
    },

    async approve(id, approver) {
      if (!UUID.test(id)) return { ok: false, code: 'not_found' };
      const request = await decide(SQL_APPROVE, id, approver, (r) => ({
        requestId: r.id,
        event: 'approved',
        actor: approver,
        cluster: r.cluster,
        details: { ...requestSummary(r), approver },
      }));
      if (request) return { ok: true, request };
      const why = await whyNot(id, undefined, approver);
      if (why.code === 'not_requester') return { ok: false, code: 'already_decided', request: why.request };
      return { ok: false, ...why };
    },

    async deny(id, actor) {
      if (!UUID.test(id)) return { ok: false, code: 'not_found' };
      const request = await decide(SQL_DENY, id, actor, (r) => ({
        requestId: r.id,
        event: 'denied',
        actor,
        cluster: r.cluster,
        details: { ...requestSummary(r), deniedBy: actor },
      }));
      if (request) return { ok: true, request };
      const why = await whyNot(id);
      if (why.code === 'self_approval' || why.code === 'not_requester') {
        return { ok: false, code: 'already_decided', request: why.request };
      }
      return { ok: false, ...why };
    },

    async withdraw(id, actor) {
      if (!UUID.test(id)) return { ok: false, code: 'not_found' };
      const request = await decide(SQL_WITHDRAW, id, actor, (r) => ({
        requestId: r.id,
        event: 'withdrawn',
        actor,
        cluster: r.cluster,
        details: { ...requestSummary(r), withdrawnBy: actor },
      }));
      if (request) return { ok: true, request };
      const why = await whyNot(id, actor);
      if (why.code === 'self_approval') return { ok: false, code: 'already_decided', request: why.request };
      return { ok: false, ...why };
    },

    async markExecuting(id, details = {}) {
      if (!UUID.test(id)) return { ok: false, code: 'not_found' };
      const request = await inTransaction(pool, async (client) => {
        const { rows } = await client.query(SQL_MARK_EXECUTING, [id]);
        if (rows.length === 0) return null;
        const r = toRequest(rows[0]);
        await appendAuditIn(client, {
          requestId: r.id,
          event: 'executing',
          actor: null,
          cluster: r.cluster,
          details: { ...details, ...requestSummary(r), approver: r.decidedBy },
        });
        return r;
      });
      if (request) return { ok: true, request };
      const found = await readWithExpiry(id);
      if (!found) return { ok: false, code: 'not_found' };
      const code = found.request.status === 'approved' ? 'already_executing' : 'not_approved';
      return { ok: false, code, request: found.request };
    },

    async finish(id, status, result) {
      if (!UUID.test(id)) return { ok: false, code: 'not_found' };
      const request = await inTransaction(pool, async (client) => {
        const { rows } = await client.query(SQL_FINISH, [id, status, JSON.stringify(result)]);
        if (rows.length === 0) return null;
        const r = toRequest(rows[0]);
        await appendAuditIn(client, {
          requestId: r.id,
          event: status,
          actor: null,
          cluster: r.cluster,
          details: { ...requestSummary(r), approver: r.decidedBy, result },
        });
        return r;
      });
      if (request) return { ok: true, request };
      const found = await readWithExpiry(id);
      if (!found) return { ok: false, code: 'not_found' };
      return { ok: false, code: 'not_approved', request: found.request };
    },

    async expireDue() {
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query(SQL_EXPIRE_DUE);
        const expired = rows.map(toRequest).sort((a, b) => a.expiresAt.localeCompare(b.expiresAt) || a.id.localeCompare(b.id));
        for (const r of expired) {
          await appendAuditIn(client, {
            requestId: r.id,
            event: 'expired',
            actor: null,
            cluster: r.cluster,
            details: { ...requestSummary(r), expiresAt: r.expiresAt },
          });
        }
        return expired;
      });
    },

    async findInterrupted(olderThanSeconds) {
      const { rows } = await pool.query(SQL_FIND_INTERRUPTED, [olderThanSeconds]);
      return rows.map(toRequest);
    },

    async appendAudit(entry) {
      return inTransaction(pool, (client) => appendAuditIn(client, entry));
    },

    async readAudit(afterSeq = 0, limit = 100) {
      const { rows } = await pool.query(SQL_READ_AUDIT, [afterSeq, limit]);
      return rows.map(toAuditEntry);
    },

    async verifyAudit() {
      const pageSize = 1000;
      let prevHash = GENESIS_HASH;
      let afterSeq = 0;
      let count = 0;
      for (;;) {
        const { rows } = await pool.query(SQL_READ_AUDIT, [afterSeq, pageSize]);
        const page = rows.map(toAuditEntry);
        const verdict = verifyChain(page, prevHash);
        if (!verdict.ok) return verdict;
        count += verdict.count;
        const last = page[page.length - 1];
        if (!last || page.length < pageSize) return { ok: true, count };
        prevHash = last.hash;
        afterSeq = last.seq;
      }
    },

    async claimOutbox(limit, leaseSeconds = 60) {
      const { rows } = await pool.query(SQL_OUTBOX_CLAIM, [limit, leaseSeconds]);
      return rows
        .map(toAuditEntry)
        .sort((a, b) => a.seq - b.seq)
        .map((entry) => ({ seq: entry.seq, entry }));
    },

    async markDelivered(seq) {
      await pool.query(SQL_OUTBOX_DELIVERED, [seq]);
    },

    async markFailed(seq, error, retryAfterSeconds) {
      await pool.query(SQL_OUTBOX_FAILED, [seq, describeError(error), Math.max(0, retryAfterSeconds)]);
    },

    async deliverNext(post, options = {}) {
      const retryDelaySeconds = options.retryDelaySeconds ?? defaultRetryDelaySeconds;
      return inTransaction(pool, async (client): Promise<DeliverResult> => {
        const lock = await client.query<{ locked: boolean }>(SQL_OUTBOX_TRY_LOCK, [OUTBOX_LOCK_KEY]);
        if (lock.rows[0]?.locked !== true) return { status: 'busy' };
        const { rows } = await client.query(SQL_OUTBOX_HEAD);
        const row = rows[0] as Record<string, unknown> | undefined;
        if (!row) return { status: 'idle' };
        const entry = toAuditEntry(row);
        if (row.due !== true) return { status: 'waiting', seq: entry.seq, nextAttemptAt: String(row.next_attempt_at) };
        try {
          await post(entry);
        } catch (error) {
          const attempts = Number(row.attempts) + 1;
          const retryAfterSeconds = Math.max(0, retryDelaySeconds(error, attempts));
          await client.query(SQL_OUTBOX_FAILED, [entry.seq, describeError(error), retryAfterSeconds]);
          return { status: 'failed', seq: entry.seq, attempts, error, retryAfterSeconds };
        }
        const done = await client.query<{ attempts: number }>(SQL_OUTBOX_DELIVERED, [entry.seq]);
        return { status: 'delivered', seq: entry.seq, attempts: done.rows[0]?.attempts ?? Number(row.attempts) + 1 };
      });
    },

    async countByStatus() {
      const { rows } = await pool.query<{ status: string; n: string }>(SQL_COUNT_BY_STATUS);
      return Object.fromEntries(rows.map((row) => [row.status, Number(row.n)]));
    },
    async outboxBacklog() {
      const { rows } = await pool.query<{ backlog: number }>(SQL_OUTBOX_BACKLOG);
      return rows[0]?.backlog ?? 0;
    },
  };
}
