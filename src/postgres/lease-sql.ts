// The SQL of watcher leadership (pgsessions.watch_leases, migration 006): named constants, `$n` parameters
// only, every statement on its own, so that it works through a transaction pooler. Time is the state
// database's clock (now()), never a replica's.

/**
 * $1 cluster, $2 holder, $3 lease seconds: takes the lease when nobody holds it or it has expired (a new
 * term: token + 1), renews it when $2 holds it. Returns the token, or nothing while another replica leads.
 */
export const SQL_ACQUIRE_LEASE = `
  INSERT INTO pgsessions.watch_leases AS l (cluster, holder, token, expires_at)
  VALUES ($1, $2, 1, now() + make_interval(secs => $3))
  ON CONFLICT (cluster) DO UPDATE SET
    token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.token ELSE l.token + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
    holder = EXCLUDED.holder,
    expires_at = EXCLUDED.expires_at,
    renewed_at = now()
  WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
  RETURNING token::text AS token`;

/** $1 holder: a replica that stops gives its leases back, so another takes over at its next try. */
export const SQL_RELEASE_LEASES = `
  UPDATE pgsessions.watch_leases SET expires_at = now() WHERE holder = $1 AND expires_at > now()`;

/**
 * A write's fence, as a condition: true while ($cluster, $token) is the current, unexpired lease. FOR SHARE
 * makes a takeover wait for the write in flight and the write re-check a lease taken over meanwhile: a
 * fenced write commits before the takeover or not at all.
 */
export const fenceHolds = (cluster: string, token: string): string => `EXISTS (
    SELECT 1 FROM pgsessions.watch_leases f
    WHERE f.cluster = ${cluster} AND f.token = ${token}::bigint AND f.expires_at > now()
    FOR SHARE)`;
