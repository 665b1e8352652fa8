// Pruning after PGSESSIONS_RETENTION: batch after batch until nothing old is left.
import type pg from 'pg';
import type { Logger } from '../logger.js';
import { SQL_PRUNE_INCIDENTS, SQL_PRUNE_RULE_EXECUTIONS } from './retention-sql.js';

export interface Pruned {
  incidents: number;
  ruleExecutions: number;
}

export interface RetentionStore {
  prune(retentionSeconds: number): Promise<Pruned>;
}

const BATCH = 1_000;

async function drain(pool: pg.Pool, sql: string, retentionSeconds: number): Promise<number> {
  let total = 0;
  for (;;) {
    const { rowCount } = await pool.query(sql, [retentionSeconds, BATCH]);
    total += rowCount ?? 0;
    if ((rowCount ?? 0) < BATCH) return total;
  }
}

export function createRetentionStore(pool: pg.Pool): RetentionStore {
  return {
    async prune(retentionSeconds) {
      const incidents = await drain(pool, SQL_PRUNE_INCIDENTS, retentionSeconds);
      const ruleExecutions = await drain(pool, SQL_PRUNE_RULE_EXECUTIONS, retentionSeconds);
      return { incidents, ruleExecutions };
    },
  };
}

/**
 * The sweep's step: prunes at start-up, then at most once per interval (every replica may; a DELETE of what
 * is gone already is a no-op).
 */
export function everyInterval(
  store: RetentionStore,
  retentionSeconds: number,
  intervalMs: number,
  log: Logger,
): () => Promise<void> {
  let prunedAt = 0;
  return async () => {
    if (prunedAt !== 0 && Date.now() - prunedAt < intervalMs) return;
    prunedAt = Date.now();
    const pruned = await store.prune(retentionSeconds);
    if (pruned.incidents + pruned.ruleExecutions > 0)
      log.info(pruned, 'pruned incidents and rule executions past PGSESSIONS_RETENTION');
  };
}
