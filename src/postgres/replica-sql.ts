// The SQL of watching spread over replicas (pgsessions.watch_replicas, migration 012, and the leases of
// migration 006): named constants, `$n` parameters only, every statement on its own so that it works through
// a transaction pooler. Time is the state database's clock (now()), never a replica's. A replica sends two
// statements per renewal period, whatever the number of clusters: its heartbeat, and one batch of leases.

/**
 * $1 holder, $2 its clusters (text[]), $3 seconds it stays alive without a heartbeat: says this replica is alive
 * and returns every live replica (itself included) with the clusters it knows. Rows dead for a day go.
 */
export const SQL_HEARTBEAT = `
  WITH gone AS (
    DELETE FROM pgsessions.watch_replicas WHERE expires_at < now() - interval '1 day' AND holder <> $1
  ), me AS (
    INSERT INTO pgsessions.watch_replicas AS r (holder, clusters, expires_at)
    VALUES ($1, $2::text[], now() + make_interval(secs => $3))
    ON CONFLICT (holder) DO UPDATE SET clusters = EXCLUDED.clusters, expires_at = EXCLUDED.expires_at, seen_at = now()
    RETURNING r.holder, r.clusters
  )
  SELECT holder, clusters FROM me
  UNION ALL
  SELECT holder, clusters FROM pgsessions.watch_replicas WHERE expires_at > now() AND holder <> $1`;

/** $1 holder: a replica that stops says so, and the others share its clusters at their next heartbeat. */
export const SQL_LEAVE = 'DELETE FROM pgsessions.watch_replicas WHERE holder = $1';

/**
 * $1 clusters (text[]), $2 whether each is this replica's to take (boolean[]), $3 holder, $4 lease seconds,
 * $5 seconds after which an expired lease nobody took is an orphan anyone may take, $6 whether a cluster
 * nobody ever led is an orphan too (true once this replica has run for $5: its rightful leader never came).
 * One statement for all of a replica's leases: renews those it holds, takes those of its share that are free or
 * expired (a new term: token + 1), and takes any other cluster only once it is an orphan (its rightful leader
 * is stuck, or is no replica at all: a forged heartbeat row). Returns every lease this replica now holds.
 */
export const SQL_LEASE_BATCH = `
  WITH wanted AS (
    SELECT w.cluster, w.mine FROM unnest($1::text[], $2::boolean[]) AS w(cluster, mine)
  )
  INSERT INTO pgsessions.watch_leases AS l (cluster, holder, token, expires_at)
  SELECT w.cluster, $3, 1, now() + make_interval(secs => $4) FROM wanted w
  WHERE w.mine
    OR EXISTS (
      SELECT 1 FROM pgsessions.watch_leases o
      WHERE o.cluster = w.cluster AND o.expires_at <= now() - make_interval(secs => $5))
    OR ($6 AND NOT EXISTS (SELECT 1 FROM pgsessions.watch_leases o WHERE o.cluster = w.cluster))
  ORDER BY w.cluster
  ON CONFLICT (cluster) DO UPDATE SET
    token = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.token ELSE l.token + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.expires_at > now() THEN l.acquired_at ELSE now() END,
    holder = EXCLUDED.holder,
    expires_at = EXCLUDED.expires_at,
    renewed_at = now()
  WHERE l.holder = EXCLUDED.holder OR l.expires_at <= now()
  RETURNING l.cluster, l.token::text AS token`;

/** $1 cluster, $2 holder, $3 token: gives one lease back (a safe point between two looks), for its new leader. */
export const SQL_RELEASE_ONE = `
  UPDATE pgsessions.watch_leases SET expires_at = now()
  WHERE cluster = $1 AND holder = $2 AND token = $3::bigint AND expires_at > now()`;
