// The PgBouncer the suite starts behaves as users' PgBouncer does: it pools, and it refuses start-up
// parameters beyond its defaults (the reason pgsessions may send none).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { serverUrl } from './pg.js';
import { skipWithoutPgBouncer, startPgBouncer, type PgBouncer } from './pgbouncer.js';

describe('the test PgBouncer', { skip: skipWithoutPgBouncer() }, () => {
  let bouncer: PgBouncer;
  before(async () => {
    bouncer = await startPgBouncer({ serverUrl: serverUrl(), poolMode: 'transaction' });
  });
  after(async () => {
    await bouncer?.stop();
  });

  test('answers queries in transaction pooling, through a server connection of its own', async () => {
    const client = new pg.Client({ connectionString: bouncer.url() });
    await client.connect();
    try {
      const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
      assert.equal(rows[0]?.one, 1);
    } finally {
      await client.end();
    }
    const pools = await bouncer.admin('SHOW POOLS');
    assert.ok(
      pools.some((row) => row.pool_mode === 'transaction'),
      'the pool is in transaction mode',
    );
  });

  test('refuses a start-up parameter it does not know, as a default PgBouncer does', async () => {
    const client = new pg.Client({ connectionString: bouncer.url(), statement_timeout: 1000 });
    client.on('error', () => undefined);
    await assert.rejects(client.connect(), /unsupported startup parameter/);
  });
});
