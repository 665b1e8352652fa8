// The in-memory state fake the request service's unit tests run on, and the PostgreSQL store it stands in for,
// held to the same cases (test/helpers/state-contract.ts): the fake cannot drift from the real rules.
import { after, before } from 'node:test';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { SQL_GET_REQUEST } from '../../src/postgres/request-sql.js';
import { createStateStore, type StateStore } from '../../src/postgres/state-store.js';
import { toRequest } from '../../src/postgres/state-rows.js';
import { createMemoryState } from '../helpers/memory-state.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { stateContract } from '../helpers/state-contract.js';

stateContract('the in-memory fake', async () => {
  const fake = createMemoryState();
  return {
    store: fake.port,
    async advance(seconds) {
      fake.advance(seconds);
    },
    async events(id) {
      return fake.events(id);
    },
  };
});

let db: TestDatabase;
let pool: pg.Pool;
let store: StateStore;
before(async () => {
  db = await createTestDatabase('contract');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  store = createStateStore(pool);
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

/**
 * PostgreSQL's clock cannot be moved: every request's times move back instead, as the suite's superuser (the
 * table's owner, whom the transition trigger lets through), and each row is sealed and bound again over its
 * new times with the store's own binder, so that the store still accepts it as untouched.
 */
async function backdate(seconds: number): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query(
      `UPDATE pgsessions.requests SET
         created_at = created_at - make_interval(secs => $1), expires_at = expires_at - make_interval(secs => $1),
         decided_at = decided_at - make_interval(secs => $1), executing_at = executing_at - make_interval(secs => $1),
         executed_at = executed_at - make_interval(secs => $1)
       RETURNING id`,
      [seconds],
    );
    for (const { id } of rows as Array<{ id: string }>) {
      const { rows: read } = await client.query(SQL_GET_REQUEST, [id]);
      const r = toRequest(read[0]);
      const approved = r.decidedBy !== null && ['approved', 'executed', 'failed'].includes(r.status);
      const binding = store.binder.request(
        r,
        approved ? { approver: r.decidedBy!, approvedAt: r.decidedAt!, expiresAt: null } : null,
      );
      await client.query('UPDATE pgsessions.requests SET binding = $2 WHERE id = $1', [id, binding]);
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw error;
  } finally {
    client.release();
  }
}

stateContract('the PostgreSQL store', async () => ({
  store,
  advance: backdate,
  async events(id) {
    const { rows } = await pool.query<{ event: string }>(
      'SELECT event FROM pgsessions.audit_log WHERE request_id::text = $1 ORDER BY seq',
      [id],
    );
    return rows.map((r) => r.event);
  },
}));
