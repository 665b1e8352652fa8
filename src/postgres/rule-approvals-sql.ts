// The SQL of a rule's approvals (pgsessions.rule_approvals, migration 016): named constants, `$n` parameters only.

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/** A rule's approval rows as stored, oldest first, each with its MAC; `id` is the rule's. */
const APPROVALS_OF_ID = `(SELECT coalesce(jsonb_agg(jsonb_build_object('approver', ra.approver,
     'approved_at', ${ts('ra.approved_at')}, 'binding', ra.binding) ORDER BY ra.approved_at, ra.approver), '[]'::jsonb)
   FROM pgsessions.rule_approvals ra WHERE ra.rule_id = id) AS approvals`;

/**
 * Read with every rule (part of RULE_COLUMNS): its frozen quorum and its approval rows — checked by the app
 * (rule-approvals-rows.ts), never trusted as read.
 */
export const RULE_QUORUM_COLUMNS = `quorum, ${APPROVALS_OF_ID}`;

/**
 * $1 rule: its approval rows, read by a statement of its own after the rule's row lock (SQL_LOCK_RULE) — so
 * from a snapshot taken after the lock, seeing every approval committed before it — in RULE_QUORUM_COLUMNS' shape.
 */
export const SQL_RULE_APPROVALS = `
  SELECT ${APPROVALS_OF_ID} FROM (SELECT $1::uuid AS id) rule`;

/**
 * $1 rule, $2 approver, $3 the approval time (the deciding transaction's now(), as its MAC says), $4 its MAC.
 * Nothing back when this approver's approval is already stored: the same approver twice counts once.
 */
export const SQL_INSERT_RULE_APPROVAL = `
  INSERT INTO pgsessions.rule_approvals (rule_id, approver, approved_at, binding)
  VALUES ($1::uuid, $2, $3::timestamptz, $4)
  ON CONFLICT ON CONSTRAINT rule_approvals_once DO NOTHING
  RETURNING approver`;
