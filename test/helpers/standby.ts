// A real streaming standby for tests: a primary started like the suite's server, a base backup taken with
// the low-level backup functions (pg_backup_start, a copy of the data directory, pg_backup_stop: the Debian
// pg_basebackup here is older than the embedded server and refuses to stream from it), and a second server
// started from that copy with standby.signal and primary_conninfo. It replays the primary's WAL through its
// own startup and walreceiver processes, as a managed replica does.
import { execFileSync, spawn } from 'node:child_process';
import { appendFile, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from './embedded.js';

export interface Standby {
  /** Superuser URL of the primary's `postgres` database. */
  primaryUrl: string;
  /** Superuser URL of the standby's `postgres` database (read-only: it is in recovery). */
  url: string;
  stop(): Promise<void>;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

export async function startStandby(): Promise<Standby> {
  const primary = await startEmbeddedPostgres({ reuseInitdb: true });
  const dataDir = (await query<{ data_directory: string }>(primary.url, 'SHOW data_directory'))[0]!.data_directory;
  // The server binary the primary runs (a copy the postgres user can reach, when run as root).
  const postmasterPid = (await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]!;
  const binary = await readlink(`/proc/${postmasterPid}/exe`);
  const copy = `${dataDir}-standby`;
  const backup = new pg.Client({ connectionString: primary.url });
  await backup.connect();
  try {
    await backup.query(`SELECT pg_backup_start('pgsessions-test-standby', true)`);
    execFileSync('cp', ['-a', dataDir, copy]);
    const { rows } = await backup.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(false)');
    await writeFile(join(copy, 'backup_label'), rows[0]!.labelfile);
  } finally {
    await backup.end();
  }
  await rm(join(copy, 'postmaster.pid'), { force: true });
  execFileSync('sh', ['-c', 'rm -rf "$1"/pg_wal/* && mkdir -p "$1"/pg_wal/archive_status', 'sh', copy]);
  await writeFile(join(copy, 'standby.signal'), '');
  const p = new URL(primary.url);
  await appendFile(
    join(copy, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${p.port} user=postgres password=${decodeURIComponent(p.password)}'\n`,
  );
  let runAs: { uid: number; gid: number } | undefined;
  if (userInfo().uid === 0) {
    const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
    runAs = { uid: id('-u'), gid: id('-g') };
    execFileSync('chown', ['-R', 'postgres:postgres', copy]);
  }
  const port = await freePort();
  const server = spawn(
    binary,
    [
      '-D',
      copy,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
      '-c',
      'hot_standby=on',
      '-c',
      'max_connections=300',
      '-c',
      'max_wal_senders=10',
      '-c',
      'max_replication_slots=10',
      '-c',
      'wal_level=logical',
      '-c',
      'fsync=off',
    ],
    {
      ...(runAs ?? {}),
      env: { ...process.env, LC_ALL: 'C', LANG: 'C' },
    },
  );
  let log = '';
  const exited = new Promise<void>((done) => server.once('exit', () => done()));
  await new Promise<void>((ready, fail) => {
    const timer = setTimeout(
      () => fail(new Error(`the standby did not start within 60 s:\n${log.slice(-2000)}`)),
      60_000,
    );
    server.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (log.includes('ready to accept read-only connections')) {
        clearTimeout(timer);
        ready();
      }
    });
    server.once('exit', (code) =>
      fail(new Error(`the standby exited with ${code} while starting:\n${log.slice(-2000)}`)),
    );
  });
  server.stderr.on('data', () => undefined);
  const url = new URL(primary.url);
  url.port = String(port);
  return {
    primaryUrl: primary.url,
    url: url.toString(),
    async stop() {
      if (server.exitCode === null) {
        server.kill('SIGINT');
        await exited;
      }
      await rm(copy, { recursive: true, force: true });
      await primary.stop();
    },
  };
}
