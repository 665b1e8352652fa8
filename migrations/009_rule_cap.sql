-- A rule's cap the runtime role cannot reset (docs/SECURITY-binding.md). The claim no longer trusts
-- rules.used (a column that role may write): it counts the rule's executions — every claim, less those given
-- back. A slot is given back only by an outcome the app wrote with its MAC (outcome_binding, under the key the
-- role does not hold); the database fences the rest, for roles that do not own the table (as 007 does):
-- an execution is created unfinished, its outcome is written once, and only an ended rule's executions
-- (007 makes ended statuses final) may be deleted, for retention.

ALTER TABLE pgsessions.rule_executions ADD COLUMN outcome_binding text NULL;

CREATE FUNCTION pgsessions.rule_executions_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN
    RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
  END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.outcome IS NOT NULL OR NEW.finished_at IS NOT NULL OR NEW.outcome_binding IS NOT NULL THEN
      RAISE EXCEPTION 'pgsessions.rule_executions: an execution is claimed without an outcome' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF TG_OP = 'DELETE' THEN
    IF EXISTS (SELECT 1 FROM pgsessions.rules r WHERE r.id = OLD.rule_id AND r.status IN ('proposed', 'approved')) THEN
      RAISE EXCEPTION 'pgsessions.rule_executions: a live rule''s executions are its count and are not deleted' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN OLD;
  END IF;
  IF OLD.outcome IS NOT NULL AND (NEW.outcome IS DISTINCT FROM OLD.outcome OR NEW.finished_at IS DISTINCT FROM OLD.finished_at
                                  OR NEW.outcome_binding IS DISTINCT FROM OLD.outcome_binding) THEN
    RAISE EXCEPTION 'pgsessions.rule_executions: an outcome is written once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.outcome IS NULL AND (NEW.finished_at IS NOT NULL OR NEW.outcome_binding IS NOT NULL) THEN
    RAISE EXCEPTION 'pgsessions.rule_executions: an outcome is written with its finish' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER rule_executions_fence
  BEFORE INSERT OR UPDATE OR DELETE ON pgsessions.rule_executions
  FOR EACH ROW EXECUTE FUNCTION pgsessions.rule_executions_fence();
