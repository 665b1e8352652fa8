// One transaction on one connection: BEGIN with the pool's limits (statement.ts), the work, COMMIT — or
// ROLLBACK and rethrow. The connection is the pool's, or its lifeline when the server is full; work that
// calls Slack while it holds the transaction passes `lifeline: false` (the lifeline is never held that long).
import type pg from 'pg';
import { acquire, limitsOf } from './pools.js';
import { transact } from './statement.js';

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>, options: { lifeline?: boolean } = {}): Promise<T> {
  // Typed as a pool client for the stores, which only query it: releasing is the lease's job, not theirs.
  return transact(await acquire(pool, options), limitsOf(pool), (client) => work(client as pg.PoolClient));
}
