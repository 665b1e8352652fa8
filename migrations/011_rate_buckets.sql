-- Per-person rate limits shared by every replica (PGSESSIONS_LISTING_RATE, PGSESSIONS_REQUEST_RATE): one
-- token bucket per (bucket, person), taken in one statement by the state database's clock, so N replicas do
-- not grant N times the rate. A bucket that has filled up again is the same as none and is deleted.
-- What the runtime role can do with this table: set a person's tokens, so allow or refuse that person's
-- listings and requests; never make pgsessions signal (every request still needs its approver, and every
-- signal its binding and identity check). docs/SECURITY.md says so in its table.

CREATE TABLE pgsessions.rate_buckets (
  bucket  text NOT NULL CHECK (bucket IN ('listing', 'request')),
  person  text NOT NULL CHECK (length(person) BETWEEN 1 AND 64),
  tokens  double precision NOT NULL,
  at      timestamptz NOT NULL,
  PRIMARY KEY (bucket, person)
);
