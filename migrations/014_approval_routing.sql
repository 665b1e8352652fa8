-- Approval routing (issue 16, docs/approvals.md) is audited with events of its own: an approval counted towards
-- a quorum (of a request or a rule), an escalation to the next tier, a break-glass execution and its review
-- (the list as 013 left it, plus these five). Their tables come in the migrations after this one.
ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed',
                   'rule_proposed', 'rule_approved', 'rule_denied', 'rule_withdrawn', 'rule_revoked',
                   'rule_ended', 'rule_executed', 'tampering_detected', 'drained', 'drain_ended',
                   'clusters_reloaded',
                   'approval_recorded', 'rule_approval_recorded', 'escalated', 'break_glass',
                   'break_glass_reviewed'));
