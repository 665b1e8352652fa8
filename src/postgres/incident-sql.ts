// The SQL of the incident store (pgsessions.incidents, pgsessions.watch_summaries): named constants, `$n`
// parameters only. Every write is one conditional statement, so two watchers (a leader change) cannot
// open an incident twice or post its message twice; the leader's decisions (open, refresh, clear, claim a
// post) also carry its lease's fencing token and change nothing once another replica has taken over.
import { fenceHolds } from './lease-sql.js';

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const INCIDENT_COLUMNS = `
  id::text AS id, key, cluster, cause, status, incident, ${ts('opened_at')} AS opened_at,
  ${ts('cleared_at')} AS cleared_at, clear_reason, channel, message_ts, version, shown_version, shown_status,
  ${ts('shown_at')} AS shown_at, ${ts('snoozed_until')} AS snoozed_until, snoozed_by,
  (snoozed_until IS NOT NULL AND snoozed_until > now()) AS snoozed,
  (next_post_at <= now()) AS post_due,
  (shown_at IS NULL OR shown_at <= now() - make_interval(secs => $2)) AS update_due`;

/** $1 cluster, $2 seconds between updates: open incidents and those whose message is behind. */
export const SQL_LIVE = `
  SELECT ${INCIDENT_COLUMNS}
  FROM pgsessions.incidents
  WHERE cluster = $1 AND (status = 'open' OR shown_version < version)
  ORDER BY opened_at, id`;

/**
 * $1 key, $2 cluster, $3 cause, $4 incident, $5 channel, $6 reopen window (s), $7 lease token. New: inserted.
 * Cleared within the window: reopened on the same message. Cleared longer ago: a new life, a new message.
 */
export const SQL_OPEN = `
  INSERT INTO pgsessions.incidents AS i (key, cluster, cause, incident, channel)
  SELECT $1, $2, $3, $4::jsonb, $5 WHERE ${fenceHolds('$2', '$7')}
  ON CONFLICT (key) DO UPDATE SET
    status = 'open',
    incident = EXCLUDED.incident,
    version = i.version + 1,
    cleared_at = NULL,
    clear_reason = NULL,
    opened_at = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.opened_at ELSE now() END,
    message_ts = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.message_ts END,
    channel = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.channel ELSE EXCLUDED.channel END,
    shown_version = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.shown_version ELSE 0 END,
    shown_status = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.shown_status END,
    shown_at = CASE WHEN i.cleared_at > now() - make_interval(secs => $6) THEN i.shown_at END
  WHERE i.status = 'cleared'
  RETURNING id::text AS id`;

/** $1 id, $2 incident, $3 cluster, $4 lease token: the latest details of an open incident. */
export const SQL_REFRESH = `
  UPDATE pgsessions.incidents SET incident = $2::jsonb, version = version + 1
  WHERE id = $1 AND status = 'open' AND incident IS DISTINCT FROM $2::jsonb AND cluster = $3 AND ${fenceHolds('$3', '$4')}`;

/** $1 id, $2 reason, $3 cluster, $4 lease token. */
export const SQL_CLEAR = `
  UPDATE pgsessions.incidents SET status = 'cleared', cleared_at = now(), clear_reason = $2::jsonb, version = version + 1
  WHERE id = $1 AND status = 'open' AND cluster = $3 AND ${fenceHolds('$3', '$4')}`;

/**
 * $1 id, $2 cluster, $3 lease token: claim the first post of a message; none while another watcher's post is
 * in flight (2 min), none for a leader whose lease was taken over. (What a post did is recorded unfenced.)
 */
export const SQL_CLAIM_POST = `
  UPDATE pgsessions.incidents SET posting_since = now()
  WHERE id = $1 AND message_ts IS NULL AND next_post_at <= now()
    AND (posting_since IS NULL OR posting_since < now() - interval '2 minutes')
    AND cluster = $2 AND ${fenceHolds('$2', '$3')}
  RETURNING version`;

/** $1 id, $2 ts, $3 version shown, $4 status shown. */
export const SQL_POSTED = `
  UPDATE pgsessions.incidents
  SET message_ts = $2, posting_since = NULL, shown_version = GREATEST(shown_version, $3), shown_status = $4, shown_at = now()
  WHERE id = $1`;

/** $1 id, $2 seconds to wait (Retry-After, or the next look). */
export const SQL_POST_FAILED = `
  UPDATE pgsessions.incidents SET posting_since = NULL, next_post_at = now() + make_interval(secs => $2) WHERE id = $1`;

/** $1 id, $2 version shown, $3 status shown. */
export const SQL_SHOWN = `
  UPDATE pgsessions.incidents SET shown_version = GREATEST(shown_version, $2), shown_status = $3, shown_at = now()
  WHERE id = $1`;

/** $1 id, $2 seconds to wait before the next update. */
export const SQL_UPDATE_FAILED = `UPDATE pgsessions.incidents SET next_post_at = now() + make_interval(secs => $2) WHERE id = $1`;

/** $1 id, $2 minutes, $3 user. */
export const SQL_SNOOZE = `
  UPDATE pgsessions.incidents SET snoozed_until = now() + make_interval(mins => $2), snoozed_by = $3, version = version + 1
  WHERE id = $1
  RETURNING ${INCIDENT_COLUMNS.replace(/\$2/g, '0')}`;

export const SQL_GET = `SELECT ${INCIDENT_COLUMNS.replace(/\$2/g, '0')} FROM pgsessions.incidents WHERE id = $1`;

/**
 * $1 cluster, $2 pid, $3 backend_start: the latest request in the last day that signalled this session —
 * executed, or approved and already signalling (the watcher may look between the signal and the outcome).
 */
export const SQL_EXECUTED_ON = `
  SELECT id::text AS id, action, status, decided_by, targets, result
  FROM pgsessions.requests
  WHERE cluster = $1 AND decided_at > now() - interval '1 day'
    AND (status = 'executed' OR (status = 'approved' AND executing_at IS NOT NULL))
    AND targets @> jsonb_build_array(jsonb_build_object('pid', $2::int, 'backendStart', $3::text))
  ORDER BY decided_at DESC
  LIMIT 1`;

/**
 * $1 cluster, $2 pid, $3 backend_start, $4 the incident's query_start: the latest execution under a rule that
 * relieved this session — a terminate, or a cancel of that very statement — whichever replica executed it.
 */
export const SQL_RULE_EXECUTED_ON = `
  SELECT e.rule_id::text AS rule_id, e.outcome, r.proposer, r.approver
  FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id
  WHERE r.cluster = $1 AND e.pid = $2 AND e.backend_start = $3::timestamptz
    AND NOT e.dry_run
    AND (e.outcome = 'terminated' OR (e.outcome = 'cancelled' AND e.query_start = $4::timestamptz))
  ORDER BY e.finished_at DESC
  LIMIT 1`;

/**
 * The latest bulk cancel ("Request cancel of these N…") that froze one of a storm's sessions while it ran the
 * same query: $1 cluster, $2 the storm's members as JSON [{pid, backendStart, queryStart}].
 */
export const SQL_STORM_REQUEST = `
  SELECT r.id::text AS id, r.status, r.decided_by, r.targets, r.result
  FROM pgsessions.requests r
  WHERE r.cluster = $1 AND r.action = 'cancel_all' AND r.decided_at > now() - interval '1 day'
    AND (r.status IN ('executed', 'failed') OR (r.status = 'approved' AND r.executing_at IS NOT NULL))
    AND EXISTS (
      SELECT 1 FROM jsonb_array_elements($2::jsonb) m
      WHERE r.targets @> jsonb_build_array(jsonb_build_object('pid', m->'pid', 'backendStart', m->'backendStart', 'queryStart', m->'queryStart')))
  ORDER BY r.decided_at DESC
  LIMIT 1`;

export const SQL_SUMMARY = `
  SELECT cluster, channel, message_ts, body, (next_post_at <= now()) AS post_due,
    (shown_at IS NULL OR shown_at <= now() - make_interval(secs => $2)) AS update_due
  FROM pgsessions.watch_summaries WHERE cluster = $1`;

/** $1 cluster, $2 channel, $3 ts, $4 body. */
export const SQL_SUMMARY_SHOWN = `
  INSERT INTO pgsessions.watch_summaries AS s (cluster, channel, message_ts, body, shown_at)
  VALUES ($1, $2, $3, $4, now())
  ON CONFLICT (cluster) DO UPDATE SET channel = EXCLUDED.channel, message_ts = EXCLUDED.message_ts, body = EXCLUDED.body, shown_at = now()`;

/** $1 cluster, $2 channel, $3 seconds. */
export const SQL_SUMMARY_FAILED = `
  INSERT INTO pgsessions.watch_summaries AS s (cluster, channel, next_post_at) VALUES ($1, $2, now() + make_interval(secs => $3))
  ON CONFLICT (cluster) DO UPDATE SET next_post_at = now() + make_interval(secs => $3)`;
