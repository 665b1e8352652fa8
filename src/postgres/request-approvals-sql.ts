// The SQL of pgsessions.request_approvals (migration 015): one row per approval counted towards a request's
// quorum, each with its MAC. Rows are only ever inserted.
import { utcText as ts } from './sql-text.js';

/** Who approved a request so far, in order: a column of every request row read (`requests` is the row's table). */
export const APPROVERS = `(SELECT coalesce(array_agg(a.approver ORDER BY a.approved_at, a.approver), '{}')
    FROM pgsessions.request_approvals a WHERE a.request_id = requests.id)`;

/** $1 request id: its approval rows, as the MAC covers them. */
export const SQL_LIST_APPROVALS = `
  SELECT approver, ${ts('approved_at')} AS approved_at, binding
  FROM pgsessions.request_approvals WHERE request_id = $1
  ORDER BY approved_at, approver`;

/** $1 request id, $2 approver, $3 time (this transaction's, as text), $4 its MAC. */
export const SQL_INSERT_APPROVAL = `
  INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding)
  VALUES ($1, $2, $3::timestamptz, $4)`;
