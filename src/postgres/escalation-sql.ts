// The SQL of escalation (migration 018): what waits, and the claim of one step, exactly once across replicas.
import { REQUEST_COLUMNS } from './request-sql.js';
import { RULE_COLUMNS } from './rule-sql.js';

/**
 * $1 tier: pending requests and live proposals with no escalation at that tier, and their age by this
 * database's clock (the partial indexes on pending requests and live rules keep this small).
 */
export const SQL_WAITING = `
  SELECT 'request' AS kind, r.id::text AS id, r.cluster,
         extract(epoch FROM now() - r.created_at)::float8 AS age_seconds
  FROM pgsessions.requests r
  WHERE r.status = 'pending' AND r.expires_at > now()
    AND NOT EXISTS (SELECT 1 FROM pgsessions.escalations e
                    WHERE e.subject_kind = 'request' AND e.subject_id = r.id AND e.tier = $1)
  UNION ALL
  SELECT 'rule', p.id::text, p.cluster, extract(epoch FROM now() - p.created_at)::float8
  FROM pgsessions.rules p
  WHERE p.status = 'proposed' AND p.proposal_expires_at > now()
    AND NOT EXISTS (SELECT 1 FROM pgsessions.escalations e
                    WHERE e.subject_kind = 'rule' AND e.subject_id = p.id AND e.tier = $1)`;

/**
 * $1 id, $2 after (s): the request, still pending and asked long enough ago, locked against a decision until
 * the claim commits (an approval waits for it, and a claim after an approval finds nothing).
 */
export const SQL_LOCK_WAITING_REQUEST = `
  SELECT ${REQUEST_COLUMNS}
  FROM pgsessions.requests
  WHERE id = $1 AND status = 'pending' AND expires_at > now()
    AND created_at + make_interval(secs => $2::double precision) <= now()
  FOR SHARE`;

/** $1 id, $2 after (s): the same for a rule proposal. */
export const SQL_LOCK_WAITING_RULE = `
  SELECT ${RULE_COLUMNS}
  FROM pgsessions.rules
  WHERE id = $1 AND status = 'proposed' AND proposal_expires_at > now()
    AND created_at + make_interval(secs => $2::double precision) <= now()
  FOR SHARE`;

/** $1 kind, $2 id, $3 tier, $4 replica: one row back when this claim is the one. */
export const SQL_CLAIM = `
  INSERT INTO pgsessions.escalations (subject_kind, subject_id, tier, replica)
  VALUES ($1, $2::uuid, $3, $4)
  ON CONFLICT (subject_kind, subject_id, tier) DO NOTHING
  RETURNING tier`;
