-- Authority the state database's role cannot forge (docs/SECURITY-binding.md). Four layers:
-- 1. A binding per request and per rule: a MAC under a key derived from PGSESSIONS_AUDIT_KEY over exactly what
--    is authorised (src/domain/binding.ts). Written when the row is made (the seal) and again when it is
--    approved; recomputed and compared before every signal. The database cannot check it (it has no key).
-- 2. Least privilege for the runtime role (src/postgres/state-grants.ts grants columns, not tables): what was
--    asked (targets, a rule's definition, who asked) cannot be updated at all by that role.
-- 3. Transitions the app never makes are refused for roles that do not own the table (a revoked rule does not
--    come back; an approval is written once). The owner could drop the trigger: it is the runtime role's fence.
-- 4. Every expiry bounded by the schema. And the audit log's seq is the sequence's, never the writer's choice.

ALTER TABLE pgsessions.requests ADD COLUMN binding text NULL;
ALTER TABLE pgsessions.rules ADD COLUMN binding text NULL;

-- A request lives at most PGSESSIONS_APPROVAL_TTL, itself at most 24 h; it is approved before it expires.
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_expiry_bounded
  CHECK (expires_at <= created_at + interval '24 hours') NOT VALID;
ALTER TABLE pgsessions.requests ADD CONSTRAINT requests_approved_in_time
  CHECK (status NOT IN ('approved', 'executed', 'failed') OR decided_at <= expires_at) NOT VALID;
-- A rule acts at most 24 h after its approval, and only once approved.
ALTER TABLE pgsessions.rules ADD CONSTRAINT rules_expiry_bounded
  CHECK (expires_at IS NULL OR (approved_at IS NOT NULL AND expires_at <= approved_at + interval '24 hours')) NOT VALID;
ALTER TABLE pgsessions.rules ADD CONSTRAINT rules_proposal_bounded
  CHECK (proposal_expires_at <= created_at + interval '24 hours') NOT VALID;

CREATE FUNCTION pgsessions.requests_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'pending' OR NEW.decided_by IS NOT NULL OR NEW.binding IS NOT NULL THEN
      RAISE EXCEPTION 'pgsessions.requests: a request is created pending and unsealed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
       (OLD.status = 'pending' AND NEW.status IN ('approved', 'denied', 'withdrawn', 'expired'))
    OR (OLD.status = 'approved' AND NEW.status IN ('executed', 'failed'))) THEN
    RAISE EXCEPTION 'pgsessions.requests: % -> % refused', OLD.status, NEW.status USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- The decision is written once, when the request leaves pending; the seal once, while it is pending.
  IF (NEW.decided_by IS DISTINCT FROM OLD.decided_by OR NEW.decided_at IS DISTINCT FROM OLD.decided_at)
     AND NOT (OLD.status = 'pending' AND NEW.status <> 'pending') THEN
    RAISE EXCEPTION 'pgsessions.requests: the decision is written once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.binding IS DISTINCT FROM OLD.binding AND NOT (OLD.status = 'pending' AND (OLD.binding IS NULL OR NEW.status = 'approved')) THEN
    RAISE EXCEPTION 'pgsessions.requests: the binding is written when sealed and when approved' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF OLD.executing_at IS NOT NULL AND NEW.executing_at IS DISTINCT FROM OLD.executing_at THEN
    RAISE EXCEPTION 'pgsessions.requests: executing_at is written once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER requests_transitions
  BEFORE INSERT OR UPDATE ON pgsessions.requests
  FOR EACH ROW EXECUTE FUNCTION pgsessions.requests_transitions();

CREATE FUNCTION pgsessions.rules_transitions() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  -- A role that owns the table (or a superuser) could drop this trigger anyway; operators' repairs run as it.
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.status <> 'proposed' OR NEW.approver IS NOT NULL OR NEW.approved_at IS NOT NULL OR NEW.expires_at IS NOT NULL
       OR NEW.used <> 0 OR NEW.binding IS NOT NULL THEN
      RAISE EXCEPTION 'pgsessions.rules: a rule is created proposed and unsealed' USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF NEW.status IS DISTINCT FROM OLD.status AND NOT (
       (OLD.status = 'proposed' AND NEW.status IN ('approved', 'denied', 'withdrawn', 'revoked', 'expired'))
    OR (OLD.status = 'approved' AND NEW.status IN ('revoked', 'expired', 'exhausted'))) THEN
    RAISE EXCEPTION 'pgsessions.rules: % -> % refused', OLD.status, NEW.status USING ERRCODE = 'insufficient_privilege';
  END IF;
  -- Approver, approval time and expiry are written once, by the approval.
  IF (NEW.approver IS DISTINCT FROM OLD.approver OR NEW.approved_at IS DISTINCT FROM OLD.approved_at OR NEW.expires_at IS DISTINCT FROM OLD.expires_at)
     AND NOT (OLD.status = 'proposed' AND NEW.status = 'approved') THEN
    RAISE EXCEPTION 'pgsessions.rules: the approval is written once' USING ERRCODE = 'insufficient_privilege';
  END IF;
  IF NEW.binding IS DISTINCT FROM OLD.binding AND NOT (OLD.status = 'proposed' AND (OLD.binding IS NULL OR NEW.status = 'approved')) THEN
    RAISE EXCEPTION 'pgsessions.rules: the binding is written when sealed and when approved' USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER rules_transitions
  BEFORE INSERT OR UPDATE ON pgsessions.rules
  FOR EACH ROW EXECUTE FUNCTION pgsessions.rules_transitions();

-- The seq of a new audit entry is the one this session just drew from the sequence (the app draws it, hashes
-- the entry with it, inserts it): nobody inserts an entry at a seq of their choosing (9·10¹⁸, say) that every
-- later entry would sort before. Setting the sequence needs UPDATE on it, which the runtime role lacks.
CREATE FUNCTION pgsessions.audit_log_seq_drawn() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.seq IS DISTINCT FROM currval(pg_get_serial_sequence('pgsessions.audit_log', 'seq')) THEN
    RAISE EXCEPTION 'pgsessions.audit_log: seq % was not drawn from the sequence by this session', NEW.seq
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER audit_log_seq_drawn
  BEFORE INSERT ON pgsessions.audit_log
  FOR EACH ROW EXECUTE FUNCTION pgsessions.audit_log_seq_drawn();

-- A detected tampering is audited as its own event (the list as 004 left it).
ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed',
                   'rule_proposed', 'rule_approved', 'rule_denied', 'rule_withdrawn', 'rule_revoked',
                   'rule_ended', 'rule_executed', 'tampering_detected'));
