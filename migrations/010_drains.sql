-- A maintenance drain (docs/drain.md): a database kept empty for a window, then given back exactly as it was.
-- The drain request itself is a request of action 'drain' under the two-person rule (its window, in seconds,
-- is kept in escalate_after_seconds, which the request's binding covers). On approval pgsessions records the
-- database's previous datallowconn / datconnlimit here *before* it changes them, so that whoever ends the
-- drain (End drain, undrain, the sweeper of any replica after a crash) restores exactly those values.
--
-- Authority the runtime role cannot forge (docs/SECURITY-binding.md): each row carries a binding (a MAC under
-- PGSESSIONS_AUDIT_KEY over what it records), checked before any restore; the runtime role may update only
-- the columns an end writes, never what was recorded; and the trigger below fences the rest for roles that
-- do not own the table: a drain is recorded only for a drain request being executed, by the people who asked
-- and approved it, and an ended drain stays ended. The runtime role can still write 'ended' itself (it writes
-- every end the app makes), so an end counts only when sealed: end_binding, a MAC over how it ended that only
-- the app can make. A drain ended without a valid seal is still given back by the sweeper (src/domain/drain-recovery.ts).

ALTER TABLE pgsessions.requests DROP CONSTRAINT requests_action_check;
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_action_check
  CHECK (action IN ('cancel', 'terminate', 'cancel_then_terminate', 'terminate_walsender', 'terminate_all',
                    'cancel_all', 'drain'));

CREATE TABLE pgsessions.drains (
  id                     uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  request_id             uuid NOT NULL UNIQUE REFERENCES pgsessions.requests (id),
  cluster                text NOT NULL,
  database               text NOT NULL,
  -- allow_connections: ALTER DATABASE … WITH ALLOW_CONNECTIONS false; connection_limit: CONNECTION LIMIT 0.
  method                 text NOT NULL CHECK (method IN ('allow_connections', 'connection_limit')),
  prev_allow_connections boolean NOT NULL,
  prev_connection_limit  integer NOT NULL,
  ends_at                timestamptz NOT NULL,
  requester              text NOT NULL,
  approver               text NOT NULL,
  channel                text NOT NULL,
  message_ts             text NULL,
  state                  text NOT NULL DEFAULT 'active' CHECK (state IN ('active', 'ending', 'ended', 'refused')),
  -- The replica ending it, and since when: a claim older than a minute is a dead replica's, taken over.
  claimed_by             text NULL,
  claimed_at             timestamptz NULL,
  ended_at               timestamptz NULL,
  ended_by               text NULL,
  end_why                text NULL CHECK (end_why IS NULL OR end_why IN ('expired', 'ended', 'undrain')),
  outcome                text NULL,
  binding                text NOT NULL,
  -- The end's seal (src/domain/drain.ts drainEndSeal): written with state 'ended'/'refused', never after.
  end_binding            text NULL,
  created_at             timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT drains_window_bounded CHECK (ends_at <= created_at + interval '7 days'),
  CONSTRAINT drains_not_self_approved CHECK (approver <> requester)
);

-- At most one live drain per database: "already drained" holds across replicas.
CREATE UNIQUE INDEX drains_live_idx ON pgsessions.drains (cluster, database) WHERE state IN ('active', 'ending');
CREATE INDEX drains_due_idx ON pgsessions.drains (ends_at) WHERE state IN ('active', 'ending');

CREATE FUNCTION pgsessions.drains_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  req pgsessions.requests%ROWTYPE;
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP = 'INSERT' THEN
    SELECT * INTO req FROM pgsessions.requests WHERE id = NEW.request_id;
    IF NOT FOUND OR req.action <> 'drain' OR req.status <> 'approved' OR req.executing_at IS NULL
       OR req.executed_at IS NOT NULL OR req.requester <> NEW.requester OR req.decided_by <> NEW.approver
       OR req.cluster <> NEW.cluster OR req.scope->>'database' IS DISTINCT FROM NEW.database THEN
      RAISE EXCEPTION 'pgsessions.drains: a drain is recorded only by the execution of its approved request'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    IF NEW.state <> 'active' OR NEW.ended_at IS NOT NULL OR NEW.ended_by IS NOT NULL OR NEW.outcome IS NOT NULL
       OR NEW.claimed_by IS NOT NULL OR NEW.ends_at > now() + make_interval(secs => COALESCE(req.escalate_after_seconds, 0)) + interval '1 minute' THEN
      RAISE EXCEPTION 'pgsessions.drains: a drain is recorded active, for the window that was approved'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.state IS DISTINCT FROM OLD.state AND NOT (
       (OLD.state = 'active' AND NEW.state = 'ending')
    OR (OLD.state = 'ending' AND NEW.state IN ('ended', 'refused'))) THEN
    RAISE EXCEPTION 'pgsessions.drains: % -> % refused', OLD.state, NEW.state USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.state IN ('ended', 'refused') THEN
    RAISE EXCEPTION 'pgsessions.drains: an ended drain is final' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF (NEW.state IN ('ended', 'refused')) IS DISTINCT FROM (NEW.end_binding IS NOT NULL) THEN
    RAISE EXCEPTION 'pgsessions.drains: a drain ends with its seal, and only its end carries one'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER drains_fence
  BEFORE INSERT OR UPDATE ON pgsessions.drains
  FOR EACH ROW EXECUTE FUNCTION pgsessions.drains_fence();

ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed',
                   'rule_proposed', 'rule_approved', 'rule_denied', 'rule_withdrawn', 'rule_revoked',
                   'rule_ended', 'rule_executed', 'tampering_detected', 'drained', 'drain_ended'));
