// Tests that play "as if" on a request's row (a pid reused, a query changed) rewrite it as the suite's
// superuser, then reseal it as pgsessions would have sealed it — unkeyed, as these tests run without
// PGSESSIONS_AUDIT_KEY — so the check under test is the signal statement's, not the binding's.
import pg from 'pg';
import { createBinder } from '../../src/domain/binding.js';
import { createStateStore } from '../../src/postgres/state-store.js';

export async function resealRequest(url: string, id: string): Promise<void> {
  const pool = new pg.Pool({ connectionString: url, max: 1 });
  try {
    const request = await createStateStore(pool).get(id);
    if (!request) throw new Error(`no request ${id}`);
    await pool.query('UPDATE pgsessions.requests SET binding = $2 WHERE id = $1', [
      id,
      createBinder(null).request(request, null),
    ]);
  } finally {
    await pool.end();
  }
}
