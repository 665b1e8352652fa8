// One transaction on one pooled connection: BEGIN, the work, COMMIT — or ROLLBACK and rethrow.
import type pg from 'pg';

export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
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
      throw error;
    }
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}
