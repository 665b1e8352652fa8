// `npm run bench:fleet`: watching a fleet with 3 replicas (issue 17, Goals). One embedded PostgreSQL under N
// cluster names (20, then 200; BENCH_FLEET_SIZES=…) watched at 10 s by 3 pgsessions processes sharing one
// state database (on a PostgreSQL server of its own, as in production). Prints figures and PASS/MISS; never asserts. About
// 4–5 minutes. For each size:
//   - spread: how long until the 3 replicas lead every cluster, and how many each leads;
//   - CPU per replica (utime + stime from /proc over a quiet window, then over the incident window);
//   - detection p95: one lock wait crosses the 1 s threshold on every cluster at once (same server) → each
//     cluster's alert posted at the Slack stand-in; goal ≤ interval + 1 s;
//   - state-database statements per second (pg_stat_database.xact_commit + xact_rollback of the state database:
//     every statement the app sends there is its own transaction), quiet and with one incident per cluster.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort, startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { baseEnv } from '../test/helpers/app.js';
import { blockedQuery, idleInTransactionLockHolder } from '../test/helpers/sessions.js';
import { compileApp, startAppProcess, type AppProcess } from './app-process.js';
import { ms, percentile, sleep, table, verdict } from './stats.js';

const SIZES = (process.env.BENCH_FLEET_SIZES ?? '20,200').split(',').map(Number);
const REPLICAS = 3;
const INTERVAL_S = 10;
const QUIET_S = Number(process.env.BENCH_FLEET_QUIET_SECONDS ?? 20);
const EVENTS = Number(process.env.BENCH_FLEET_EVENTS ?? 2);
const WATCH = 'CFLEET01';
const log = (message: string) => console.error(`[bench:fleet ${new Date().toISOString().slice(11, 19)}] ${message}`);
const TICK_HZ = 100; // USER_HZ on Linux

const maxSize = Math.max(...SIZES);
const server = await startEmbeddedPostgres({ maxConnections: maxSize * REPLICAS * 2 + 300, reuseInitdb: true });
// The state database on a server of its own: each replica holds about three connections per cluster on the
// fleet's server (reserved connection, watch reader, listing pool), which must not starve the state's.
const stateServer = await startEmbeddedPostgres({ maxConnections: 300, reuseInitdb: true });
const slack = await startSlackApi();
const work = await mkdtemp(join(tmpdir(), 'pgsessions-bench-fleet-'));
// As production runs it (`npm start`: node dist/main.js), compiled once into the scratch directory.
log('compiling src/ with tsc into a scratch directory');
const appArgs = await compileApp(work, log);
// Pools, not clients: a connection ended under the benchmark (a lock holder's end, the server's own) is replaced.
const admin = new pg.Pool({ connectionString: server.url, max: 2 });
admin.on('error', () => undefined);
await admin.query('CREATE TABLE IF NOT EXISTS probe (id int)');
const stateAdmin = new pg.Pool({ connectionString: stateServer.url, max: 2 });
stateAdmin.on('error', () => undefined);
const stateUrl = new URL(stateServer.url);
stateUrl.pathname = '/fleet_state';
const results: string[][] = [
  [
    'clusters',
    'spread after last start',
    'ready after (each replica)',
    'leads (each)',
    'CPU per replica, quiet',
    'CPU per replica, incidents',
    'detection p50 / p95',
    'goal ≤ 11 s',
    'state stmts/s quiet',
    'state stmts/s incidents',
  ],
];
let running: AppProcess[] = [];

async function cpuTicks(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).split(') ')[1]!.split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime, stime (fields 14 and 15 of stat)
}

async function stateStatements(): Promise<number> {
  const { rows } = await stateAdmin.query<{ n: string }>(
    `SELECT xact_commit + xact_rollback AS n FROM pg_stat_database WHERE datname = 'fleet_state'`,
  );
  return Number(rows[0]!.n);
}

/** CPU (% of one core, per replica) and state statements per second over `seconds`. */
async function window(seconds: number, during?: () => Promise<void>) {
  await stateAdmin.query('SELECT pg_stat_clear_snapshot()');
  const t0 = performance.now();
  const cpu0 = await Promise.all(running.map((p) => cpuTicks(p.pid)));
  const s0 = await stateStatements();
  if (during) await during();
  else await sleep(seconds * 1000);
  await sleep(1_000); // backends flush their statistics at most every second
  await stateAdmin.query('SELECT pg_stat_clear_snapshot()');
  const s1 = await stateStatements();
  const cpu1 = await Promise.all(running.map((p) => cpuTicks(p.pid)));
  const wall = (performance.now() - t0) / 1000;
  const cpu = cpu1.map((c, i) => ((c - cpu0[i]!) / TICK_HZ / wall) * 100);
  return { cpu, perSecond: (s1 - s0) / wall };
}

try {
  await stateAdmin.query('CREATE DATABASE fleet_state');
  const state = new pg.Pool({ connectionString: stateUrl.toString(), max: 1 });
  state.on('error', () => undefined);
  for (const size of SIZES) {
    log(`${size} clusters: starting ${REPLICAS} replicas one after another`);
    const file = join(work, `clusters-${size}.yml`);
    const names = Array.from({ length: size }, (_, i) => `c${String(i).padStart(3, '0')}`);
    await writeFile(file, `clusters:\n${names.map((n) => `  - name: ${n}\n    url: ${server.url}\n`).join('')}`);
    running = [];
    const readyMs: number[] = [];
    let failure = '';
    let lastStart = 0;
    for (let r = 0; r < REPLICAS; r++) {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...baseEnv(server.url, slack, {
          PORT: String(port),
          PGSESSIONS_CLUSTERS: file,
          STATE_DATABASE_URL: stateUrl.toString(),
          LOG_LEVEL: 'info',
          PGSESSIONS_WATCH_CHANNEL: WATCH,
          PGSESSIONS_WATCH_INTERVAL: `${INTERVAL_S}s`,
          PGSESSIONS_WATCH_LOCK_WAIT: '1s',
          PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: 'off',
          PGSESSIONS_WATCH_ACTIVE: 'off',
          PGSESSIONS_WATCH_CONNECTIONS: 'off',
        }),
      };
      delete env.DATABASE_URL;
      const spawned = Date.now();
      try {
        running.push(
          await startAppProcess({
            cwd: process.cwd(),
            env,
            port,
            logFile: join(work, `replica-${size}-${r}.log`),
            args: appArgs,
          }),
        );
      } catch (error) {
        log(`${size} clusters, replica ${r + 1}: ${(error as Error).message}`);
        failure = /exited/.test((error as Error).message) ? 'exited during start-up' : 'not ready in 60 s';
        break;
      }
      lastStart = Date.now();
      readyMs.push(lastStart - spawned);
      log(`${size} clusters: replica ${r + 1} ready after ${((lastStart - spawned) / 1000).toFixed(1)} s`);
    }
    if (running.length < REPLICAS) {
      results.push([
        String(size),
        `replica ${running.length + 1} ${failure}`,
        readyMs.map((m) => `${(m / 1000).toFixed(1)} s`).join(' / '),
      ]);
      await Promise.all(running.map((p) => p.stop()));
      running = [];
      continue;
    }
    // Spread: every cluster led, by all 3 replicas.
    let each: number[] = [];
    for (;;) {
      const { rows } = await state.query<{ n: string }>(
        'SELECT count(*) AS n FROM pgsessions.watch_leases WHERE expires_at > now() AND cluster = ANY($1) GROUP BY holder ORDER BY 1',
        [names],
      );
      each = rows.map((r) => Number(r.n));
      const total = each.reduce((a, b) => a + b, 0);
      if (each.length === REPLICAS && total === size && Math.max(...each) - Math.min(...each) <= 1) break;
      if (Date.now() - lastStart > 120_000) break;
      await sleep(250);
    }
    const spreadMs = Date.now() - lastStart;
    log(`${size} clusters: led ${each.join('/')} after ${(spreadMs / 1000).toFixed(1)} s; quiet window ${QUIET_S} s`);
    const quiet = await window(QUIET_S);

    // Detection: one lock wait, seen by every cluster (same server): each cluster's alert is a sample.
    const latencies: number[] = [];
    const busy = await window(0, async () => {
      for (let e = 0; e < EVENTS; e++) {
        const holder = await idleInTransactionLockHolder(server.url, 'probe', { application: `fleet-${size}-${e}` });
        const waiter = await blockedQuery(server.url, 'probe');
        const crossedAt = Date.now() + 1_000;
        const about = (c: { params: Record<string, unknown> }) =>
          c.params.channel === WATCH && JSON.stringify(c.params).includes(`pid ${holder.pid}*`);
        const deadline = Date.now() + INTERVAL_S * 4_000;
        while (slack.callsTo('chat.postMessage').filter(about).length < size && Date.now() < deadline) await sleep(100);
        for (const c of slack.callsTo('chat.postMessage').filter(about)) latencies.push(c.at - crossedAt);
        await waiter.end();
        await holder.end();
        await sleep(INTERVAL_S * 1000 + Math.random() * 2000); // cleared everywhere, and another phase
      }
    });
    const missing = size * EVENTS - latencies.length;
    const p95 = missing > 0 ? Number.POSITIVE_INFINITY : percentile(latencies, 95);
    const fmtCpu = (xs: number[]) => xs.map((x) => `${x.toFixed(1)} %`).join(' / ');
    results.push([
      String(size),
      `${(spreadMs / 1000).toFixed(1)} s`,
      readyMs.map((m) => `${(m / 1000).toFixed(1)} s`).join(' / '),
      each.join(' / '),
      fmtCpu(quiet.cpu),
      fmtCpu(busy.cpu),
      `${ms(percentile(latencies, 50))} / ${ms(p95)}${missing > 0 ? ` (${missing} not posted)` : ''}`,
      verdict(p95 <= INTERVAL_S * 1000 + 1000),
      quiet.perSecond.toFixed(1),
      busy.perSecond.toFixed(1),
    ]);
    log(`${size} clusters: done; stopping the replicas`);
    await Promise.all(running.map((p) => p.stop()));
    running = [];
    slack.reset();
    await state.query('DELETE FROM pgsessions.incidents');
    await state.query('DELETE FROM pgsessions.watch_summaries');
  }
  await state.end();
  console.log(
    `\nWatching a fleet: ${REPLICAS} replicas (node dist/main.js, compiled), one PostgreSQL ${
      (await admin.query('SHOW server_version')).rows[0].server_version
    } under N names at ${INTERVAL_S} s, lock wait threshold 1 s; load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores\n`,
  );
  console.log(table(results));
} finally {
  await Promise.all(running.map((p) => p.stop().catch(() => undefined)));
  await admin.end().catch(() => undefined);
  await stateAdmin.end().catch(() => undefined);
  await slack.close();
  await server.stop();
  await stateServer.stop();
  await rm(work, { recursive: true, force: true });
}
process.exit(0);
