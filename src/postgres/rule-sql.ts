// The SQL of the rule store (pgsessions.rules, pgsessions.rule_executions): named constants, `$n` parameters
// only. Every decision is one conditional UPDATE; an execution is claimed by an INSERT on a unique key and
// a slot reserved by an UPDATE that re-checks status, cap and expiry — both in one transaction, before any signal.

import { fenceHolds } from './lease-sql.js';
import { RULE_QUORUM_COLUMNS } from './rule-approvals-sql.js';

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const RULE_COLUMNS = `
  id::text AS id, cluster, spec, status, proposer, approver, ended_by, channel, message_ts,
  ${ts('created_at')} AS created_at, ${ts('proposal_expires_at')} AS proposal_expires_at,
  ${ts('expires_at')} AS expires_at, used, last_execution, ${ts('approved_at')} AS approved_at, binding,
  ${RULE_QUORUM_COLUMNS}`;

/** $1 cluster, $2 spec, $3 action, $4 cause, $5 dry run, $6 reason, $7 proposer, $8 channel, $9 proposal ttl (s), $10 lifetime (s), $11 max, $12 quorum. */
export const SQL_INSERT_RULE = `
  INSERT INTO pgsessions.rules (cluster, spec, action, cause, dry_run, reason, proposer, channel, proposal_expires_at, lifetime_seconds, max_executions, quorum)
  VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9), $10, $11, $12)
  RETURNING ${RULE_COLUMNS}`;

export const SQL_GET_RULE = `SELECT ${RULE_COLUMNS} FROM pgsessions.rules WHERE id = $1`;

export const SQL_SET_RULE_MESSAGE = `UPDATE pgsessions.rules SET message_ts = $2 WHERE id = $1`;

/** $1 id, $2 seal: written once, right after the insert, in its transaction. */
export const SQL_SEAL_RULE = 'UPDATE pgsessions.rules SET binding = $2 WHERE id = $1 AND binding IS NULL';

/**
 * $1 id, $2 lifetime (s): the rule locked for its decision, with the approval time and expiry an approval now
 * would write (this transaction's now(), as SQL_APPROVE_RULE writes them), for its binding.
 */
export const SQL_LOCK_RULE = `
  SELECT ${RULE_COLUMNS}, ${ts('now()')} AS now_at, ${ts('(now() + make_interval(secs => $2))')} AS expires_if_approved
  FROM pgsessions.rules WHERE id = $1 FOR UPDATE`;

/**
 * $1 id, $2 approver, $3 lifetime (s) from the sealed definition, $4 binding: a live proposal, by someone
 * else; the lifetime starts now.
 */
export const SQL_APPROVE_RULE = `
  UPDATE pgsessions.rules
  SET status = 'approved', approver = $2, approved_at = now(), expires_at = now() + make_interval(secs => $3), binding = $4
  WHERE id = $1 AND status = 'proposed' AND proposer <> $2 AND proposal_expires_at > now()
  RETURNING ${RULE_COLUMNS}`;

/** $1 id, $2 who, $3 new status: deny and withdraw end a proposal. */
export const SQL_END_PROPOSAL = `
  UPDATE pgsessions.rules SET status = $3, ended_by = $2, ended_at = now()
  WHERE id = $1 AND status = 'proposed'
  RETURNING ${RULE_COLUMNS}`;

/**
 * $1 id, $2 who: a proposal or an approved rule ends now. ended_at is the moment the row is revoked (after
 * any claim holding the row has committed), not the start of the transaction: every execution claimed
 * before the revoke has claimed_at < ended_at.
 */
export const SQL_REVOKE_RULE = `
  UPDATE pgsessions.rules SET status = 'revoked', ended_by = $2, ended_at = clock_timestamp()
  WHERE id = $1 AND status IN ('proposed', 'approved')
  RETURNING ${RULE_COLUMNS}`;

/** Approved rules past their lifetime, proposals nobody decided in time. */
export const SQL_EXPIRE_RULES = `
  UPDATE pgsessions.rules SET status = 'expired', ended_at = now()
  WHERE (status = 'approved' AND expires_at <= now()) OR (status = 'proposed' AND proposal_expires_at <= now())
  RETURNING ${RULE_COLUMNS}`;

/** $1 cluster (NULL: all): proposed and approved rules. */
export const SQL_LIVE_RULES = `
  SELECT ${RULE_COLUMNS} FROM pgsessions.rules
  WHERE status IN ('proposed', 'approved') AND ($1::text IS NULL OR cluster = $1)
  ORDER BY created_at, id`;

/** $1 cluster: the rules the watcher applies now. */
export const SQL_ACTIVE_RULES = `
  SELECT ${RULE_COLUMNS} FROM pgsessions.rules
  WHERE cluster = $1 AND status = 'approved' AND expires_at > now()
  ORDER BY created_at, id`;

/**
 * $1 rule, $2 pid, $3 backend_start, $4 query_start, $5 dry run, $6 target, $7 cluster, $8 the watcher's lease
 * token: the claim; nothing back when already claimed, or when the lease was taken over (a stale leader).
 */
export const SQL_CLAIM_EXECUTION = `
  INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target)
  SELECT $1, $2, $3::timestamptz, $4::timestamptz, $5, $6::jsonb
  WHERE $8::text IS NULL OR ${fenceHolds('$7', '$8')}
  ON CONFLICT ON CONSTRAINT rule_executions_once DO NOTHING
  RETURNING id::text AS id`;

/**
 * $1 rule: its row locked, before a claim or a settlement counts its executions. Every claim and outcome of one
 * rule is serialised here, and the count that follows (a statement of its own, so a snapshot taken after the
 * lock) sees every other one committed.
 */
export const SQL_LOCK_RULE_ROW = 'SELECT id FROM pgsessions.rules WHERE id = $1 FOR UPDATE';

/**
 * $1 rule: each of its executions with its outcome and the outcome's MAC. The cap counts these rows (claims,
 * less slots given back with a MAC), never rules.used: the runtime role may write that column (migration 009).
 */
export const SQL_RULE_EXECUTION_OUTCOMES = `
  SELECT id::text AS id, outcome, outcome_binding FROM pgsessions.rule_executions WHERE rule_id = $1`;

/**
 * $1 rule, $2 last execution, $3 the count with this claim: a slot reserved against the cap only while the
 * rule still holds (approved, unexpired, the count within max) — a revoke, expiry or the last free slot taken
 * first makes this return nothing. used is written for display. The rule does not end here: a slot given back
 * by finish (nothing was signalled) may be used again.
 */
export const SQL_RESERVE_EXECUTION = `
  UPDATE pgsessions.rules
  SET used = $3, last_execution = $2::jsonb
  WHERE id = $1 AND status = 'approved' AND $3 <= max_executions AND expires_at > now()
  RETURNING ${RULE_COLUMNS}`;

/** $1 execution id, $2 outcome, $3 its MAC: only an execution nobody finished or reconciled yet; its rule back. */
export const SQL_FINISH_EXECUTION = `
  UPDATE pgsessions.rule_executions SET outcome = $2, outcome_binding = $3, finished_at = now()
  WHERE id = $1::uuid AND outcome IS NULL
  RETURNING rule_id::text AS rule_id`;

/** $1 execution id: the rule it was claimed under, its outcome and the outcome's MAC. */
export const SQL_EXECUTION_RULE = `SELECT rule_id::text AS rule_id, outcome, outcome_binding FROM pgsessions.rule_executions WHERE id = $1::uuid`;

/**
 * $1 rule, $2 last execution (with its outcome), $3 the count of its executions, read under the row lock
 * (SQL_LOCK_RULE_ROW): a slot given back shows as a lower count.
 */
export const SQL_SETTLE_EXECUTION = `
  UPDATE pgsessions.rules
  SET last_execution = $2::jsonb, used = LEAST($3::integer, max_executions)
  WHERE id = $1
  RETURNING ${RULE_COLUMNS}`;

/**
 * $1 rule, $2 the count of its executions: ends it at its cap once nothing of it is still in flight; nothing
 * back when it goes on (or already ended).
 */
export const SQL_EXHAUST_RULE = `
  UPDATE pgsessions.rules r SET status = 'exhausted', ended_at = now()
  WHERE r.id = $1 AND r.status = 'approved' AND $2::integer >= r.max_executions
    AND NOT EXISTS (SELECT 1 FROM pgsessions.rule_executions e WHERE e.rule_id = r.id AND e.outcome IS NULL)
  RETURNING ${RULE_COLUMNS}`;

/**
 * $1 seconds: claims with no outcome for that long — their replica died between claim and outcome. The
 * identity comes from the typed columns; the jsonb target only describes the session.
 */
export const SQL_STALE_EXECUTIONS = `
  SELECT e.id::text AS id, e.rule_id::text AS rule_id, e.dry_run, e.pid, ${ts('e.backend_start')} AS backend_start,
    CASE WHEN isfinite(e.query_start) THEN ${ts('e.query_start')} END AS query_start,
    e.target, ${ts('e.claimed_at')} AS claimed_at, r.cluster, r.action
  FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id
  WHERE e.outcome IS NULL AND e.claimed_at < now() - make_interval(secs => $1)
  ORDER BY e.claimed_at
  LIMIT 100`;

/** $1 execution id, $2 seconds: reconciled once, whichever replica sweeps first; nothing back for the others. */
export const SQL_INTERRUPT_EXECUTION = `
  UPDATE pgsessions.rule_executions SET outcome = 'interrupted', finished_at = now()
  WHERE id = $1::uuid AND outcome IS NULL AND claimed_at < now() - make_interval(secs => $2)
  RETURNING rule_id::text AS rule_id`;

export const SQL_ANY_ACTIVE_RULE = `SELECT EXISTS (SELECT 1 FROM pgsessions.rules WHERE cluster = $1 AND status = 'approved' AND expires_at > now()) AS active`;

/** The clusters with at least one approved, unexpired rule: one statement for a whole replica's watch. */
export const SQL_ACTIVE_RULE_CLUSTERS = `SELECT DISTINCT cluster FROM pgsessions.rules WHERE status = 'approved' AND expires_at > now()`;

/**
 * $1 rule: its executions still in flight when it ended — no outcome yet, or an outcome recorded after the
 * rule ended. A revoke is acknowledged only once none of them is left without an outcome.
 */
export const SQL_EXECUTIONS_IN_FLIGHT_AT_END = `
  SELECT e.id::text AS id, e.pid, e.outcome
  FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id
  WHERE e.rule_id = $1 AND (e.outcome IS NULL OR (r.ended_at IS NOT NULL AND e.finished_at >= r.ended_at))
  ORDER BY e.claimed_at, e.id`;
