// One transaction on one connection: BEGIN with the pool's limits (statement.ts), the work, COMMIT — or
// ROLLBACK and rethrow. The connection is the pool's, or its lifeline when the server is full; work that
// calls Slack while it holds the transaction passes `lifeline: false` (the lifeline is never held that long).
import type pg from 'pg';
import { isStateReadOnly } from '../domain/errors.js';
import { acquire, limitsOf } from './pools.js';
import { transact } from './statement.js';

const SQL_READ_ONLY = `SELECT current_setting('transaction_read_only') = 'on' AS read_only`;

export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { lifeline?: boolean } = {},
): Promise<T> {
  try {
    return await once(pool, work, options);
  } catch (error) {
    if (!isStateReadOnly(error)) throw error;
    // "Read-only" (25006) comes at the first write, before anything else happened, and the transaction is
    // rolled back. After a failover, idle connections may still lead to the read-only server (a demoted
    // primary, sessions opened under default_transaction_read_only) while a new one reaches the writable
    // primary: those are closed and the work tried once more, so pgsessions recovers by itself.
    await closeReadOnlyIdle(pool);
    return once(pool, work, options);
  }
}

async function once<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
  options: { lifeline?: boolean },
): Promise<T> {
  // Typed as a pool client for the stores, which only query it: releasing is the lease's job, not theirs.
  return transact(await acquire(pool, options), limitsOf(pool), (client) => work(client as pg.PoolClient));
}

/** Checks every idle connection of the pool at once and closes those that lead to a read-only server. */
async function closeReadOnlyIdle(pool: pg.Pool): Promise<void> {
  const clients = await Promise.all(Array.from({ length: pool.idleCount }, () => pool.connect().catch(() => null)));
  await Promise.all(
    clients.map(async (client) => {
      if (!client) return;
      const readOnly = await client.query<{ read_only: boolean }>(SQL_READ_ONLY).then(
        (r) => r.rows[0]?.read_only !== false,
        () => true,
      );
      client.release(readOnly ? new Error('read-only connection closed') : undefined);
    }),
  );
}
