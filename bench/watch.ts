// `npm run bench:watch`: the watcher at 2000 real sessions (the benchmark's session mix: active, idle, idle
// in transaction, lock waits) on its own embedded PostgreSQL. Prints figures and PASS/MISS against the
// issue's goals; never asserts a timing. Short: about a minute. BENCH_WATCH_SESSIONS=… to change the size.
//   - detection latency: a fresh lock wait crosses the 1 s threshold → its alert is posted (interval 1 s and 2 s)
//   - the watcher's database time per look, as a share of the interval
//   - the app's CPU while watching 20 clusters (2 s interval)
import { mkdtemp, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi, type SlackApi } from '../test/helpers/slack-api.js';
import { baseEnv } from '../test/helpers/app.js';
import { blockedQuery, idleInTransactionLockHolder } from '../test/helpers/sessions.js';
import { startPgsessions, type RunningApp } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { createPool } from '../src/postgres/pools.js';
import { createWatchReader } from '../src/postgres/watch-reader.js';
import { watchQuery } from '../src/postgres/watch-sql.js';
import { listSessionsQuery } from '../src/postgres/session-sql.js';
import { createSessionMix } from './sessions.js';
import { ms, percentile, sleep, table, verdict } from './stats.js';

const SESSIONS = Number(process.env.BENCH_WATCH_SESSIONS ?? 2000);
const SAMPLES = Number(process.env.BENCH_WATCH_SAMPLES ?? 8);
const WATCH = 'CWATCHBENCH';
const log = (message: string) => console.error(`[bench:watch ${new Date().toISOString().slice(11, 19)}] ${message}`);

const server = await startEmbeddedPostgres({ maxConnections: SESSIONS + 300 });
const slack: SlackApi = await startSlackApi();
const cleanups: Array<() => Promise<unknown>> = [];
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE TABLE IF NOT EXISTS probe (id int)');
  await admin.end();
  const mix = createSessionMix(server.url);
  cleanups.push(() => mix.end());
  log(`opening ${SESSIONS} sessions`);
  await mix.growTo(SESSIONS);

  // The watcher's own read, measured alone: wall time of the one statement (an upper bound of its DB time).
  const reader = createWatchReader(
    'bench',
    createPool(server.url, createLogger('silent'), { max: 1, statementTimeoutMs: 5_000 }),
  );
  const reads: number[] = [];
  let rows = 0;
  for (let i = 0; i < 30; i++) {
    const started = performance.now();
    const snap = await reader.read({ walsenders: false });
    reads.push(performance.now() - started);
    rows = snap.sessions.length;
  }
  await reader.close();
  // Server-side execution time of the same statement (EXPLAIN ANALYZE), and the listing's raw query beside it.
  const probe = new pg.Client({ connectionString: server.url, application_name: 'pgsessions' });
  await probe.connect();
  const version = Number((await probe.query(`SELECT current_setting('server_version_num') AS v`)).rows[0].v);
  const exec: number[] = [];
  const listing: number[] = [];
  for (let i = 0; i < 15; i++) {
    const w = watchQuery(version, false);
    const plan = await probe.query(`EXPLAIN (ANALYZE, TIMING off) ${w.text}`, w.values);
    const line = plan.rows.map((r) => String(r['QUERY PLAN'])).find((l) => l.startsWith('Execution Time'));
    exec.push(Number(/([\d.]+) ms/.exec(line ?? '')?.[1] ?? Number.NaN));
    const l = listSessionsQuery(version, { limit: 20 });
    const started = performance.now();
    await probe.query(l.text, l.values);
    listing.push(performance.now() - started);
  }
  await probe.end();

  const results: string[][] = [
    ['interval', 'samples', 'latency p50', 'latency p95', 'goal (≤ interval + 1 s)', 'verdict'],
  ];
  for (const interval of [1, 2]) {
    const app: RunningApp = await startPgsessions(
      baseEnv(server.url, slack, {
        LOG_LEVEL: 'silent',
        PGSESSIONS_WATCH_CHANNEL: WATCH,
        PGSESSIONS_WATCH_INTERVAL: `${interval}s`,
        PGSESSIONS_WATCH_LOCK_WAIT: '1s',
        PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: 'off',
        PGSESSIONS_WATCH_ACTIVE: 'off',
      }),
      { logger: createLogger('silent'), watchUpdateGapSeconds: 30, watchMaxOpenMessages: 1000 },
    );
    await sleep(interval * 2_000); // let the background incidents of the mix be posted first
    const latencies: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const holder = await idleInTransactionLockHolder(server.url, 'probe', {
        application: `probe-holder-${interval}-${i}`,
      });
      const waiter = await blockedQuery(server.url, 'probe');
      // blockedQuery returns once pg_blocking_pids shows the wait: the wait began at most a moment before.
      const crossedAt = Date.now() + 1_000;
      const posted = await slack.waitFor(
        () =>
          slack
            .callsTo('chat.postMessage')
            .find((c) => c.params.channel === WATCH && JSON.stringify(c.params).includes(`pid ${holder.pid}*`)),
        { timeoutMs: 20_000, intervalMs: 5 },
      );
      latencies.push(posted.at - crossedAt);
      await waiter.end();
      await holder.end();
      await sleep(Math.random() * interval * 1000); // sample across the phase of the interval
    }
    await app.stop();
    const p95 = percentile(latencies, 95);
    results.push([
      `${interval} s`,
      String(latencies.length),
      ms(percentile(latencies, 50)),
      ms(p95),
      ms(interval * 1000 + 1000),
      verdict(p95 <= interval * 1000 + 1000),
    ]);
  }

  // 20 clusters (20 names for the same server) at a 2 s interval: the app's own CPU.
  const dir = await mkdtemp(join(tmpdir(), 'pgsessions-bench-watch-'));
  const file = join(dir, 'clusters.yml');
  await writeFile(
    file,
    `clusters:\n${Array.from({ length: 20 }, (_, i) => `  - name: c${i}\n    url: ${server.url}\n`).join('')}`,
  );
  const many = await startPgsessions(
    {
      ...baseEnv(server.url, slack, {
        LOG_LEVEL: 'silent',
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: server.url,
        PGSESSIONS_WATCH_CHANNEL: WATCH,
        PGSESSIONS_WATCH_INTERVAL: '2s',
      }),
      DATABASE_URL: undefined,
    },
    { logger: createLogger('silent'), watchUpdateGapSeconds: 30 },
  );
  await sleep(4_000);
  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  await sleep(10_000);
  const cpu = process.cpuUsage(cpuBefore);
  const cpuShare = (cpu.user + cpu.system) / 1000 / (performance.now() - wallBefore);
  await many.stop();

  const p50 = percentile(reads, 50);
  const db50 = percentile(exec, 50);
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    `\nWatcher at ${SESSIONS} sessions (${rows} client sessions read per look; mix ${JSON.stringify(mix.counts())})\n`,
  );
  console.log(table(results));
  console.log('');
  console.log(
    table([
      ['figure', 'value', 'goal', 'verdict'],
      [
        'one look, wall incl. transfer and parsing (p50 / p95 of 30)',
        `${ms(p50)} / ${ms(percentile(reads, 95))}`,
        '—',
        '',
      ],
      ['one look, server execution (EXPLAIN ANALYZE p50 of 15)', ms(db50), '—', ''],
      ['the listing query, wall (p50 of 15), for scale', ms(percentile(listing, 50)), '—', ''],
      [
        'DB time share of a 10 s interval (p50)',
        `${((db50 / 10_000) * 100).toFixed(2)} %`,
        '< 1 % of one core',
        verdict(db50 / 10_000 < 0.01),
      ],
      ['DB time share of a 2 s interval (p50)', `${((db50 / 2_000) * 100).toFixed(2)} %`, '—', ''],
      ['DB time share of a 1 s interval (p50)', `${((db50 / 1_000) * 100).toFixed(2)} %`, '—', ''],
      ['app CPU, 20 clusters × 2 s interval', `${(cpuShare * 100).toFixed(1)} % of one core`, '—', ''],
    ]),
  );
} finally {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await slack.close();
  await server.stop();
}
process.exit(0);
