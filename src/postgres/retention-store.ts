// Pruning after PGSESSIONS_RETENTION: batch after batch until nothing old is left.
import type pg from 'pg';
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
