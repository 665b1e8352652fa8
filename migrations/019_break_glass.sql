-- Break-glass (issue 16, docs/approvals.md "Break-glass"): once nobody decided a request in time, and only where
-- the environment or the clusters file allows it (never the database), its requester may execute it alone. Such
-- a request is approved with the requester as decider and this flag set, in the transaction that also writes
-- the approval's binding (a MAC that names it break-glass: src/domain/binding.ts). The database keeps the rest
-- of the two-person rule: a request decided by its requester is a break-glass one, and nothing else is.
ALTER TABLE pgsessions.requests ADD COLUMN break_glass boolean NOT NULL DEFAULT false;

ALTER TABLE pgsessions.requests DROP CONSTRAINT requests_not_self_approved;
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_not_self_approved
  CHECK (status NOT IN ('approved', 'executed', 'failed')
         OR (decided_by IS NOT NULL AND (decided_by = requester) = break_glass));
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_break_glass_decided
  CHECK (NOT break_glass OR status IN ('approved', 'executed', 'failed'));

-- For roles that do not own the table: the flag is written once, when a pending request is approved.
CREATE FUNCTION pgsessions.requests_break_glass_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.break_glass THEN
      RAISE EXCEPTION 'pgsessions.requests: a request is created without break-glass' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.break_glass IS DISTINCT FROM OLD.break_glass AND NOT (OLD.status = 'pending' AND NEW.status = 'approved') THEN
    RAISE EXCEPTION 'pgsessions.requests: break-glass is written once, with the approval' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER requests_break_glass_fence
  BEFORE INSERT OR UPDATE ON pgsessions.requests
  FOR EACH ROW EXECUTE FUNCTION pgsessions.requests_break_glass_fence();

-- The unreviewed list reads break-glass entries and their reviews by event.
CREATE INDEX audit_log_break_glass_idx ON pgsessions.audit_log (event, seq)
  WHERE event IN ('break_glass', 'break_glass_reviewed');
