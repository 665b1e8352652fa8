-- Watching: one row per incident (a cause on a cluster, keyed by cluster, cause and root session), its
-- alert message in the watch channel, and one summary message per cluster for alerts beyond the cap.
-- The watcher of a cluster is elected with a session advisory lock on the state database (no table).

CREATE TABLE pgsessions.incidents (
  id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  -- cluster|cause|subject: at most one row per cause, so a restart or a new leader finds it, never reposts.
  key            text NOT NULL UNIQUE,
  cluster        text NOT NULL,
  cause          text NOT NULL
    CHECK (cause IN ('lock-queue-head', 'root-blocker', 'idle-in-transaction', 'active', 'query-storm',
                     'connections', 'replication-lag', 'cluster-down')),
  status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'cleared')),
  incident       jsonb NOT NULL CHECK (jsonb_typeof(incident) = 'object'),
  opened_at      timestamptz NOT NULL DEFAULT now(),
  cleared_at     timestamptz NULL,
  clear_reason   jsonb NULL,
  channel        text NOT NULL,
  message_ts     text NULL,
  -- Set while one watcher posts the message: a second one (a leader change mid-post) does not post again.
  posting_since  timestamptz NULL,
  -- Slack's Retry-After, and the gap between updates.
  next_post_at   timestamptz NOT NULL DEFAULT now(),
  -- version counts changes; shown_version is the version the message shows.
  version        integer NOT NULL DEFAULT 1,
  shown_version  integer NOT NULL DEFAULT 0,
  shown_status   text NULL,
  shown_at       timestamptz NULL,
  snoozed_until  timestamptz NULL,
  snoozed_by     text NULL
);

-- Each look reads the open incidents of one cluster and those whose message is behind.
CREATE INDEX incidents_live_idx ON pgsessions.incidents (cluster) WHERE status = 'open' OR shown_version < version;

CREATE TABLE pgsessions.watch_summaries (
  cluster       text PRIMARY KEY,
  channel       text NOT NULL,
  message_ts    text NULL,
  body          text NOT NULL DEFAULT '',
  shown_at      timestamptz NULL,
  next_post_at  timestamptz NOT NULL DEFAULT now()
);

-- A snooze is audited like every other decision: 'snoozed' joins the audit events (the list as 002 left it).
ALTER TABLE pgsessions.audit_log DROP CONSTRAINT audit_log_event_check;
ALTER TABLE pgsessions.audit_log ADD CONSTRAINT audit_log_event_check
  CHECK (event IN ('requested', 'approved', 'denied', 'withdrawn', 'expired', 'executing', 'executed',
                   'failed', 'refused', 'chain_keyed', 'snoozed'));
