// The SQL of pgsessions.outbox: one row per audit entry, delivered to the audit channel in seq order by one
// instance at a time.
import { AUDIT_COLUMNS } from './audit-sql.js';
import { utcText as ts } from './sql-text.js';

/** Advisory lock key (transaction level) held by the one instance delivering the outbox at a time. */
export const OUTBOX_LOCK_KEY = '7246372003';

export const SQL_OUTBOX_TRY_LOCK = 'SELECT pg_try_advisory_xact_lock($1::bigint) AS locked';

// The head of the queue only: entries reach the audit channel in seq order, a failing one holds back the rest.
export const SQL_OUTBOX_HEAD = `
  SELECT ${AUDIT_COLUMNS('a')}, o.attempts, o.next_attempt_at <= now() AS due, ${ts('o.next_attempt_at')} AS next_attempt_at
  FROM pgsessions.outbox o JOIN pgsessions.audit_log a ON a.seq = o.audit_seq
  WHERE o.delivered_at IS NULL
  ORDER BY o.audit_seq
  LIMIT 1
  FOR UPDATE OF o`;

export const SQL_OUTBOX_DELIVERED = `
  UPDATE pgsessions.outbox SET delivered_at = clock_timestamp(), attempts = attempts + 1
  WHERE audit_seq = $1 AND delivered_at IS NULL
  RETURNING attempts`;

export const SQL_OUTBOX_FAILED = `
  UPDATE pgsessions.outbox
  SET attempts = attempts + 1, last_error = $2, next_attempt_at = clock_timestamp() + make_interval(secs => $3)
  WHERE audit_seq = $1 AND delivered_at IS NULL
  RETURNING attempts`;

export const SQL_OUTBOX_BACKLOG = 'SELECT count(*)::int AS backlog FROM pgsessions.outbox WHERE delivered_at IS NULL';

/** Delivery state of a page of entries, for audit:verify --against-slack. */
export const SQL_OUTBOX_STATUS = `
  SELECT audit_seq::text AS seq, ${ts('delivered_at')} AS delivered_at, attempts, last_error
  FROM pgsessions.outbox WHERE audit_seq > $1 AND audit_seq <= $2`;
