// What PGSESSIONS_RETENTION prunes, in batches so that no statement holds many row locks for long. Audit
// entries are never pruned (the audit log allows no DELETE at all); requests and rules stay (small, and
// their history is what the audit entries refer to).

/**
 * $1 retention in seconds, $2 batch size: cleared incidents whose message already shows that they cleared.
 * An open incident, or one whose alert is still to be updated, is kept whatever its age.
 */
export const SQL_PRUNE_INCIDENTS = `
  DELETE FROM pgsessions.incidents
  WHERE id IN (
    SELECT id FROM pgsessions.incidents
    WHERE status = 'cleared' AND cleared_at < now() - make_interval(secs => $1) AND shown_version >= version
    LIMIT $2)`;

/**
 * $1 retention in seconds, $2 batch size: finished executions of rules that are no longer live (a live rule's
 * executions are its once-per-statement claims). A rule lives at most 24 h, retention is at least 2 days.
 */
export const SQL_PRUNE_RULE_EXECUTIONS = `
  DELETE FROM pgsessions.rule_executions
  WHERE id IN (
    SELECT e.id FROM pgsessions.rule_executions e JOIN pgsessions.rules r ON r.id = e.rule_id
    WHERE e.finished_at < now() - make_interval(secs => $1) AND r.status NOT IN ('proposed', 'approved')
    LIMIT $2)`;
