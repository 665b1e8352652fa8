// `npm run migrate` (in the Docker image: `node dist/cli/migrate.js`): applies the state migrations with the
// owner connection (PGSESSIONS_MIGRATE_DATABASE_URL, else STATE_DATABASE_URL) and grants the runtime role
// (PGSESSIONS_RUNTIME_ROLE, else the user of STATE_DATABASE_URL when that is another role) exactly what it
// needs (src/postgres/state-grants.ts). Exit 0 done, 1 a problem to fix, 2 could not run.
import pg from 'pg';
import { ConfigError, loadStateSettings, type StateSettings } from '../config.js';
import { scrubSecrets } from '../logger.js';
import { migrate } from '../postgres/migrate.js';
import { grantRuntimeRole, RUNTIME_GRANTS } from '../postgres/state-grants.js';

function userOf(url: string | null): string | null {
  if (!url) return null;
  try {
    return decodeURIComponent(new URL(url).username) || null;
  } catch {
    return null;
  }
}

let settings: StateSettings;
try {
  settings = loadStateSettings(process.env);
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : String(error));
  process.exit(2);
}
if (!settings.migrateDatabaseUrl) {
  console.error('Set PGSESSIONS_MIGRATE_DATABASE_URL (the owner connection) or STATE_DATABASE_URL.');
  process.exit(2);
}

const pool = new pg.Pool({
  connectionString: settings.migrateDatabaseUrl,
  application_name: 'pgsessions-migrate',
  max: 1,
});
pool.on('error', () => undefined);
try {
  const applied = await migrate(pool);
  console.log(applied.length > 0 ? `applied ${applied.join(', ')}` : 'the state schema is current');
  const client = await pool.connect();
  try {
    const owner = (await client.query<{ role: string }>('SELECT current_user AS role')).rows[0]!.role;
    const runtime = settings.runtimeRole ?? userOf(settings.stateDatabaseUrl);
    if (!runtime || runtime === owner) {
      console.log(
        `no separate runtime role: the app connects as the owner ${owner}, which could rewrite the audit log (set PGSESSIONS_RUNTIME_ROLE)`,
      );
    } else {
      const granted = await grantRuntimeRole(client, runtime);
      if (!granted.ok) {
        console.log(granted.message);
        process.exitCode = 1;
      } else {
        console.log(
          `granted the runtime role ${runtime} only: ${RUNTIME_GRANTS.map((g) => `${g.privileges} on ${g.on.replace(/^\w+ /, '')}`).join('; ')}`,
        );
      }
    }
  } finally {
    client.release();
  }
} catch (error) {
  console.error(`could not migrate: ${scrubSecrets((error as Error).message)}`);
  process.exitCode = 2;
} finally {
  await pool.end();
}
