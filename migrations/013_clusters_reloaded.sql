-- A reload of the clusters file is audited as its own event: which clusters came and went, never their
-- connections (the list as 010 left it, plus clusters_reloaded).
ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed',
                   'rule_proposed', 'rule_approved', 'rule_denied', 'rule_withdrawn', 'rule_revoked',
                   'rule_ended', 'rule_executed', 'tampering_detected', 'drained', 'drain_ended',
                   'clusters_reloaded'));
