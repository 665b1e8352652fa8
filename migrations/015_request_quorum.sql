-- Quorum for kill requests (issue 16, docs/approvals.md "Quorum"): a request needs `quorum` distinct approvers,
-- none of them the requester. The number is frozen when the request is made (the request's seal covers it
-- when it is above 1, src/domain/binding.ts), so neither a settings reload nor the runtime role can lower it.
-- Each approval is a row of its own with a MAC (binding) over request id, approver and time that only the app
-- can make; an approval row without a valid MAC is never counted. The approval that reaches the quorum moves
-- the request to approved in its transaction, with a binding over the sorted set of approvers.

ALTER TABLE pgsessions.requests ADD COLUMN quorum smallint NOT NULL DEFAULT 1
  CONSTRAINT requests_quorum_range CHECK (quorum BETWEEN 1 AND 10);

CREATE TABLE pgsessions.request_approvals (
  request_id  uuid NOT NULL REFERENCES pgsessions.requests (id),
  approver    text NOT NULL,
  approved_at timestamptz NOT NULL,
  binding     text NOT NULL,
  UNIQUE (request_id, approver)
);

-- For roles that do not own the tables (the runtime role): an approval is only ever added, to a pending
-- request, never by its requester; and a request's quorum never changes.
CREATE FUNCTION pgsessions.request_approvals_insert_only() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  req record;
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'pgsessions.request_approvals: an approval is never changed or removed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT status, requester INTO req FROM pgsessions.requests WHERE id = NEW.request_id;
  IF req.status IS DISTINCT FROM 'pending' OR req.requester = NEW.approver THEN
    RAISE EXCEPTION 'pgsessions.request_approvals: approvals are added to pending requests, never by their requester'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER request_approvals_insert_only
  BEFORE INSERT OR UPDATE OR DELETE ON pgsessions.request_approvals
  FOR EACH ROW EXECUTE FUNCTION pgsessions.request_approvals_insert_only();

CREATE FUNCTION pgsessions.requests_quorum_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF NEW.quorum IS DISTINCT FROM OLD.quorum THEN
    RAISE EXCEPTION 'pgsessions.requests: a request''s quorum never changes' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER requests_quorum_frozen
  BEFORE UPDATE ON pgsessions.requests
  FOR EACH ROW EXECUTE FUNCTION pgsessions.requests_quorum_frozen();
