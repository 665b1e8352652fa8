-- Watching spread over replicas (issue 17): each replica says it is alive, and which clusters it can watch, in
-- a heartbeat row renewed with its leases. Every replica reads the live rows and computes the same fair share
-- (src/domain/share.ts): it takes the leases of its own share and gives back, at a safe point between two
-- looks, the ones beyond it. A row whose expires_at has passed (by the state database's clock) is a dead
-- replica: its share goes to the others. Only who leads what is decided from here; the lease row
-- (watch_leases, migration 006) and its fencing token still guard every write, so a wrong or forged row can
-- move leadership around but never make two replicas post the same incident, and never makes pgsessions signal.

CREATE TABLE pgsessions.watch_replicas (
  holder      text PRIMARY KEY,
  clusters    text[] NOT NULL,
  started_at  timestamptz NOT NULL DEFAULT now(),
  seen_at     timestamptz NOT NULL DEFAULT now(),
  expires_at  timestamptz NOT NULL
);
