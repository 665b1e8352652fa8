// The SQL of the rule store (pgsessions.rules, pgsessions.rule_executions): named constants, `$n` parameters
// only. Every decision is one conditional UPDATE; an execution is claimed by an INSERT on a unique key and
// counted by an UPDATE that re-checks status, cap and expiry — both in one transaction, before any signal.

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const RULE_COLUMNS = `
  id::text AS id, cluster, spec, status, proposer, approver, ended_by, channel, message_ts,
  ${ts('created_at')} AS created_at, ${ts('proposal_expires_at')} AS proposal_expires_at,
  ${ts('expires_at')} AS expires_at, used, last_execution`;

/** $1 cluster, $2 spec, $3 action, $4 cause, $5 dry run, $6 reason, $7 proposer, $8 channel, $9 proposal ttl (s), $10 lifetime (s), $11 max. */
export const SQL_INSERT_RULE = `
  INSERT INTO pgsessions.rules (cluster, spec, action, cause, dry_run, reason, proposer, channel, proposal_expires_at, lifetime_seconds, max_executions)
  VALUES ($1, $2::jsonb, $3, $4, $5, $6, $7, $8, now() + make_interval(secs => $9), $10, $11)
  RETURNING ${RULE_COLUMNS}`;

export const SQL_GET_RULE = `SELECT ${RULE_COLUMNS} FROM pgsessions.rules WHERE id = $1`;

export const SQL_SET_RULE_MESSAGE = `UPDATE pgsessions.rules SET message_ts = $2 WHERE id = $1`;

/** $1 id, $2 approver: a live proposal, by someone else; the lifetime starts now. */
export const SQL_APPROVE_RULE = `
  UPDATE pgsessions.rules
  SET status = 'approved', approver = $2, approved_at = now(), expires_at = now() + make_interval(secs => lifetime_seconds)
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

/** $1 rule, $2 pid, $3 backend_start, $4 query_start, $5 dry run, $6 target: the claim; nothing back when already claimed. */
export const SQL_CLAIM_EXECUTION = `
  INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target)
  VALUES ($1, $2, $3::timestamptz, $4::timestamptz, $5, $6::jsonb)
  ON CONFLICT ON CONSTRAINT rule_executions_once DO NOTHING
  RETURNING id::text AS id`;

/**
 * $1 rule, $2 last execution: counted against the cap only while the rule still holds (approved, unexpired,
 * under max) — a revoke, expiry or the last allowed execution committed first makes this return nothing.
 */
export const SQL_COUNT_EXECUTION = `
  UPDATE pgsessions.rules
  SET used = used + 1,
      last_execution = $2::jsonb,
      status = CASE WHEN used + 1 >= max_executions THEN 'exhausted' ELSE status END,
      ended_at = CASE WHEN used + 1 >= max_executions THEN now() ELSE ended_at END
  WHERE id = $1 AND status = 'approved' AND used < max_executions AND expires_at > now()
  RETURNING ${RULE_COLUMNS}`;

/** $1 execution id, $2 outcome. */
export const SQL_FINISH_EXECUTION = `UPDATE pgsessions.rule_executions SET outcome = $2, finished_at = now() WHERE id = $1::uuid`;

/** $1 rule, $2 last execution (with its outcome). */
export const SQL_SET_LAST_EXECUTION = `UPDATE pgsessions.rules SET last_execution = $2::jsonb WHERE id = $1 RETURNING ${RULE_COLUMNS}`;

export const SQL_ANY_ACTIVE_RULE = `SELECT EXISTS (SELECT 1 FROM pgsessions.rules WHERE cluster = $1 AND status = 'approved' AND expires_at > now()) AS active`;

/**
 * $1 rule: its executions still in flight when it ended — no outcome yet, or an outcome recorded after the
 * rule ended. A revoke is acknowledged only once none of them is left without an outcome.
 */
export const SQL_EXECUTIONS_IN_FLIGHT_AT_END = `
  SELECT e.id::text AS id, e.pid, e.outcome
  FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id
  WHERE e.rule_id = $1 AND (e.outcome IS NULL OR (r.ended_at IS NOT NULL AND e.finished_at >= r.ended_at))
  ORDER BY e.claimed_at, e.id`;
