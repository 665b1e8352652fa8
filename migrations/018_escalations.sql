-- Escalation (issue 16, docs/approvals.md "Escalation"): a request or rule proposal nobody decided within
-- PGSESSIONS_ESCALATE_AFTER is told to the next tier (PGSESSIONS_ESCALATE_TO). Every replica sweeps for due
-- escalations; this table makes each step happen exactly once across them: one row per subject and tier,
-- claimed with INSERT … ON CONFLICT DO NOTHING in the same transaction as the step's `escalated` audit entry.
-- tier 1 is the first escalation (the settings have one list today; 2, 3… are room for more tiers).
--
-- Against a holder of the runtime role's password (docs/SECURITY-binding.md): the runtime role may only read
-- and insert here, never update or delete, and the trigger below (for roles that do not own the table) accepts
-- a row only for a request or proposal that is still pending, stamped now. Inserting a row early can only
-- suppress an escalation (a denial of service the same role has anyway: it can mark the request expired);
-- it never makes pgsessions message anybody. What makes pgsessions message people is its own sweep, which
-- escalates only subjects whose seal (the binding made when they were asked) holds.

CREATE TABLE pgsessions.escalations (
  subject_kind text NOT NULL CHECK (subject_kind IN ('request', 'rule')),
  subject_id   uuid NOT NULL,
  tier         integer NOT NULL CHECK (tier BETWEEN 1 AND 10),
  escalated_at timestamptz NOT NULL DEFAULT now(),
  -- The replica that claimed it (host:pid:random), for the operator reading why a DM came from where.
  replica      text NOT NULL CHECK (length(replica) <= 200),
  CONSTRAINT escalations_once UNIQUE (subject_kind, subject_id, tier)
);

CREATE FUNCTION pgsessions.escalations_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'pgsessions.escalations: an escalation is written once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.escalated_at IS DISTINCT FROM now() THEN
    RAISE EXCEPTION 'pgsessions.escalations: an escalation is stamped when it happens' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NOT (
       (NEW.subject_kind = 'request' AND EXISTS (
          SELECT 1 FROM pgsessions.requests WHERE id = NEW.subject_id AND status = 'pending' AND expires_at > now()))
    OR (NEW.subject_kind = 'rule' AND EXISTS (
          SELECT 1 FROM pgsessions.rules WHERE id = NEW.subject_id AND status = 'proposed' AND proposal_expires_at > now()))) THEN
    RAISE EXCEPTION 'pgsessions.escalations: only a request or proposal still waiting is escalated'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER escalations_fence
  BEFORE INSERT OR UPDATE ON pgsessions.escalations
  FOR EACH ROW EXECUTE FUNCTION pgsessions.escalations_fence();
