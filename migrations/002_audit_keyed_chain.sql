-- The audit chain can be keyed (PGSESSIONS_AUDIT_KEY): each entry says how its hash was computed, and the
-- switch to keyed hashing is itself an entry (`chain_keyed`). `reconciled` was never written: a request
-- reconciled after a restart is audited as `failed` with result.interrupted = true.

ALTER TABLE pgsessions.audit_log
  ADD COLUMN hash_alg text NOT NULL DEFAULT 'sha256' CHECK (hash_alg IN ('sha256', 'hmac-sha256'));

ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed'));

-- What the append-only trigger does and does not stop: a role that owns this table (or is a superuser) can
-- disable the trigger. Run the migrations as an owner role and the app as a runtime role that only has
-- INSERT and SELECT here (npm run migrate grants exactly that; see src/postgres/state-grants.ts).
COMMENT ON TABLE pgsessions.audit_log IS
  'pgsessions audit trail: append-only for roles that do not own it; hash-chained (sha256, or hmac-sha256 under PGSESSIONS_AUDIT_KEY)';
