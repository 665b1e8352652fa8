// The SQL that reads and signals sessions, built for the server's version. Pure: text and parameters,
// always `$n` placeholders, never values spliced into the text. Reviewed like code.
import type { SignalKind, SignalTarget } from '../domain/ports.js';
import type { ListFilters, BulkScope, ReliefScope } from '../domain/types.js';

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/** Server features by version number (server_version_num). */
export function features(versionNum: number) {
  return {
    leaderPid: versionNum >= 130_000,
    queryId: versionNum >= 140_000,
    terminateTimeout: versionNum >= 140_000,
    /** pg_signal_autovacuum_worker: the predefined role that may signal autovacuum workers (PostgreSQL 18). */
    signalAutovacuumRole: versionNum >= 180_000,
  };
}

/**
 * Why the bot's role could never signal this backend, or NULL when it can — the server's own rule
 * (pg_signal_backend() in signalfuncs.c), asked before anyone approves instead of learnt from a refusal:
 * only a superuser may signal a superuser's backend or one without a role; autovacuum workers also yield
 * to pg_signal_autovacuum_worker where it exists (18+); any other role's backend needs pg_signal_backend
 * or membership in that role. pg_roles is readable by every role.
 */
function signalBlocker(versionNum: number): string {
  const autovacuum = features(versionNum).signalAutovacuumRole
    ? `CASE WHEN pg_has_role(current_user, 'pg_signal_autovacuum_worker', 'USAGE') THEN NULL ELSE 'autovacuum_worker' END`
    : `'autovacuum_worker'`;
  return `CASE
      WHEN (SELECT r.rolsuper FROM pg_roles r WHERE r.rolname = current_user) THEN NULL
      WHEN a.backend_type = 'autovacuum worker' THEN ${autovacuum}
      WHEN a.usesysid IS NULL THEN 'no_role'
      WHEN EXISTS (SELECT 1 FROM pg_roles r WHERE r.oid = a.usesysid AND r.rolsuper) THEN 'superuser'
      WHEN NOT pg_has_role(current_user, 'pg_signal_backend', 'USAGE') AND NOT pg_has_role(current_user, a.usesysid, 'USAGE') THEN 'other_role'
    END::text`;
}

// The bot's own connections: this backend, and any backend of the bot's role named `pgsessions`.
const NOT_THE_BOT = `a.pid <> pg_backend_pid()
    AND NOT (a.application_name = 'pgsessions' AND a.usename IS NOT DISTINCT FROM current_user)`;

// Idle in transaction ages from the transaction's start; everything else from the query's start.
const AGE = `extract(epoch FROM (now() - CASE WHEN a.state LIKE 'idle in transaction%' THEN a.xact_start ELSE a.query_start END))::float8`;

/**
 * pg_stat_activity read ONCE per statement (each read builds a row for every backend and joins the role and
 * database catalogs: milliseconds at a few thousand sessions), with each backend's blockers, the number of lock waiters it blocks directly, and its
 * parallel workers. Only lock waits can have blockers, so pg_blocking_pids() — which takes lock-manager
 * locks — is asked only for those.
 */
function activity(versionNum: number): string {
  const workers = features(versionNum).leaderPid
    ? `, workers AS (SELECT leader_pid, count(*) AS n FROM act WHERE backend_type = 'parallel worker' GROUP BY leader_pid)`
    : '';
  return `WITH act AS MATERIALIZED (
    SELECT s.*, CASE WHEN s.wait_event_type = 'Lock' THEN pg_blocking_pids(s.pid) ELSE '{}'::int[] END AS blocked_by
    FROM pg_stat_activity s
  ),
  waiters AS (SELECT blocker, count(*) AS n FROM act, unnest(act.blocked_by) AS blocker GROUP BY blocker)${workers}`;
}

function activityJoins(versionNum: number): string {
  return `LEFT JOIN waiters ON waiters.blocker = a.pid${features(versionNum).leaderPid ? '\n  LEFT JOIN workers w ON w.leader_pid = a.pid' : ''}`;
}

function sessionColumns(versionNum: number): string {
  const f = features(versionNum);
  return `a.pid,
    a.usename::text AS user_name,
    a.datname::text AS database,
    a.application_name AS application,
    CASE WHEN a.client_addr IS NOT NULL THEN host(a.client_addr) || ':' || a.client_port
         WHEN a.client_port = -1 THEN 'local socket' END AS client,
    a.state,
    a.backend_type,
    a.backend_start::text AS backend_start,
    a.xact_start::text AS xact_start,
    a.query_start::text AS query_start,
    ${AGE} AS age_seconds,
    extract(epoch FROM (now() - a.query_start))::float8 AS query_age_seconds,
    extract(epoch FROM (now() - a.xact_start))::float8 AS xact_age_seconds,
    a.wait_event_type,
    a.wait_event,
    a.blocked_by,
    coalesce(waiters.n, 0)::int AS blocking,
    ${f.leaderPid ? 'coalesce(w.n, 0)' : '0'}::int AS parallel_workers,
    ${f.queryId ? 'a.query_id::text' : 'NULL::text'} AS query_id,
    ${signalBlocker(versionNum)} AS signal_blocker,
    a.query`;
}

// Connection use (all client backends, the bot's included) against max_connections minus the reserved ones.
const CONNECTION_USE = `(SELECT json_build_object(
      'total', count(*), 'idle', count(*) FILTER (WHERE c.state = 'idle'),
      'active', count(*) FILTER (WHERE c.state = 'active'),
      'idleInTransaction', count(*) FILTER (WHERE c.state LIKE 'idle in transaction%'),
      'available', current_setting('max_connections')::int - current_setting('superuser_reserved_connections')::int
        - coalesce(nullif(current_setting('reserved_connections', true), '')::int, 0))
    FROM act c WHERE c.backend_type = 'client backend')`;

// The lock a waiting session wants: read from the lock manager only for sessions that wait on a lock.
const WANTED_LOCK = `CASE WHEN cardinality(a.blocked_by) > 0
      THEN (SELECT l.mode FROM pg_locks l WHERE l.pid = a.pid AND NOT l.granted LIMIT 1) END`;

/** The rows of the one read, with their joins: every session query below starts here. */
function fromActivity(versionNum: number): string {
  return `FROM act a
  ${activityJoins(versionNum)}`;
}

/**
 * A standby's recovery, asked only when the listing's header row says pg_is_in_recovery() (all it costs a
 * primary): replay pause, the WAL received but not yet replayed, how old the last replayed transaction is,
 * the WAL receiver's status (NULL: none; 'unknown': the role may not read it), and the startup and
 * walreceiver processes.
 */
export const RECOVERY_SQL = `SELECT json_build_object(
      'paused', pg_is_wal_replay_paused(),
      'bytesBehind', pg_wal_lsn_diff(pg_last_wal_receive_lsn(), pg_last_wal_replay_lsn())::float8,
      'lastReplaySeconds', extract(epoch FROM (now() - pg_last_xact_replay_timestamp()))::float8,
      'receiver', (SELECT coalesce(r.status, 'unknown') FROM pg_stat_wal_receiver r LIMIT 1),
      'processes', (SELECT coalesce(json_agg(json_build_object('pid', p.pid, 'backendType', p.backend_type,
            'ageSeconds', extract(epoch FROM (now() - p.backend_start))::float8,
            'waitEventType', p.wait_event_type, 'waitEvent', p.wait_event) ORDER BY p.backend_type, p.pid), '[]')
          FROM pg_stat_activity p WHERE p.backend_type IN ('startup', 'walreceiver'))
    ) AS recovery
  WHERE pg_is_in_recovery()`;

/**
 * The listing: client backends (never background processes, never parallel workers — they are folded
 * into their leader), not idle unless asked, never the bot's own; sessions that block others first (most
 * blocked first), then longest first. The cluster's connection use and whether it is a standby come once,
 * in a header row that is there even when no session matches (its pid is NULL then).
 */
export function listSessionsQuery(versionNum: number, filters: ListFilters): SqlQuery {
  const text = `${activity(versionNum)},
  listed AS (
    SELECT ${sessionColumns(versionNum)},
      count(*) OVER () AS total_matched
    ${fromActivity(versionNum)}
    WHERE a.backend_type = 'client backend'
      AND ${NOT_THE_BOT}
      AND (CASE WHEN $4::text IS NULL THEN a.state IS DISTINCT FROM 'idle' ELSE a.state = $4 END)
      AND ($1::text IS NULL OR a.datname = $1)
      AND ($2::text IS NULL OR a.usename = $2)
      AND ($3::text IS NULL OR a.application_name = $3)
      AND ($5::float8 IS NULL OR ${AGE} >= $5)
    ORDER BY blocking DESC, age_seconds DESC NULLS LAST, a.pid
    LIMIT $6
  )
  SELECT l.*, h.connection_use, h.in_recovery
  FROM (SELECT ${CONNECTION_USE} AS connection_use, pg_is_in_recovery() AS in_recovery) h
  LEFT JOIN listed l ON true
  ORDER BY l.blocking DESC, l.age_seconds DESC NULLS LAST, l.pid`;
  return {
    text,
    values: [
      filters.database ?? null,
      filters.user ?? null,
      filters.application ?? null,
      filters.state ?? null,
      filters.minSeconds ?? null,
      filters.limit,
    ],
  };
}

/** Sessions in a lock wait, and the sessions they wait on: the raw material of the blocking tree. */
export function blockingQuery(versionNum: number): SqlQuery {
  const text = `${activity(versionNum)},
  s AS (
    SELECT ${sessionColumns(versionNum)},
      ${WANTED_LOCK} AS wanted_lock
    ${fromActivity(versionNum)}
    WHERE a.backend_type = 'client backend' AND ${NOT_THE_BOT}
  )
  SELECT * FROM s
  WHERE cardinality(s.blocked_by) > 0
     OR s.pid IN (SELECT unnest(blocked_by) FROM s)`;
  return { text, values: [] };
}

/** One session by pid, for the typed `cancel PID` / `terminate PID` forms. */
export function sessionByPidQuery(versionNum: number, pid: number): SqlQuery {
  const text = `${activity(versionNum)}
  SELECT ${sessionColumns(versionNum)}
  ${fromActivity(versionNum)}
  WHERE a.pid = $1 AND a.pid <> pg_backend_pid()`;
  return { text, values: [pid] };
}

/** The sessions a `terminate-all db:…` would end, frozen into the request. */
export function bulkTargetsQuery(versionNum: number, scope: BulkScope): SqlQuery {
  const text = `${activity(versionNum)}
  SELECT ${sessionColumns(versionNum)}
  ${fromActivity(versionNum)}
  WHERE a.backend_type = 'client backend'
    AND ${NOT_THE_BOT}
    AND a.datname = $1
    AND ($2::text IS NULL OR a.usename = $2)
    AND ($3::text IS NULL OR a.application_name = $3)
  ORDER BY a.backend_start, a.pid`;
  return { text, values: [scope.database, scope.user ?? null, scope.application ?? null] };
}

/**
 * The sessions a connection storm's relief would end, frozen into the request: one application's client
 * backends (never the bot's, never a walsender or background process) connected by the watcher's look, idle
 * or idle in transaction unless widened to every state. Oldest first.
 */
export function reliefTargetsQuery(versionNum: number, scope: ReliefScope): SqlQuery {
  const text = `${activity(versionNum)}
  SELECT ${sessionColumns(versionNum)}
  ${fromActivity(versionNum)}
  WHERE a.backend_type = 'client backend'
    AND ${NOT_THE_BOT}
    AND a.application_name = $1
    AND a.backend_start <= $2::timestamptz
    AND ($3::boolean OR a.state = 'idle' OR a.state LIKE 'idle in transaction%')
  ORDER BY a.backend_start, a.pid`;
  return { text, values: [scope.application, scope.connectedBy, scope.includeActive] };
}

export function replicationQuery(versionNum: number): SqlQuery {
  const text = `SELECT r.pid,
    r.usename::text AS user_name,
    r.application_name AS application,
    CASE WHEN r.client_addr IS NOT NULL THEN host(r.client_addr) || ':' || r.client_port
         WHEN r.client_port = -1 THEN 'local socket' END AS client,
    r.state,
    r.backend_start::text AS backend_start,
    r.sent_lsn::text AS sent_lsn,
    r.replay_lsn::text AS replay_lsn,
    CASE WHEN r.replay_lsn IS NULL THEN NULL
         ELSE pg_wal_lsn_diff(CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn() ELSE pg_current_wal_lsn() END, r.replay_lsn)::float8
    END AS lag_bytes,
    extract(epoch FROM r.replay_lag)::float8 AS replay_lag_seconds,
    r.sync_state,
    s.slot_name::text AS slot_name,
    ${signalBlocker(versionNum)} AS signal_blocker
  FROM pg_stat_replication r
  JOIN pg_stat_activity a ON a.pid = r.pid
  LEFT JOIN pg_replication_slots s ON s.active_pid = r.pid
  ORDER BY r.application_name, r.pid`;
  return { text, values: [] };
}

/** States in which a backend is running a query that a cancel would interrupt. */
const RUNNING_STATES = `'active', 'fastpath function call'`;

/**
 * Re-check the identity and signal in ONE statement: the function in the select list runs only for a row
 * that passes the WHERE clause, so a session that ended, or whose pid now belongs to another backend, or
 * that moved on to another query, is never signalled in its place. Protected roles and applications and
 * the bot itself are refused here too, not only in the listing.
 * Returns one row (pid, signalled) when the identity matched, none otherwise.
 */
export function signalQuery(
  versionNum: number,
  kind: SignalKind,
  target: SignalTarget,
  guard: { protectedRoles: string[]; protectedApps: string[]; terminateTimeoutMs: number },
): SqlQuery {
  const call =
    kind === 'cancel'
      ? 'pg_cancel_backend(a.pid)'
      : features(versionNum).terminateTimeout
        ? 'pg_terminate_backend(a.pid, $7::bigint)'
        : 'pg_terminate_backend(a.pid)';
  // A cancel names one query: the same query_start, still running. NULL never matches, so a request without
  // a query can never cancel whatever the session runs later; a query that already ended is not "cancelled".
  const query =
    kind === 'cancel'
      ? `a.query_start = $3::timestamptz AND a.state IN (${RUNNING_STATES})`
      : `($3::timestamptz IS NULL OR a.query_start = $3::timestamptz)`;
  const text = `SELECT a.pid, ${call} AS signalled
  FROM pg_stat_activity a
  WHERE a.pid = $1
    AND a.backend_start = $2::timestamptz
    AND ${query}
    AND a.backend_type = $4
    AND ${NOT_THE_BOT}
    AND NOT (coalesce(a.usename::text, '') = ANY ($5::text[]))
    AND NOT (coalesce(a.application_name, '') = ANY ($6::text[]))`;
  const values: unknown[] = [
    target.pid,
    target.backendStart,
    target.queryStart,
    target.backendType,
    guard.protectedRoles,
    guard.protectedApps,
  ];
  if (call.includes('$7')) values.push(guard.terminateTimeoutMs);
  return { text, values };
}

/** Why the bot's role cannot signal one backend (NULL when it can): asked after a refusal to say what would help. */
export function signalBlockerQuery(versionNum: number, pid: number): SqlQuery {
  return {
    text: `SELECT ${signalBlocker(versionNum)} AS signal_blocker FROM pg_stat_activity a WHERE a.pid = $1`,
    values: [pid],
  };
}

/** Is this exact session (and, when given, this exact query) still there, and is it running? */
export function identityQuery(target: SignalTarget): SqlQuery {
  const text = `SELECT a.pid, a.state
  FROM pg_stat_activity a
  WHERE a.pid = $1
    AND a.backend_start = $2::timestamptz
    AND ($3::timestamptz IS NULL OR a.query_start = $3::timestamptz)`;
  return { text, values: [target.pid, target.backendStart, target.queryStart] };
}

/**
 * Sessions the bot may not see: without pg_read_all_stats, other roles' backends show only their pid and
 * role (backend_type and everything else NULL). Background processes have no role, so they don't count.
 */
export const HIDDEN_SESSIONS_SQL = `SELECT count(*)::int AS hidden FROM pg_stat_activity WHERE backend_type IS NULL AND usesysid IS NOT NULL`;

export const SERVER_VERSION_SQL = `SELECT current_setting('server_version_num')::int AS num, current_setting('server_version') AS version`;

/**
 * What the bot's own role may see and do: read at start-up and shown by `/pgsessions status`. The reserved
 * connections (16+) are looked up by name, so the same text runs on older servers (NULL there).
 */
export const ROLE_CAPABILITIES_SQL = `SELECT current_user::text AS role,
    r.rolsuper AS superuser,
    (r.rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')) AS read_all_stats,
    (r.rolsuper OR pg_has_role(current_user, 'pg_signal_backend', 'USAGE')) AS signal_backend,
    (SELECT pg_has_role(current_user, u.oid, 'USAGE') FROM pg_roles u WHERE u.rolname = 'pg_use_reserved_connections') AS use_reserved,
    nullif(current_setting('reserved_connections', true), '')::int AS reserved_connections,
    current_setting('server_version') AS server_version,
    current_setting('server_version_num')::int AS server_version_num
  FROM pg_roles r WHERE r.rolname = current_user`;
