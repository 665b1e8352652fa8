// The state database as production runs it (docs/database-role.md "owner and runtime roles"): an owner role
// applies the migrations and grants a runtime role exactly what the app needs; the app connects as the runtime
// role. The audit and binding tests play whoever holds that runtime role's password, so they all start here.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { withRole } from './pg.js';
import { asSuperuser } from './roles.js';

export interface ProductionRoles {
  owner: string;
  runtime: string;
  password: string;
  /** Creates both roles, migrates `database` as the owner and grants the runtime role; the runtime role's URL. */
  prepare(database: { name: string; url: string }): Promise<string>;
  /** The owner's URL for `database` (after prepare). */
  ownerUrl(database: { url: string }): string;
  /** Drops both roles (after the database that holds their objects is gone). */
  drop(): Promise<void>;
}

/** `tag` keeps the role names apart per test file, for whoever reads pg_stat_activity during a run. */
export function productionRoles(tag: string): ProductionRoles {
  const suffix = randomBytes(4).toString('hex');
  const owner = `pgs_${tag}owner_${suffix}`;
  const runtime = `pgs_${tag}runtime_${suffix}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  return {
    owner,
    runtime,
    password,
    async prepare(database) {
      await asSuperuser(`CREATE ROLE ${owner} LOGIN PASSWORD '${password}'`);
      await asSuperuser(`CREATE ROLE ${runtime} LOGIN PASSWORD '${password}'`);
      await asSuperuser(`GRANT CREATE ON DATABASE ${database.name} TO ${owner}`);
      const pool = new pg.Pool({ connectionString: withRole(database.url, owner, password), max: 1 });
      try {
        await migrate(pool);
        const client = await pool.connect();
        try {
          const granted = await grantRuntimeRole(client, runtime);
          assert.ok(granted.ok, JSON.stringify(granted));
        } finally {
          client.release();
        }
      } finally {
        await pool.end();
      }
      return withRole(database.url, runtime, password);
    },
    ownerUrl: (database) => withRole(database.url, owner, password),
    async drop() {
      await asSuperuser(`DROP ROLE IF EXISTS ${runtime}`);
      await asSuperuser(`DROP ROLE IF EXISTS ${owner}`);
    },
  };
}

/** Runs `work` on one connection as `url` (the runtime role: the attacker holding its password). */
export async function connectedAs<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}
