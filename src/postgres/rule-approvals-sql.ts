// The SQL of a rule's approvals (pgsessions.rule_approvals, migration 016): named constants, `$n` parameters only.

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

/**
 * Read with every rule (part of RULE_COLUMNS): its frozen quorum and its approval rows as stored, oldest first,
 * each with its MAC — checked by the app (rule-approvals.ts), never trusted as read. `id` is the rule's.
 */
export const RULE_QUORUM_COLUMNS = `quorum,
  (SELECT coalesce(jsonb_agg(jsonb_build_object('approver', ra.approver, 'approved_at', ${ts('ra.approved_at')},
     'binding', ra.binding) ORDER BY ra.approved_at, ra.approver), '[]'::jsonb)
   FROM pgsessions.rule_approvals ra WHERE ra.rule_id = id) AS approvals`;

/**
 * $1 rule, $2 approver, $3 the approval time (the deciding transaction's now(), as its MAC says), $4 its MAC.
 * Nothing back when this approver's approval is already stored: the same approver twice counts once.
 */
export const SQL_INSERT_RULE_APPROVAL = `
  INSERT INTO pgsessions.rule_approvals (rule_id, approver, approved_at, binding)
  VALUES ($1::uuid, $2, $3::timestamptz, $4)
  ON CONFLICT ON CONSTRAINT rule_approvals_once DO NOTHING
  RETURNING approver`;
