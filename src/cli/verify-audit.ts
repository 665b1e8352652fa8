// `npm run audit:verify`: recompute the audit log's hash chain in the state database and say whether any
// entry was changed, removed or inserted out of order since it was written. Exit 0 intact, 1 broken, 2 error.
import pg from 'pg';
import { scrubSecrets } from '../logger.js';
import { createStateStore } from '../postgres/state-store.js';

const url = process.env.STATE_DATABASE_URL || process.env.DATABASE_URL;
if (!url) {
  console.error('Set STATE_DATABASE_URL (or DATABASE_URL) to the database that holds the pgsessions schema.');
  process.exit(2);
}
const pool = new pg.Pool({ connectionString: url, application_name: 'pgsessions-verify', max: 1 });
pool.on('error', () => undefined);
try {
  const result = await createStateStore(pool).verifyAudit();
  if (result.ok) {
    console.log(`audit log intact: ${result.count} entries, hash chain verified`);
    process.exitCode = 0;
  } else {
    console.log(`audit log BROKEN at entry #${result.brokenAtSeq}: ${result.reason}`);
    process.exitCode = 1;
  }
} catch (error) {
  console.error(`could not verify the audit log: ${scrubSecrets((error as Error).message)}`);
  process.exitCode = 2;
} finally {
  await pool.end();
}
