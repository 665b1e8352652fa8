// The SQL of pgsessions.requests. Every decision is one conditional UPDATE, so concurrent clicks, replicas and
// restarts cannot approve or execute anything twice.
import { APPROVERS } from './request-approvals-sql.js';
import { utcText as ts } from './sql-text.js';

export const REQUEST_COLUMNS = `
  id::text AS id, cluster, action, targets, reason, requester, channel, message_ts, status, decided_by,
  ${ts('decided_at')} AS decided_at, ${ts('created_at')} AS created_at, ${ts('expires_at')} AS expires_at,
  escalate_after_seconds, scope, result, binding, quorum,
  ${APPROVERS} AS approvers`;

export const SQL_INSERT_REQUEST = `
  INSERT INTO pgsessions.requests
    (cluster, action, targets, reason, requester, channel, expires_at, escalate_after_seconds, scope, quorum)
  VALUES ($1, $2, $3::jsonb, $4, $5, $6, now() + make_interval(secs => $7), $8, $9::jsonb, coalesce($10::smallint, 1))
  RETURNING ${REQUEST_COLUMNS}`;

export const SQL_SET_MESSAGE_TS = 'UPDATE pgsessions.requests SET message_ts = $2 WHERE id = $1';

export const SQL_GET_REQUEST = `
  SELECT ${REQUEST_COLUMNS}, expires_at <= now() AS past_expiry
  FROM pgsessions.requests WHERE id = $1`;

export const SQL_LIST_PENDING = `
  SELECT ${REQUEST_COLUMNS}
  FROM pgsessions.requests
  WHERE status = 'pending' AND expires_at > now() AND ($1::text IS NULL OR cluster = $1)
  ORDER BY created_at, id`;

/** $1 id, $2 seal: written once, right after the insert, in its transaction. */
export const SQL_SEAL_REQUEST = 'UPDATE pgsessions.requests SET binding = $2 WHERE id = $1 AND binding IS NULL';

/** $1 id: the request as it is, locked for its decision, and the time an approval now would carry (decided_at). */
export const SQL_LOCK_REQUEST = `
  SELECT ${REQUEST_COLUMNS}, ${ts('now()')} AS now_at, expires_at <= now() AS past_expiry
  FROM pgsessions.requests WHERE id = $1 FOR UPDATE`;

/** $1 id, $2 approver, $3 binding (computed with decided_at = now(), this transaction's time). */
export const SQL_APPROVE = `
  UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now(), binding = $3
  WHERE id = $1 AND status = 'pending' AND expires_at > now() AND requester <> $2
  RETURNING ${REQUEST_COLUMNS}`;

export const SQL_DENY = `
  UPDATE pgsessions.requests SET status = 'denied', decided_by = $2, decided_at = now()
  WHERE id = $1 AND status = 'pending' AND expires_at > now()
  RETURNING ${REQUEST_COLUMNS}`;

export const SQL_WITHDRAW = `
  UPDATE pgsessions.requests SET status = 'withdrawn', decided_by = $2, decided_at = now()
  WHERE id = $1 AND status = 'pending' AND expires_at > now() AND requester = $2
  RETURNING ${REQUEST_COLUMNS}`;

export const SQL_MARK_EXECUTING = `
  UPDATE pgsessions.requests SET executing_at = now()
  WHERE id = $1 AND status = 'approved' AND executing_at IS NULL
  RETURNING ${REQUEST_COLUMNS}`;

export const SQL_FINISH = `
  UPDATE pgsessions.requests SET status = $2, result = $3::jsonb, executed_at = now()
  WHERE id = $1 AND status = 'approved'
  RETURNING ${REQUEST_COLUMNS}`;

// SKIP LOCKED: two instances sweeping at once take disjoint rows (no double expiry, no deadlock), and a row
// an approver is deciding right now is left to that decision (the next sweep sees it if still pending).
export const SQL_EXPIRE_DUE = `
  UPDATE pgsessions.requests SET status = 'expired'
  WHERE id IN (
    SELECT id FROM pgsessions.requests
    WHERE status = 'pending' AND expires_at <= now()
    ORDER BY id
    FOR UPDATE SKIP LOCKED)
  RETURNING ${REQUEST_COLUMNS}`;

// Approved with no outcome, long after the decision (or the start of execution, plus any escalation wait).
export const SQL_FIND_INTERRUPTED = `
  SELECT ${REQUEST_COLUMNS}
  FROM pgsessions.requests
  WHERE status = 'approved' AND result IS NULL
    AND coalesce(executing_at, decided_at) + make_interval(secs => coalesce(escalate_after_seconds, 0) + $1::double precision) < now()
  ORDER BY decided_at, id`;

export const SQL_COUNT_BY_STATUS = `SELECT status, count(*) AS n FROM pgsessions.requests GROUP BY status`;
