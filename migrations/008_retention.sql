-- Growth: incidents and rule executions are pruned after PGSESSIONS_RETENTION (audit entries never are),
-- and the lookups that say why an alert cleared get indexes instead of scanning every request and execution.

-- "Which request relieved this session / this storm": requests of a cluster decided in the last day.
CREATE INDEX requests_cluster_decided_idx ON pgsessions.requests (cluster, decided_at) WHERE decided_at IS NOT NULL;

-- "Which rule execution relieved this session": executions by session identity.
CREATE INDEX rule_executions_session_idx ON pgsessions.rule_executions (pid, backend_start);

-- Retention reads: cleared incidents by age; executions by rule (to skip live rules) and by age.
CREATE INDEX incidents_cleared_idx ON pgsessions.incidents (cleared_at) WHERE status = 'cleared';
CREATE INDEX rule_executions_finished_idx ON pgsessions.rule_executions (rule_id, finished_at);
