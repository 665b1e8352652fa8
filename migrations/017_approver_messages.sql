-- Direct messages to approvers (issue 16, docs/approvals.md "Direct messages"): one row per person told about
-- a request or a rule proposal, claimed BEFORE the message is sent. The unique key is what makes "never told
-- twice" hold across replicas: the second replica's insert conflicts and it sends nothing. The row then keeps
-- where the message went (channel, ts), so that every later change of the subject updates it in place.
--
-- What the runtime role may do is fenced like the rest (migration 007): a claim is inserted empty (no channel,
-- no ts), filled in once, and never moved to another message afterwards; a claim whose message Slack refused
-- is deleted (so that a later tier may try that person again). Nothing here can signal a backend: at worst a
-- holder of the runtime password makes pgsessions update or send a direct message.
CREATE TABLE pgsessions.approver_messages (
  subject_kind text NOT NULL CHECK (subject_kind IN ('request', 'rule')),
  subject_id   uuid NOT NULL,
  user_id      text NOT NULL CHECK (user_id ~ '^[UW][A-Z0-9]{1,30}$'),
  channel      text NULL,
  ts           text NULL,
  tier         integer NOT NULL DEFAULT 0 CHECK (tier >= 0 AND tier <= 100),
  sent_at      timestamptz NOT NULL DEFAULT now(),
  CONSTRAINT approver_messages_once UNIQUE (subject_kind, subject_id, user_id),
  CONSTRAINT approver_messages_sent CHECK ((channel IS NULL) = (ts IS NULL))
);

CREATE FUNCTION pgsessions.approver_messages_fence() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER') THEN RETURN NEW; END IF;
  IF TG_OP = 'INSERT' THEN
    IF NEW.channel IS NOT NULL OR NEW.ts IS NOT NULL THEN
      RAISE EXCEPTION 'pgsessions.approver_messages: a direct message is claimed before it is sent'
        USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
  END IF;
  IF OLD.channel IS NOT NULL OR OLD.ts IS NOT NULL THEN
    RAISE EXCEPTION 'pgsessions.approver_messages: a sent direct message stays where it was sent'
      USING ERRCODE = 'insufficient_privilege';
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER approver_messages_fence
  BEFORE INSERT OR UPDATE ON pgsessions.approver_messages
  FOR EACH ROW EXECUTE FUNCTION pgsessions.approver_messages_fence();
