// Break-glass in the state database (migration 019): the requester's lone approval, written in one locked
// transaction that re-checks everything the database can check (pending, not expired, the seal, the time waited
// on its own clock), and the review of each use, read from and written to the audit log.
import type pg from 'pg';
import type { BreakGlassStorePort, BreakGlassUse, WaitedRequest } from '../domain/break-glass.js';
import { mismatchReason, requestTampering, sameBinding, type Binder } from '../domain/binding.js';
import type { AuditEntry } from '../domain/audit.js';
import type { KillRequest } from '../domain/types.js';
import { type AppendAuditIn, requestSummary } from './request-store.js';
import { REQUEST_COLUMNS } from './request-sql.js';
import { utcText as ts } from './sql-text.js';
import { toRequest } from './state-rows.js';
import { inTransaction } from './transaction.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const WAITED = `extract(epoch FROM now() - created_at)::float8 AS waited_seconds, expires_at <= now() AS past_expiry`;

const SQL_WAITED = `SELECT ${REQUEST_COLUMNS}, ${WAITED} FROM pgsessions.requests WHERE id = $1`;

const SQL_LOCK = `SELECT ${REQUEST_COLUMNS}, ${WAITED}, ${ts('now()')} AS now_at
  FROM pgsessions.requests WHERE id = $1 FOR UPDATE`;

/** $1 id, $2 requester, $3 binding, $4 seconds it must have waited (database clock). */
const SQL_BREAK_GLASS = `
  UPDATE pgsessions.requests
  SET status = 'approved', decided_by = $2, decided_at = now(), binding = $3, break_glass = true
  WHERE id = $1 AND status = 'pending' AND expires_at > now() AND requester = $2
    AND created_at + make_interval(secs => $4::double precision) <= now()
  RETURNING ${REQUEST_COLUMNS}`;

const USE_COLUMNS = `b.seq::int AS seq, b.request_id::text AS request_id, b.cluster, b.details->>'requester' AS requester,
  b.details->>'action' AS action, b.details->>'why' AS why, ${ts('b.at')} AS at`;

const SQL_USE_OF = `SELECT ${USE_COLUMNS} FROM pgsessions.audit_log b
  WHERE b.event = 'break_glass' AND b.request_id = $1 ORDER BY b.seq LIMIT 1`;

const SQL_REVIEW_OF = `SELECT actor FROM pgsessions.audit_log
  WHERE event = 'break_glass_reviewed' AND details->>'breakGlassSeq' = $1::text ORDER BY seq LIMIT 1`;

const SQL_UNREVIEWED = `SELECT ${USE_COLUMNS} FROM pgsessions.audit_log b
  WHERE b.event = 'break_glass' AND ($1::text[] IS NULL OR b.cluster = ANY($1::text[]))
    AND NOT EXISTS (SELECT 1 FROM pgsessions.audit_log r
                    WHERE r.event = 'break_glass_reviewed' AND r.details->>'breakGlassSeq' = b.seq::text)
  ORDER BY b.seq DESC LIMIT 200`;

const SQL_LOCK_ROW = 'SELECT id FROM pgsessions.requests WHERE id = $1 FOR UPDATE';

function toUse(row: Record<string, unknown>): BreakGlassUse {
  return {
    seq: Number(row.seq),
    requestId: String(row.request_id ?? ''),
    cluster: String(row.cluster ?? ''),
    requester: String(row.requester ?? ''),
    action: String(row.action ?? ''),
    why: String(row.why ?? ''),
    at: String(row.at ?? ''),
  };
}

function useOfEntry(entry: AuditEntry, request: KillRequest, why: string): BreakGlassUse {
  return {
    seq: entry.seq,
    requestId: request.id,
    cluster: request.cluster,
    requester: request.requester,
    action: request.action,
    why,
    at: entry.at,
  };
}

interface Db {
  pool: pg.Pool;
  appendAuditIn: AppendAuditIn;
  binder: Binder;
}

async function waited(db: Db, id: string): Promise<WaitedRequest | null> {
  if (!UUID.test(id)) return null;
  const { rows } = await db.pool.query(SQL_WAITED, [id]);
  const row = rows[0] as Record<string, unknown> | undefined;
  if (!row) return null;
  return { request: toRequest(row), waitedSeconds: Number(row.waited_seconds), pastExpiry: row.past_expiry === true };
}

async function breakGlass(
  db: Db,
  id: string,
  requester: string,
  afterSeconds: number,
  why: string,
): ReturnType<BreakGlassStorePort['breakGlass']> {
  if (!UUID.test(id)) return { ok: false, code: 'not_found' };
  return inTransaction(db.pool, async (client) => {
    const { rows } = await client.query(SQL_LOCK, [id]);
    const row = rows[0] as Record<string, unknown> | undefined;
    if (!row) return { ok: false, code: 'not_found' } as const;
    const asked = toRequest(row);
    if (asked.status !== 'pending') return { ok: false, code: 'already_decided' } as const;
    if (row.past_expiry === true) return { ok: false, code: 'expired' } as const;
    if (asked.requester !== requester) return { ok: false, code: 'not_requester' } as const;
    // The seal covers created_at: a backdated request no longer matches, and is reported.
    const stored = typeof row.binding === 'string' ? row.binding : null;
    if (!sameBinding(stored, db.binder.request(asked, null))) {
      await db.appendAuditIn(client, requestTampering(asked, 'approval', mismatchReason(stored, db.binder)));
      return { ok: false, code: 'tampered' } as const;
    }
    const waitedSeconds = Number(row.waited_seconds);
    if (!(waitedSeconds >= afterSeconds)) return { ok: false, code: 'too_early' } as const;
    const approval = { approver: requester, approvedAt: String(row.now_at), expiresAt: null, breakGlass: true };
    const binding = db.binder.request(asked, approval);
    const updated = await client.query(SQL_BREAK_GLASS, [id, requester, binding, afterSeconds]);
    if (updated.rows.length === 0) return { ok: false, code: 'too_early' } as const;
    const request = toRequest(updated.rows[0]);
    const entry = await db.appendAuditIn(client, {
      requestId: request.id,
      event: 'break_glass',
      actor: requester,
      cluster: request.cluster,
      details: { ...requestSummary(request), why, waitedSeconds: Math.floor(waitedSeconds), review: 'awaiting' },
    });
    return { ok: true, request, use: useOfEntry(entry, request, why) } as const;
  });
}

async function review(db: Db, requestId: string, reviewer: string): ReturnType<BreakGlassStorePort['review']> {
  if (!UUID.test(requestId)) return { ok: false, code: 'not_found' };
  return inTransaction(db.pool, async (client) => {
    // Two approvers pressing at once: the second waits here, then finds the first one's review.
    await client.query(SQL_LOCK_ROW, [requestId]);
    const { rows } = await client.query(SQL_USE_OF, [requestId]);
    const useRow = rows[0] as Record<string, unknown> | undefined;
    if (!useRow) return { ok: false, code: 'not_found' } as const;
    const use = toUse(useRow);
    const done = await client.query(SQL_REVIEW_OF, [use.seq]);
    if (done.rows.length > 0) return { ok: false, code: 'reviewed', by: String(done.rows[0].actor ?? '') } as const;
    const { rows: requestRows } = await client.query(
      `SELECT ${REQUEST_COLUMNS} FROM pgsessions.requests WHERE id = $1`,
      [requestId],
    );
    const request = toRequest(requestRows[0]);
    await db.appendAuditIn(client, {
      requestId,
      event: 'break_glass_reviewed',
      actor: reviewer,
      cluster: use.cluster,
      details: { ...requestSummary(request), reviewer, breakGlassSeq: use.seq },
    });
    return { ok: true, use } as const;
  });
}

async function listUnreviewed(db: Db, clusters?: string[]): Promise<BreakGlassUse[]> {
  const { rows } = await db.pool.query(SQL_UNREVIEWED, [clusters ?? null]);
  return rows.map(toUse);
}

/** binder: the same one the request store seals and binds with (PGSESSIONS_AUDIT_KEY). */
export function createBreakGlassStore(pool: pg.Pool, appendAuditIn: AppendAuditIn, binder: Binder) {
  const db: Db = { pool, appendAuditIn, binder };
  return {
    waited: (id: string) => waited(db, id),
    breakGlass: (id: string, requester: string, afterSeconds: number, why: string) =>
      breakGlass(db, id, requester, afterSeconds, why),
    review: (requestId: string, reviewer: string) => review(db, requestId, reviewer),
    listUnreviewed: (clusters?: string[]) => listUnreviewed(db, clusters),
  } satisfies BreakGlassStorePort;
}

export type BreakGlassStore = ReturnType<typeof createBreakGlassStore>;
