-- Standing approvals: a rule two people agreed in advance, and each execution of it. An execution is claimed
-- here (one row per rule, session and statement) before the signal goes out, in the same transaction that
-- counts it against the cap: across replicas and restarts a match is executed at most once, never beyond max.

CREATE TABLE pgsessions.rules (
  id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  cluster              text NOT NULL,
  spec                 jsonb NOT NULL CHECK (jsonb_typeof(spec) = 'object'),
  action               text NOT NULL CHECK (action IN ('cancel', 'terminate')),
  cause                text NOT NULL CHECK (cause IN ('lock-queue-head', 'root-blocker', 'idle-in-transaction', 'active')),
  dry_run              boolean NOT NULL DEFAULT false,
  reason               text NOT NULL CHECK (length(btrim(reason)) > 0),
  status               text NOT NULL DEFAULT 'proposed'
    CHECK (status IN ('proposed', 'approved', 'denied', 'withdrawn', 'revoked', 'expired', 'exhausted')),
  proposer             text NOT NULL,
  approver             text NULL,
  ended_by             text NULL,
  channel              text NOT NULL,
  message_ts           text NULL,
  created_at           timestamptz NOT NULL DEFAULT now(),
  proposal_expires_at  timestamptz NOT NULL,
  lifetime_seconds     integer NOT NULL CHECK (lifetime_seconds > 0 AND lifetime_seconds <= 86400),
  approved_at          timestamptz NULL,
  expires_at           timestamptz NULL,
  ended_at             timestamptz NULL,
  max_executions       integer NOT NULL CHECK (max_executions >= 1),
  used                 integer NOT NULL DEFAULT 0,
  last_execution       jsonb NULL,
  -- The two-person rule, in the schema: whoever proposed a rule cannot be the one who approved it.
  CONSTRAINT rules_two_people CHECK (approver IS NULL OR approver <> proposer),
  CONSTRAINT rules_cap CHECK (used >= 0 AND used <= max_executions),
  CONSTRAINT rules_approved_has_expiry CHECK (status <> 'approved' OR (approver IS NOT NULL AND expires_at IS NOT NULL))
);

-- Every look of a watcher reads the approved rules of its cluster.
CREATE INDEX rules_live_idx ON pgsessions.rules (cluster) WHERE status IN ('proposed', 'approved');

CREATE TABLE pgsessions.rule_executions (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  rule_id        uuid NOT NULL REFERENCES pgsessions.rules (id),
  pid            integer NOT NULL,
  backend_start  timestamptz NOT NULL,
  -- The statement a cancel names; '-infinity' for a terminate (the session is the target).
  query_start    timestamptz NOT NULL,
  claimed_at     timestamptz NOT NULL DEFAULT now(),
  dry_run        boolean NOT NULL,
  target         jsonb NOT NULL,
  outcome        text NULL,
  finished_at    timestamptz NULL,
  -- The claim: one execution per rule and matched statement, whoever (replica, restart) sees it again.
  CONSTRAINT rule_executions_once UNIQUE (rule_id, pid, backend_start, query_start)
);

-- The rule events join the audit events (the list as 003 left it).
ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed',
                   'rule_proposed', 'rule_approved', 'rule_denied', 'rule_withdrawn', 'rule_revoked',
                   'rule_ended', 'rule_executed'));
