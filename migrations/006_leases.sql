-- Watcher leadership as a lease row per cluster instead of a session advisory lock, so that the state
-- database can sit behind a transaction pooler (PgBouncer pool_mode=transaction), where a session lock would
-- be taken on one server connection and live on there after the replica that took it is gone.
-- A replica leads a cluster while its row names it and has not expired (by the state database's clock); it
-- renews before expiry; another takes the row over only after expiry, and every takeover increments the
-- fencing token. Every write the watcher makes as leader carries the token and is refused once it is stale.

CREATE TABLE pgsessions.watch_leases (
  cluster      text PRIMARY KEY,
  holder       text NOT NULL,
  token        bigint NOT NULL CHECK (token > 0),
  expires_at   timestamptz NOT NULL,
  acquired_at  timestamptz NOT NULL DEFAULT now(),
  renewed_at   timestamptz NOT NULL DEFAULT now()
);
