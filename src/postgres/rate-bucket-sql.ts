// The SQL of shared rate limits (pgsessions.rate_buckets, migration 011): one statement each, `$n`
// parameters only, time by the state database's clock (clock_timestamp()), never a replica's. A bucket's
// level is its tokens plus what has refilled since `at`, capped at the burst; a clock that went backwards
// refills nothing.

const level = (b: string, burst = '$3', perSecond = '$4') =>
  `LEAST(${burst}::float8, ${b}.tokens + GREATEST(0, extract(epoch FROM clock_timestamp() - ${b}.at)) * ${perSecond}::float8)`;

/**
 * $1 bucket, $2 person, $3 burst, $4 tokens per second: takes one token when the level is at least one.
 * A row comes back when it was taken; none when the person has no token left (nothing is written then).
 */
export const SQL_TAKE_TOKEN = `
  INSERT INTO pgsessions.rate_buckets AS b (bucket, person, tokens, at)
  VALUES ($1, $2, $3::float8 - 1, clock_timestamp())
  ON CONFLICT (bucket, person) DO UPDATE SET tokens = ${level('b')} - 1, at = clock_timestamp()
  WHERE ${level('b')} >= 1
  RETURNING tokens`;

/** $1 bucket, $2 person, $3 burst, $4 tokens per second: gives one token back (a try that did not count). */
export const SQL_REFUND_TOKEN = `
  UPDATE pgsessions.rate_buckets AS b SET tokens = LEAST($3::float8, ${level('b')} + 1), at = clock_timestamp()
  WHERE b.bucket = $1 AND b.person = $2`;

/** $1 bucket, $2 burst, $3 tokens per second: forgets buckets that are full again. */
export const SQL_PRUNE_BUCKETS = `
  DELETE FROM pgsessions.rate_buckets AS b
  WHERE b.bucket = $1 AND ${level('b', '$2', '$3')} >= $2::float8`;
