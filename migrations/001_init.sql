-- The state of pgsessions: kill requests under the two-person rule, the hash-chained audit log, and the
-- outbox that delivers each audit entry to the audit channel. Applied by src/postgres/migrate.ts, inside a
-- transaction, under an advisory lock. Needs PostgreSQL 13+ (gen_random_uuid() is built in).

CREATE SCHEMA IF NOT EXISTS pgsessions;

-- migrate.ts creates this too (it must exist before any migration is recorded); kept here so the file
-- describes the whole schema.
CREATE TABLE IF NOT EXISTS pgsessions.schema_migrations (
  version    text PRIMARY KEY,
  applied_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE pgsessions.requests (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  cluster                text NOT NULL,
  action                 text NOT NULL
    CHECK (action IN ('cancel', 'terminate', 'cancel_then_terminate', 'terminate_walsender', 'terminate_all')),
  targets                jsonb NOT NULL CHECK (jsonb_typeof(targets) = 'array'),
  reason                 text NOT NULL,
  requester              text NOT NULL,
  channel                text NOT NULL,
  message_ts             text NULL,
  status                 text NOT NULL DEFAULT 'pending'
    CHECK (status IN ('pending', 'approved', 'executed', 'failed', 'denied', 'withdrawn', 'expired')),
  decided_by             text NULL,
  decided_at             timestamptz NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  expires_at             timestamptz NOT NULL,
  escalate_after_seconds integer NULL CHECK (escalate_after_seconds IS NULL OR escalate_after_seconds >= 0),
  scope                  jsonb NULL,
  result                 jsonb NULL,
  -- Set once, when the executor announces it is about to signal: the database-level "at most once".
  executing_at           timestamptz NULL,
  executed_at            timestamptz NULL,
  -- Defence in depth for the two-person rule: the database itself refuses a self-approved request.
  CONSTRAINT requests_not_self_approved
    CHECK (status NOT IN ('approved', 'executed', 'failed') OR (decided_by IS NOT NULL AND decided_by <> requester))
);

-- The expiry sweep and the pending listing only ever look at pending rows.
CREATE INDEX requests_pending_expiry_idx ON pgsessions.requests (expires_at) WHERE status = 'pending';
-- Reconciliation after a crash looks at approved rows that have no outcome yet.
CREATE INDEX requests_approved_idx ON pgsessions.requests (decided_at) WHERE status = 'approved';

CREATE TABLE pgsessions.audit_log (
  seq        bigserial PRIMARY KEY,
  at         timestamptz NOT NULL DEFAULT clock_timestamp(),
  request_id uuid NULL,
  event      text NOT NULL
    CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                     'failed', 'reconciled', 'refused')),
  actor      text NULL,
  cluster    text NULL,
  details    jsonb NOT NULL,
  prev_hash  text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash       text NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE INDEX audit_log_request_idx ON pgsessions.audit_log (request_id) WHERE request_id IS NOT NULL;

-- Append-only: the log is evidence. Only its owner (or a superuser) can disable the trigger and change it; the hash
-- chain shows where unless they recomputed it (unkeyed) — see 002 and the README on what the audit trail proves.
CREATE FUNCTION pgsessions.audit_log_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'pgsessions.audit_log is append-only: % refused', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END;
$$;

CREATE TRIGGER audit_log_no_update_delete
  BEFORE UPDATE OR DELETE ON pgsessions.audit_log
  FOR EACH ROW EXECUTE FUNCTION pgsessions.audit_log_append_only();

CREATE TRIGGER audit_log_no_truncate
  BEFORE TRUNCATE ON pgsessions.audit_log
  FOR EACH STATEMENT EXECUTE FUNCTION pgsessions.audit_log_append_only();

-- One row per audit entry still to be posted to the audit channel (or already posted).
CREATE TABLE pgsessions.outbox (
  audit_seq       bigint PRIMARY KEY REFERENCES pgsessions.audit_log (seq),
  attempts        integer NOT NULL DEFAULT 0,
  next_attempt_at timestamptz NOT NULL DEFAULT now(),
  delivered_at    timestamptz NULL,
  last_error      text NULL
);

CREATE INDEX outbox_undelivered_idx ON pgsessions.outbox (audit_seq) WHERE delivered_at IS NULL;
