// Database roles for tests that must not run as the suite's superuser: a bot role with exactly the grants
// the README asks for, the role of a session to be killed, a role named like a managed service's.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { serverUrl } from './pg.js';

export interface TestRole {
  name: string;
  password: string;
  /** `url` with this role's name and password in place of the superuser's. */
  url(url: string): string;
  /** Ends the role's sessions and drops it (drop its databases, or what it owns, first). */
  drop(): Promise<void>;
}

async function onServer(sql: string, params: unknown[] = []): Promise<void> {
  const c = new pg.Client({ connectionString: serverUrl() });
  await c.connect();
  try {
    await c.query(sql, params);
  } finally {
    await c.end();
  }
}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

/**
 * A LOGIN role. `name` gives an exact name (e.g. a provider's role; dropped first if a previous run left it),
 * else `prefix` plus random hex. `memberOf` are granted roles (pg_monitor, …); `superuser` makes it one.
 */
export async function createRole(
  options: { name?: string; prefix?: string; memberOf?: string[]; superuser?: boolean } = {},
): Promise<TestRole> {
  const name = options.name ?? `${options.prefix ?? 'trole'}_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  if (options.name) await dropRole(name);
  const attrs = `LOGIN ${options.superuser ? 'SUPERUSER' : 'NOSUPERUSER'} PASSWORD '${password}'`;
  const member = options.memberOf?.length ? ` IN ROLE ${options.memberOf.map(quote).join(', ')}` : '';
  await onServer(`CREATE ROLE ${quote(name)} ${attrs}${member}`);
  return {
    name,
    password,
    url(url) {
      const u = new URL(url);
      u.username = name;
      u.password = password;
      return u.toString();
    },
    drop: () => dropRole(name),
  };
}

async function dropRole(name: string): Promise<void> {
  await onServer(
    'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1 AND pid <> pg_backend_pid()',
    [name],
  );
  await onServer(`DROP ROLE IF EXISTS ${quote(name)}`);
}

/** Runs one statement as the suite's superuser (GRANT, ALTER ROLE …). */
export const asSuperuser = onServer;
