-- Standing approvals honour the quorum of their action (issue 16, docs/approvals.md "Quorum for rules"): how
-- many distinct approvers a rule needs is frozen when it is proposed (and sealed with it when above one), and
-- each approval is a row of its own with its own MAC (src/domain/binding.ts). The approval that reaches the
-- quorum approves the rule in the same locked transaction; the rule's approval binding covers the sorted set of
-- its approvers. The runtime role may insert the quorum and an approval, never change or remove either.

-- 1: every rule proposed before this migration needed one approver (the two-person rule).
ALTER TABLE pgsessions.rules ADD COLUMN quorum integer NOT NULL DEFAULT 1
  CONSTRAINT rules_quorum_range CHECK (quorum BETWEEN 1 AND 10);

CREATE TABLE pgsessions.rule_approvals (
  rule_id      uuid NOT NULL REFERENCES pgsessions.rules (id),
  approver     text NOT NULL,
  approved_at  timestamptz NOT NULL DEFAULT now(),
  -- The MAC over (rule, approver, approved_at): a row written without PGSESSIONS_AUDIT_KEY is never counted.
  binding      text NOT NULL,
  -- The same approver twice counts once.
  CONSTRAINT rule_approvals_once PRIMARY KEY (rule_id, approver)
);

-- A rule's quorum is what was agreed when it was proposed: written by the insert, never afterwards (the runtime
-- role has no UPDATE on the column either; this is the fence for any other role that is not the owner).
CREATE FUNCTION pgsessions.rules_quorum_frozen() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF NEW.quorum IS DISTINCT FROM OLD.quorum THEN
    RAISE EXCEPTION 'pgsessions.rules: the quorum is written once, when the rule is proposed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER rules_quorum_frozen
  BEFORE UPDATE ON pgsessions.rules
  FOR EACH ROW EXECUTE FUNCTION pgsessions.rules_quorum_frozen();

-- An approval is recorded only on a live proposal, never by its proposer, and never changed or removed.
CREATE FUNCTION pgsessions.rule_approvals_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP <> 'INSERT' THEN
    RAISE EXCEPTION 'pgsessions.rule_approvals: an approval is never changed or removed' USING ERRCODE = 'insufficient_privilege';
  END IF;
  SELECT status, proposer INTO r FROM pgsessions.rules WHERE id = NEW.rule_id;
  IF NOT FOUND OR r.status <> 'proposed' OR r.proposer = NEW.approver THEN
    RAISE EXCEPTION 'pgsessions.rule_approvals: only a live proposal is approved, and not by its proposer' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER rule_approvals_fence
  BEFORE INSERT OR UPDATE OR DELETE ON pgsessions.rule_approvals
  FOR EACH ROW EXECUTE FUNCTION pgsessions.rule_approvals_fence();
