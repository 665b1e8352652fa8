// One transaction on one pooled connection: BEGIN, the work, COMMIT — or ROLLBACK and rethrow.
import type pg from 'pg';
import { isStateReadOnly } from '../domain/state-trouble.js';

const SQL_READ_ONLY = `SELECT current_setting('transaction_read_only') = 'on' AS read_only`;

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    return await once(pool, work);
  } catch (error) {
    if (!isStateReadOnly(error)) throw error;
    // "Read-only" (25006) comes at the first write, before anything else happened, and the transaction is
    // rolled back. After a failover, idle connections may still lead to the read-only server (a demoted
    // primary, sessions opened under default_transaction_read_only) while a new one reaches the writable
    // primary: those are closed and the work tried once more, so pgsessions recovers by itself.
    await closeReadOnlyIdle(pool);
    return once(pool, work);
  }
}

async function once<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no pool error listener: without this, a connection lost while idle in the
  // transaction (say, during a slow post to Slack) would be an uncaught 'error' event and end the process.
  // The failure still surfaces as the rejection of the next query.
  const onError = (error: Error) => {
    broken = error;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    try {
      const value = await work(client);
      await client.query('COMMIT');
      return value;
    } catch (error) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      // A connection to a read-only server is never reused.
      if (isStateReadOnly(error)) broken ??= error as Error;
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

/** Checks every idle connection of the pool at once and closes those that lead to a read-only server. */
async function closeReadOnlyIdle(pool: pg.Pool): Promise<void> {
  const clients = await Promise.all(Array.from({ length: pool.idleCount }, () => pool.connect().catch(() => null)));
  await Promise.all(
    clients.map(async (client) => {
      if (!client) return;
      const readOnly = await client.query<{ read_only: boolean }>(SQL_READ_ONLY).then((r) => r.rows[0]?.read_only !== false, () => true);
      client.release(readOnly ? new Error('read-only connection closed') : undefined);
    }),
  );
}
