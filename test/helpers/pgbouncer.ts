// A real PgBouncer (Debian's `pgbouncer` package) in front of the suite's PostgreSQL, started and stopped by
// the test that needs it, as test/run.ts starts PostgreSQL. Its settings are PgBouncer's defaults, plus what
// Debian's shipped pgbouncer.ini sets (`ignore_startup_parameters = extra_float_digits`): what users run.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from './embedded.js';

const CANDIDATES = ['/usr/sbin/pgbouncer', '/usr/bin/pgbouncer'];

/** The PgBouncer binary, or null where it is not installed (`apt-get install pgbouncer`; `.ci/run` does). */
export function pgbouncerBinary(): string | null {
  return CANDIDATES.find((path) => existsSync(path)) ?? null;
}

/**
 * `skip` option for a test that needs PgBouncer: a reason to skip on a machine without it, but never in CI,
 * where `.ci/run` installs it and a missing binary must fail the run instead of hiding the tests.
 */
export function skipWithoutPgBouncer(): string | false {
  if (pgbouncerBinary() !== null || process.env.CI === 'true') return false;
  return 'PgBouncer is not installed here (apt-get install pgbouncer); .ci/run installs it';
}

export type PoolMode = 'transaction' | 'session' | 'statement';

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it (its host, port, user and password are used). */
  serverUrl: string;
  poolMode: PoolMode;
  /** More users that may log in through it, with their passwords (the server's user always may). */
  users?: Record<string, string>;
  /** Extra `[pgbouncer]` settings, e.g. `{ default_pool_size: '2' }`. */
  settings?: Record<string, string>;
}

export interface PgBouncer {
  port: number;
  /** `serverUrl` with its host and port replaced by PgBouncer's, for `database` (default: the server URL's). */
  url(database?: string, user?: { name: string; password: string }): string;
  /** Runs one command on PgBouncer's admin console (`SHOW POOLS`, `PAUSE`, …) and returns its rows. */
  admin(command: string): Promise<Record<string, unknown>[]>;
  stop(): Promise<void>;
}

const quote = (value: string) => `"${value.replace(/"/g, '""')}"`;

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = pgbouncerBinary();
  if (!binary) throw new Error('PgBouncer is not installed (apt-get install pgbouncer)');
  const server = new URL(options.serverUrl);
  const adminUser = decodeURIComponent(server.username);
  const adminPassword = decodeURIComponent(server.password);
  const users = { [adminUser]: adminPassword, ...(options.users ?? {}) };
  const port = await freePort();
  const dir = await mkdtemp(join(tmpdir(), 'pgsessions-pgbouncer-'));
  const ini = [
    '[databases]',
    `* = host=${server.hostname} port=${server.port}`,
    '[pgbouncer]',
    'listen_addr = 127.0.0.1',
    `listen_port = ${port}`,
    `unix_socket_dir =`,
    'auth_type = plain',
    `auth_file = ${join(dir, 'userlist.txt')}`,
    `admin_users = ${adminUser}`,
    `pool_mode = ${options.poolMode}`,
    'ignore_startup_parameters = extra_float_digits',
    `pidfile = ${join(dir, 'pgbouncer.pid')}`,
    ...Object.entries(options.settings ?? {}).map(([key, value]) => `${key} = ${value}`),
    '',
  ].join('\n');
  await writeFile(join(dir, 'pgbouncer.ini'), ini, { mode: 0o600 });
  await writeFile(
    join(dir, 'userlist.txt'),
    `${Object.entries(users)
      .map(([u, p]) => `${quote(u)} ${quote(p)}`)
      .join('\n')}\n`,
    { mode: 0o600 },
  );
  // PgBouncer refuses to run as root: as root, it runs as the user the embedded PostgreSQL runs as.
  let runAs: { uid: number; gid: number } | undefined;
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    runAs = { uid: id('-u'), gid: id('-g') };
    await chmod(dir, 0o700);
    await chown(dir, runAs.uid, runAs.gid);
    for (const file of ['pgbouncer.ini', 'userlist.txt']) await chown(join(dir, file), runAs.uid, runAs.gid);
  }
  const child = spawn(binary, [join(dir, 'pgbouncer.ini')], { ...(runAs ?? {}), stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const collect = (chunk: Buffer) => {
    log = (log + chunk.toString()).slice(-8000);
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  const stopOnExit = () => child.kill('SIGKILL');
  process.once('exit', stopOnExit);

  const url = (database?: string, user?: { name: string; password: string }) => {
    const u = new URL(options.serverUrl);
    u.port = String(port);
    if (database) u.pathname = `/${database}`;
    if (user) {
      u.username = encodeURIComponent(user.name);
      u.password = encodeURIComponent(user.password);
    }
    return u.toString();
  };
  const admin = async (command: string) => {
    const client = new pg.Client({ connectionString: url('pgbouncer') });
    client.on('error', () => undefined);
    await client.connect();
    try {
      // The admin console speaks only the simple query protocol: no parameters.
      return (await client.query(command)).rows as Record<string, unknown>[];
    } finally {
      await client.end().catch(() => undefined);
    }
  };

  // Ready when its admin console answers.
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`PgBouncer exited with ${child.exitCode} while starting:\n${log}`);
    try {
      await admin('SHOW VERSION');
      break;
    } catch (error) {
      if (Date.now() > deadline)
        throw new Error(`PgBouncer did not start within 15 s: ${(error as Error).message}\n${log}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  return {
    port,
    url,
    admin,
    async stop() {
      process.removeListener('exit', stopOnExit);
      if (child.exitCode === null) {
        child.kill('SIGINT');
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}
