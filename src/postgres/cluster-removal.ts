// A cluster removed from the clusters file takes its pending requests with it: each expires, audited with why,
// at once rather than at its deadline (nothing can be approved there any more). Every replica reloads the
// file and runs this; the conditional UPDATE with SKIP LOCKED expires each request exactly once.
import type pg from 'pg';
import type { KillRequest } from '../domain/types.js';
import { REQUEST_COLUMNS } from './request-sql.js';
import { type AppendAuditIn, requestSummary } from './request-store.js';
import { toRequest } from './state-rows.js';
import { inTransaction } from './transaction.js';

export const SQL_EXPIRE_CLUSTER = `
  UPDATE pgsessions.requests SET status = 'expired'
  WHERE id IN (
    SELECT id FROM pgsessions.requests
    WHERE status = 'pending' AND cluster = $1
    ORDER BY id
    FOR UPDATE SKIP LOCKED)
  RETURNING ${REQUEST_COLUMNS}`;

/** Expires every pending request of `cluster`; returns them (none when another replica got there first). */
export async function expireRemovedCluster(
  pool: pg.Pool,
  appendAuditIn: AppendAuditIn,
  cluster: string,
): Promise<KillRequest[]> {
  return inTransaction(pool, async (client) => {
    const { rows } = await client.query(SQL_EXPIRE_CLUSTER, [cluster]);
    const expired = rows.map(toRequest).sort((a, b) => a.id.localeCompare(b.id));
    for (const r of expired) {
      await appendAuditIn(client, {
        requestId: r.id,
        event: 'expired',
        actor: null,
        cluster: r.cluster,
        details: { ...requestSummary(r), expiresAt: r.expiresAt, why: 'cluster_removed' },
      });
    }
    return expired;
  });
}
