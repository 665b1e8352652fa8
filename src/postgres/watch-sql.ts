// The watcher's one look at a cluster: ONE statement per interval that reads pg_stat_activity once, the
// lock manager only when someone waits on a lock, connection settings, and walsenders only when a lag
// threshold is set. Pure text and parameters, like session-sql.ts.
import { features, type SqlQuery } from './session-sql.js';

// The bot's own connections are counted for connection use but are never incidents.
const IS_BOT = `(a.pid = pg_backend_pid() OR (a.application_name = 'pgsessions' AND a.usename IS NOT DISTINCT FROM current_user))`;

// A relation's name resolves only in the database the watcher is connected to; elsewhere it stays an OID.
const RELATION_NAME = (alias: string) =>
  `CASE WHEN ${alias}.relation IS NOT NULL AND ${alias}.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        THEN ${alias}.relation::regclass::text END`;

const AVAILABLE = `(current_setting('max_connections')::int
        - current_setting('superuser_reserved_connections')::int
        - coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0))`;

const LOCK_JSON = (alias: string) => `json_build_object(
      'locktype', ${alias}.locktype, 'mode', ${alias}.mode, 'relationOid', ${alias}.relation::int8,
      'relation', ${RELATION_NAME(alias)}, 'transactionId', ${alias}.xid)`;

// Client backends grouped by one of their attributes: the five largest groups, with their counts by state.
const GROUPS = (key: string) => `(SELECT coalesce(json_agg(g), '[]'::json) FROM (
        SELECT ${key} AS name, count(*)::int AS total,
          (count(*) FILTER (WHERE state = 'idle'))::int AS idle,
          (count(*) FILTER (WHERE state LIKE 'idle in transaction%'))::int AS "idleInTransaction",
          (count(*) FILTER (WHERE state = 'active'))::int AS active
        FROM act WHERE NOT is_bot GROUP BY 1 ORDER BY 2 DESC, 1 LIMIT 5) g)`;

/**
 * One row per session worth judging — every client session that is not idle, and any session others wait
 * on — each carrying the look's meta columns (the server's now, connection use, walsenders); one row of
 * meta with NULL session columns when there is none. Rows, not JSON: building JSON for thousands of
 * sessions cost more than the read itself.
 */
export function watchQuery(
  versionNum: number,
  withWalsenders: boolean,
  connectionsShare: number | null = null,
): SqlQuery {
  const f = features(versionNum);
  const text = `WITH act AS MATERIALIZED (
    SELECT a.pid, a.usename::text AS usename, a.datname::text AS datname, a.application_name, a.state,
      a.backend_start, a.xact_start, a.query_start, a.wait_event_type,
      ${f.queryId ? 'a.query_id::text' : 'NULL::text'} AS query_id,
      a.query,
      CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) WHEN a.client_port = -1 THEN 'local socket' ELSE '' END AS client,
      ${IS_BOT} AS is_bot,
      CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) ELSE '{}'::int[] END AS blocked_by
    FROM pg_stat_activity a
    WHERE a.backend_type = 'client backend'
  ),
  blockers AS (SELECT DISTINCT unnest(act.blocked_by) AS pid FROM act),
  locks AS MATERIALIZED (
    SELECT l.pid, l.locktype, l.mode, l.granted, l.database, l.relation, l.transactionid::text AS xid,
      ${f.queryId ? 'l.waitstart' : 'NULL::timestamptz'} AS waitstart
    FROM pg_locks l
    WHERE EXISTS (SELECT 1 FROM blockers)
      AND (NOT l.granted OR l.pid IN (SELECT pid FROM blockers))
  ),
  wants AS (SELECT DISTINCT ON (w.pid) w.* FROM locks w WHERE NOT w.granted ORDER BY w.pid, w.locktype),
  held AS (
    SELECT h.pid, json_agg(${LOCK_JSON('h')}) AS holding
    FROM locks h
    WHERE h.granted AND EXISTS (
      SELECT 1 FROM wants w
      WHERE w.locktype = h.locktype AND w.database IS NOT DISTINCT FROM h.database
        AND w.relation IS NOT DISTINCT FROM h.relation AND w.xid IS NOT DISTINCT FROM h.xid)
    GROUP BY h.pid
  ),
  meta AS (
    SELECT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS at,
      ${AVAILABLE} AS available,
      -- Who holds the connections, only once they pass the alert's share ($1): what a connection storm is made of.
      CASE WHEN $1::float8 IS NOT NULL AND count(*) > $1::float8 * ${AVAILABLE} THEN json_build_object(
        'applications', ${GROUPS('application_name')}, 'users', ${GROUPS("coalesce(usename, '')")}, 'clients', ${GROUPS('client')}) END AS top,
      count(*)::int AS total,
      (count(*) FILTER (WHERE state = 'idle'))::int AS idle,
      (count(*) FILTER (WHERE state = 'active'))::int AS active,
      (count(*) FILTER (WHERE state LIKE 'idle in transaction%'))::int AS idle_in_transaction,
      ${
        withWalsenders
          ? `(SELECT coalesce(json_agg(json_build_object(
        'pid', r.pid, 'backendStart', r.backend_start::text, 'application', r.application_name,
        'lagBytes', CASE WHEN r.replay_lsn IS NULL THEN NULL ELSE pg_wal_lsn_diff(
          CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, r.replay_lsn)::float8 END)), '[]'::json)
       FROM pg_stat_replication r)`
          : `'[]'::json`
      } AS walsenders
    FROM act
  )
  SELECT m.*, s.*
  FROM meta m
  LEFT JOIN LATERAL (
    SELECT a.pid, a.backend_start::text AS backend_start, a.query_start::text AS query_start,
      a.xact_start::text AS xact_start, a.usename, a.datname, a.application_name, a.state, a.query_id, a.query,
      extract(epoch FROM now() - a.query_start)::float8 AS query_age,
      extract(epoch FROM now() - a.xact_start)::float8 AS xact_age,
      a.wait_event_type, a.blocked_by,
      w.locktype AS want_locktype, w.mode AS want_mode, w.relation::int8 AS want_relation_oid,
      ${RELATION_NAME('w')} AS want_relation, w.xid AS want_xid,
      CASE WHEN w.pid IS NOT NULL THEN extract(epoch FROM now() - coalesce(w.waitstart, a.query_start))::float8 END AS wait_seconds,
      h.holding
    FROM act a
    LEFT JOIN wants w ON w.pid = a.pid
    LEFT JOIN held h ON h.pid = a.pid
    WHERE NOT a.is_bot AND (a.state IS DISTINCT FROM 'idle' OR a.pid IN (SELECT pid FROM blockers))
  ) s ON true`;
  return { text, values: [connectionsShare] };
}
