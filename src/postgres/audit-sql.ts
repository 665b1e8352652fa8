// The SQL of pgsessions.audit_log: appends serialised by an advisory lock (the chain has no forks), reads in
// seq order, and what the connected role may do to the table (said at start-up).
import { utcText as ts } from './sql-text.js';

/** Advisory lock key (transaction level) that serialises audit appends, so the hash chain has no forks. */
export const AUDIT_LOCK_KEY = '7246372002';

export const SQL_AUDIT_LOCK = 'SELECT pg_advisory_xact_lock($1::bigint)';

// The seq is drawn from the sequence by this session (migration 007 refuses any other) and hashed with the entry.
export const SQL_AUDIT_NEXT = `
  SELECT nextval(pg_get_serial_sequence('pgsessions.audit_log', 'seq'))::text AS seq, ${ts('clock_timestamp()')} AS at`;

export const SQL_AUDIT_INSERT = `
  WITH entry AS (
    INSERT INTO pgsessions.audit_log (seq, at, request_id, event, actor, cluster, details, prev_hash, hash, hash_alg)
    VALUES ($1, $2::timestamptz, $3, $4, $5, $6, $7::jsonb, $8, $9, $10)
    RETURNING seq)
  INSERT INTO pgsessions.outbox (audit_seq) SELECT seq FROM entry`;

export const AUDIT_COLUMNS = (alias: string): string => `
  ${alias}.seq::text AS seq, ${ts(`${alias}.at`)} AS at, ${alias}.request_id::text AS request_id, ${alias}.event,
  ${alias}.actor, ${alias}.cluster, ${alias}.details, ${alias}.prev_hash, ${alias}.hash, ${alias}.hash_alg`;

export const SQL_READ_AUDIT = `
  SELECT ${AUDIT_COLUMNS('a')} FROM pgsessions.audit_log a WHERE a.seq > $1 ORDER BY a.seq LIMIT $2`;

/**
 * $1 how many: the newest entries, newest first, to choose the one the next entry chains on. A separate
 * statement from the lock, so its snapshot sees the entry committed by the previous lock holder.
 */
/**
 * A seq drawn for the next entry, its time, and the newest entry (all NULL when there is none), in one round
 * trip: usually the newest entry is the one the next chains on. After the lock, so its snapshot sees the
 * entry committed by the previous lock holder.
 */
export const SQL_AUDIT_DRAW = `
  SELECT nextval(pg_get_serial_sequence('pgsessions.audit_log', 'seq'))::text AS next_seq, ${ts('clock_timestamp()')} AS next_at, newest.*
  FROM (SELECT 1) AS one
  LEFT JOIN LATERAL (SELECT ${AUDIT_COLUMNS('a')} FROM pgsessions.audit_log a ORDER BY a.seq DESC LIMIT 1) AS newest ON true`;

export const SQL_AUDIT_NEWEST = `
  SELECT ${AUDIT_COLUMNS('a')} FROM pgsessions.audit_log a ORDER BY a.seq DESC LIMIT $1`;

export const SQL_LAST_AUDIT_ALG = 'SELECT hash_alg FROM pgsessions.audit_log ORDER BY seq DESC LIMIT 1';

// What the connected role could do to the audit log. Ownership (directly or through a role it belongs to)
// or superuser means it can disable the triggers and rewrite anything; UPDATE/DELETE/TRUNCATE privileges
// are stopped only by a trigger its owner can drop.
export const SQL_AUDIT_POWERS = `
  SELECT pg_has_role(current_user, c.relowner, 'MEMBER') AS owns,
         (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
         has_table_privilege(current_user, c.oid, 'UPDATE') AS can_update,
         has_table_privilege(current_user, c.oid, 'DELETE') AS can_delete,
         has_table_privilege(current_user, c.oid, 'TRUNCATE') AS can_truncate,
         current_user AS role
  FROM pg_class c
  WHERE c.oid = 'pgsessions.audit_log'::regclass`;
