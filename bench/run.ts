// `npm run bench`: pgsessions against its own embedded PostgreSQL with 100, 1000 and 2000 real sessions,
// driven over signed HTTP exactly as Slack would. Prints figures, ratios and PASS/MISS against the goals;
// never asserts a timing. Options (environment): BENCH_SIZES=100,1000  BENCH_QUICK=1 (a fast smoke run).
import { mkdir, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import pg from 'pg';
import { startEmbeddedPostgres, freePort, type EmbeddedServer } from '../test/helpers/embedded.js';
import { startSlackApi, type SlackApi } from '../test/helpers/slack-api.js';
import { blockAction } from '../test/helpers/slack-requests.js';
import { APPROVER, SIGNING_SECRET, baseEnv } from '../test/helpers/app.js';
import { ACTION } from '../src/slack/blocks/ids.js';
import { createPool } from '../src/postgres/pools.js';
import { createLogger } from '../src/logger.js';
import { listSessionsQuery } from '../src/postgres/session-sql.js';
import { compileApp, startAppProcess, readMemory, type AppProcess } from './app-process.js';
import { createDriver, type CommandResult, type Driver } from './drive.js';
import { createSessionMix, type SessionMix } from './sessions.js';
import { startSlowProxy, type SlowProxy } from '../test/helpers/slow-proxy.js';
import { scrubberReport } from './scrubber.js';
import { mb, ms, percentile, ratio, sleep, summarize, table, verdict, type Summary } from './stats.js';

const ROOT = resolve(import.meta.dirname, '..');
const QUICK = process.env.BENCH_QUICK === '1';
const SIZES = (process.env.BENCH_SIZES ?? (QUICK ? '100' : '100,1000,2000'))
  .split(',')
  .map((s) => Number(s.trim()))
  .filter((n) => Number.isInteger(n) && n > 0 && n <= 2200)
  .sort((a, b) => a - b);
const RAW_RUNS = QUICK ? 10 : 30;
const COMMAND_RUNS = QUICK ? 10 : 30;
const APPROVAL_SAMPLES = QUICK ? 5 : 20;
const RAMP_LEVELS = QUICK ? [1, 5, 10] : [1, 5, 10, 25, 50];
const RAMP_SECONDS = QUICK ? 1.5 : 5;
const SLOW_DELAY_MS = 2_000;
const SLOW_SLACK_MS = 1_000;
const SLOW_SLACK_SAMPLES = QUICK ? 2 : 5;
const SLOW_COMMANDS = QUICK ? 10 : 40;
const SLOW_CONCURRENCY = 5;
const ACK_LIMIT_MS = 3_000;
const APP_MODE = process.env.BENCH_APP === 'tsx' ? 'tsx' : 'compiled';
// BENCH_ONLY=kills,memory,scrubber runs only those sections ("main" = the listing, slow and ramp figures).
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? '')
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const section = (name: 'main' | 'kills' | 'memory' | 'scrubber') => ONLY.size === 0 || ONLY.has(name);
const KILL_LOAD_USERS = 50;
const KILL_LOAD_SAMPLES = QUICK ? 5 : 10;
// BENCH_KILL_LIMITS=off,default (both by default): the listing rate limits the kills-under-load app runs with.
const KILL_LIMITS = (process.env.BENCH_KILL_LIMITS ?? 'off,default')
  .split(',')
  .map((x) => x.trim())
  .filter((x): x is 'off' | 'default' => x === 'off' || x === 'default');
const MEMORY_COMMANDS = Number(process.env.BENCH_MEMORY_COMMANDS ?? (QUICK ? 1_000 : 10_000));
const MEMORY_CONCURRENCY = 10;
// BENCH_HEAP_SNAPSHOT=DIR: after the idle reading, the memory run asks the app for a heap snapshot (SIGUSR2,
// --heapsnapshot-signal; taking it runs a full GC first, so it shows what is really live) written into DIR,
// then reads RSS and the heap again. Summarise it with `npx tsx bench/heap-summary.ts DIR/*.heapsnapshot`.
const HEAP_SNAPSHOT_DIR = process.env.BENCH_HEAP_SNAPSHOT;
// BENCH_APP_NODE_ARGS="--max-semi-space-size=2 …": node/V8 flags on the memory run's command line (NODE_OPTIONS
// refuses most V8 flags).
// By default the flags of package.json's `start` script (node FLAGS dist/main.js), as production runs it;
// BENCH_APP_NODE_ARGS=none runs without any.
const START_FLAGS = (
  JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(' ')
  .filter((w) => w.startsWith('--'));
const APP_NODE_ARGS =
  process.env.BENCH_APP_NODE_ARGS === undefined
    ? START_FLAGS
    : process.env.BENCH_APP_NODE_ARGS.split(' ').filter((w) => w !== '' && w !== 'none');
// Whole-run guard: the benchmark never outlives this, whatever hangs.
const RUN_DEADLINE_MS = QUICK ? 5 * 60_000 : 15 * 60_000;

const GOAL = {
  ackP99Ms: 100,
  listingFactor: 1.5,
  listingSlackMs: 50,
  approvalP50Ms: 500,
  idleRssBytes: 120 * 1024 * 1024,
  killUnderLoadP99Ms: 1_000,
} as const;

interface SizeResult {
  sessions: number;
  matched: number;
  raw: Summary;
  rawServerExecP50: number;
  ack: Summary;
  listing: Summary;
  listingOutcomes: Record<string, number>;
}

interface RampLevel {
  concurrency: number;
  seconds: number;
  commands: number;
  perSecond: number;
  ack: Summary;
  listing: Summary;
  failedAcks: number;
  notListed: number;
}

const log = (message: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}`);

function outcomes(results: CommandResult[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const r of results) counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
  return counts;
}

async function rssOfIdleProcess(args: string[]): Promise<number> {
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: 'ignore' });
  try {
    await sleep(2_000);
    return (await readMemory(child.pid!)).rss;
  } catch {
    return Number.NaN;
  } finally {
    child.kill('SIGKILL');
  }
}

async function measureRaw(
  pool: pg.Pool,
  versionNum: number,
): Promise<{ raw: Summary; serverExecP50: number; matched: number }> {
  const query = listSessionsQuery(versionNum, { limit: 20 });
  for (let i = 0; i < 3; i++) await pool.query(query.text, query.values);
  const samples: number[] = [];
  let matched = 0;
  for (let i = 0; i < RAW_RUNS; i++) {
    const started = performance.now();
    const result = await pool.query(query.text, query.values);
    samples.push(performance.now() - started);
    matched = Number(result.rows[0]?.total_matched ?? 0);
  }
  // Where the time goes: the server's own execution time, without the network and row decoding.
  const exec: number[] = [];
  for (let i = 0; i < 5; i++) {
    const { rows } = await pool.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${query.text}`, query.values);
    exec.push(Number((rows[0] as { 'QUERY PLAN': [{ 'Execution Time': number }] })['QUERY PLAN'][0]['Execution Time']));
  }
  return { raw: summarize(samples), serverExecP50: percentile(exec, 50), matched };
}

async function measureCommands(
  driver: Driver,
): Promise<{ ack: Summary; listing: Summary; listingOutcomes: Record<string, number> }> {
  for (let i = 0; i < 3; i++) await driver.command('');
  const results: CommandResult[] = [];
  for (let i = 0; i < COMMAND_RUNS; i++) results.push(await driver.command(''));
  return {
    ack: summarize(results.map((r) => r.ackMs)),
    listing: summarize(results.filter((r) => r.outcome === 'listing').map((r) => r.answerMs)),
    listingOutcomes: outcomes(results),
  };
}

async function measureApprovals(
  slack: SlackApi,
  app: AppProcess,
  mix: SessionMix,
  driver: Driver,
  url: string,
  options: { samples: number; updateDelayMs?: number },
): Promise<{ gone: Summary; clickAck: Summary; failures: number }> {
  const observer = new pg.Client({ connectionString: url, application_name: 'bench-observer' });
  observer.on('error', () => undefined);
  await observer.connect();
  const gone: number[] = [];
  const clickAck: number[] = [];
  let failures = 0;
  try {
    for (let i = 0; i < options.samples; i++) {
      const pid = await mix.sleeper();
      const before = slack.calls.length;
      await driver.command(`terminate ${pid} bench approval ${i}`);
      const post = await slack.waitFor(
        () =>
          slack.calls
            .slice(before)
            .find(
              (c) =>
                c.method === 'chat.postMessage' &&
                c.params.channel === 'CINC' &&
                JSON.stringify(c.params.blocks ?? '').includes(`${pid}`),
            ),
        { timeoutMs: 10_000, intervalMs: 5, description: `approval request for pid ${pid}` },
      );
      const blocks = post.params.blocks as Array<{
        type: string;
        elements?: Array<{ action_id?: string; value?: string }>;
      }>;
      const approve = blocks
        .flatMap((b) => (b.type === 'actions' ? (b.elements ?? []) : []))
        .find((e) => e.action_id === ACTION.approve);
      if (!approve?.value) throw new Error('the approval request has no Approve button');

      // The first chat.update after a click is the "approved, executing" message: make Slack slow to answer it.
      if (options.updateDelayMs) slack.failNext('chat.update', 1, { delayMs: options.updateDelayMs });
      const started = performance.now();
      const click = blockAction(app.port, SIGNING_SECRET, {
        userId: APPROVER,
        channelId: 'CINC',
        actionId: ACTION.approve,
        value: approve.value,
        responseUrl: slack.responseUrl(`approve${i}`),
      });
      let goneAt = Number.NaN;
      const deadline = Date.now() + 15_000;
      while (Date.now() < deadline) {
        const { rowCount } = await observer.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
        if (rowCount === 0) {
          goneAt = performance.now();
          break;
        }
        await sleep(5);
      }
      const clicked = await click;
      clickAck.push(clicked.ms);
      if (Number.isNaN(goneAt)) failures += 1;
      else gone.push(goneAt - started);
    }
  } finally {
    await observer.end().catch(() => undefined);
  }
  return { gone: summarize(gone), clickAck: summarize(clickAck), failures };
}

async function measureRamp(driver: Driver, app: AppProcess): Promise<{ levels: RampLevel[]; peakRss: number }> {
  const levels: RampLevel[] = [];
  let peakRss = 0;
  const sampler = setInterval(() => {
    app.memory().then(
      (m) => (peakRss = Math.max(peakRss, m.rss)),
      () => undefined,
    );
  }, 100);
  try {
    for (const concurrency of RAMP_LEVELS) {
      const results: CommandResult[] = [];
      const started = performance.now();
      const until = started + RAMP_SECONDS * 1000;
      // Closed loop: each of `concurrency` users sends a command, waits for its ack and its listing, repeats.
      const worker = async () => {
        while (performance.now() < until) results.push(await driver.command('', { timeoutMs: 15_000 }));
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
      const seconds = (performance.now() - started) / 1000;
      levels.push({
        concurrency,
        seconds,
        commands: results.length,
        perSecond: results.length / seconds,
        ack: summarize(results.map((r) => r.ackMs)),
        listing: summarize(results.filter((r) => r.outcome === 'listing').map((r) => r.answerMs)),
        failedAcks: results.filter((r) => r.status !== 200 || r.ackMs >= ACK_LIMIT_MS).length,
        notListed: results.filter((r) => r.outcome !== 'listing').length,
      });
      log(`ramp c=${concurrency}: ${results.length} commands, ${(results.length / seconds).toFixed(1)}/s`);
      await sleep(500);
    }
  } finally {
    clearInterval(sampler);
  }
  return { levels, peakRss };
}

async function measureSlow(
  driver: Driver,
  proxy: SlowProxy,
): Promise<{ ack: Summary; answer: Summary; outcomes: Record<string, number>; warm: Record<string, number> }> {
  // Warm the slow cluster's pool while the proxy is fast, so its connections exist; then slow it down.
  proxy.delayMs = 0;
  const warm: CommandResult[] = [];
  for (let round = 0; round < 2; round++)
    warm.push(...(await Promise.all(Array.from({ length: 4 }, () => driver.command('cluster:slow')))));
  proxy.delayMs = SLOW_DELAY_MS;
  const results: CommandResult[] = [];
  const answers: Promise<CommandResult>[] = [];
  let left = SLOW_COMMANDS;
  const worker = async () => {
    while (left > 0) {
      left -= 1;
      const sent = await driver.command('cluster:slow', { ackOnly: true, timeoutMs: 40_000 });
      results.push(sent);
      answers.push(sent.answer);
      await sleep(100);
    }
  };
  await Promise.all(Array.from({ length: SLOW_CONCURRENCY }, worker));
  const answered = await Promise.all(answers);
  proxy.delayMs = 0;
  return {
    ack: summarize(results.map((r) => r.ackMs)),
    answer: summarize(answered.filter((r) => r.outcome !== 'none').map((r) => r.answerMs)),
    outcomes: outcomes(answered),
    warm: outcomes(warm),
  };
}

interface KillsUnderLoad {
  baseline: Awaited<ReturnType<typeof measureApprovals>>;
  approvals: Awaited<ReturnType<typeof measureApprovals>>;
  /** The app's own event-loop lag p99 (prom-client) read at the end of the load: CPU starvation shows here. */
  eventLoopLagP99Ms: number;
  listings: Record<string, number>;
  answer: Summary;
  perSecond: number;
  seconds: number;
}

/**
 * Approval → gone while KILL_LOAD_USERS users (each their own user id) repeat `/pgsessions blocking` against
 * the same cluster, closed loop, for as long as the approvals take. Signals have their own pool; this
 * measures whether that holds under a saturated listing pool.
 */
async function measureKillsUnderLoad(
  slack: SlackApi,
  app: AppProcess,
  mix: SessionMix,
  driver: Driver,
  url: string,
): Promise<KillsUnderLoad> {
  // The same approvals without the listing load, on the same machine a moment before: the yardstick.
  const baseline = await measureApprovals(slack, app, mix, driver, url, { samples: 5 });
  let stop = false;
  const results: CommandResult[] = [];
  const started = performance.now();
  const worker = async (i: number) => {
    while (!stop) results.push(await driver.command('blocking', { userId: `ULOAD${i}`, timeoutMs: 20_000 }));
  };
  const workers = Array.from({ length: KILL_LOAD_USERS }, (_, i) => worker(i));
  await sleep(1_000); // let the listing load build up first
  try {
    const approvals = await measureApprovals(slack, app, mix, driver, url, { samples: KILL_LOAD_SAMPLES });
    const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
    const lag = Number(/^pgsessions_nodejs_eventloop_lag_p99_seconds (\S+)$/m.exec(text)?.[1] ?? NaN) * 1000;
    return {
      baseline,
      approvals,
      eventLoopLagP99Ms: lag,
      listings: outcomes(results),
      answer: summarize(results.filter((r) => r.outcome === 'listing').map((r) => r.answerMs)),
      perSecond: results.length / ((performance.now() - started) / 1000),
      seconds: (performance.now() - started) / 1000,
    };
  } finally {
    stop = true;
    await Promise.all(workers);
  }
}

interface MemoryRun {
  commands: number;
  seconds: number;
  outcomes: Record<string, number>;
  afterStart: number;
  peak: number;
  idleAfter: number;
  hwm: number;
  heap: { used: number; total: number; external: number; newSpace: number; oldSpace: number };
  /** With BENCH_HEAP_SNAPSHOT: the snapshot written (after its full GC), and RSS and heap 3 s after it. */
  snapshot?: { file: string; rss: number; heapUsed: number; heapTotal: number };
  /** 3 s after a forced full GC (SIGUSR2): what RSS would be with only live objects on the heap. */
  afterGc: { rss: number; heapUsed: number; heapTotal: number };
}

/** A fresh app process: RSS idle after MEMORY_COMMANDS default listings sent MEMORY_CONCURRENCY at a time. */
async function measureMemoryAfterCommands(
  slack: SlackApi,
  env: NodeJS.ProcessEnv,
  args: string[],
  logFile: string,
  cleanups: Array<() => Promise<unknown>>,
): Promise<MemoryRun> {
  const port = await freePort();
  // SIGUSR2 forces a full GC (bench/gc-signal.cjs); SIGTTIN writes a heap snapshot (it runs a full GC too).
  const probeArgs = ['--expose-gc', '--require', join(ROOT, 'bench/gc-signal.cjs')];
  const snapshotArgs = HEAP_SNAPSHOT_DIR
    ? ['--heapsnapshot-signal=SIGTTIN', `--diagnostic-dir=${resolve(HEAP_SNAPSHOT_DIR)}`]
    : [];
  const app = await startAppProcess({
    cwd: ROOT,
    env: { ...env, PORT: String(port) },
    port,
    logFile,
    args: [...probeArgs, ...snapshotArgs, ...args],
    onSpawn: (stop) => cleanups.push(stop),
  });
  const driver = createDriver(slack, port);
  try {
    await sleep(1_000);
    const afterStart = (await app.memory()).rss;
    let peak = afterStart;
    const sampler = setInterval(
      () =>
        app.memory().then(
          (m) => (peak = Math.max(peak, m.rss)),
          () => undefined,
        ),
      100,
    );
    const counts: Record<string, number> = {};
    let left = MEMORY_COMMANDS;
    const started = performance.now();
    const worker = async () => {
      while (left > 0) {
        left -= 1;
        const r = await driver.command('limit:5', { timeoutMs: 20_000 });
        counts[r.outcome] = (counts[r.outcome] ?? 0) + 1;
      }
    };
    await Promise.all(Array.from({ length: MEMORY_CONCURRENCY }, worker));
    const seconds = (performance.now() - started) / 1000;
    clearInterval(sampler);
    await sleep(5_000);
    const idle = await app.memory();
    // Where it is: the app's own process metrics (V8 heap used/committed, external buffers).
    const readHeap = async () => {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const metric = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
      return {
        used: metric('pgsessions_nodejs_heap_size_used_bytes'),
        total: metric('pgsessions_nodejs_heap_size_total_bytes'),
        external: metric('pgsessions_nodejs_external_memory_bytes'),
        newSpace: metric('pgsessions_nodejs_heap_space_size_total_bytes\\{space="new"\\}'),
        oldSpace: metric('pgsessions_nodejs_heap_space_size_total_bytes\\{space="old"\\}'),
      };
    };
    const heap = await readHeap();
    process.kill(app.pid, 'SIGUSR2');
    await sleep(3_000);
    const gcHeap = await readHeap();
    const afterGc = { rss: (await app.memory()).rss, heapUsed: gcHeap.used, heapTotal: gcHeap.total };
    let snapshot: MemoryRun['snapshot'];
    if (HEAP_SNAPSHOT_DIR) {
      const dir = resolve(HEAP_SNAPSHOT_DIR);
      await mkdir(dir, { recursive: true });
      const before = new Set(await readdir(dir));
      process.kill(app.pid, 'SIGTTIN');
      let file: string | undefined;
      for (let i = 0; i < 600 && !file; i++) {
        await sleep(100);
        // The file appears while it is still being written: wait below until its size stops changing.
        file = (await readdir(dir)).find((f) => f.endsWith('.heapsnapshot') && !before.has(f));
      }
      if (file) {
        let size = -1;
        for (let i = 0; i < 600; i++) {
          const now = (await stat(join(dir, file))).size;
          if (now === size && now > 0) break;
          size = now;
          await sleep(500);
        }
        await sleep(3_000);
        const after = await readHeap();
        snapshot = {
          file: join(dir, file),
          rss: (await app.memory()).rss,
          heapUsed: after.used,
          heapTotal: after.total,
        };
      }
    }
    return {
      commands: MEMORY_COMMANDS,
      seconds,
      outcomes: counts,
      afterStart,
      peak,
      idleAfter: idle.rss,
      hwm: idle.hwm,
      heap,
      afterGc,
      ...(snapshot ? { snapshot } : {}),
    };
  } finally {
    driver.close();
    await app.stop();
  }
}

async function main(): Promise<void> {
  const cleanups: Array<() => Promise<unknown>> = [];
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      for (const fn of cleanups.reverse()) await fn().catch((error: unknown) => log(`cleanup: ${String(error)}`));
    })());
  const onSignal = (signal: NodeJS.Signals) => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const guard = setTimeout(() => {
    log(`the run exceeded ${RUN_DEADLINE_MS / 60_000} minutes: cleaning up and giving up`);
    void cleanup().finally(() => process.exit(2));
  }, RUN_DEADLINE_MS);
  guard.unref();

  const started = Date.now();
  const loadAtStart = loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  if (section('scrubber')) console.log(`${scrubberReport()}\n`);
  if (ONLY.size > 0 && [...ONLY].every((x) => x === 'scrubber')) return;
  try {
    const maxSize = SIZES[SIZES.length - 1] ?? 100;
    const idleNodeRss = await rssOfIdleProcess(['-e', 'setTimeout(() => {}, 60000)']);
    const idleTsxRss = await rssOfIdleProcess(['--import', 'tsx', '-e', 'setTimeout(() => {}, 60000)']);

    log('starting embedded PostgreSQL');
    const server: EmbeddedServer = await startEmbeddedPostgres({
      maxConnections: Math.max(300, maxSize + APPROVAL_SAMPLES + 250),
    });
    cleanups.push(() => server.stop());
    const slack = await startSlackApi();
    cleanups.push(() => slack.close());
    const proxy = await startSlowProxy(server.port, 0);
    cleanups.push(() => proxy.close());
    const slowUrl = new URL(server.url);
    slowUrl.port = String(proxy.port);

    const work = await mkdtemp(join(tmpdir(), 'pgsessions-bench-'));
    cleanups.push(() => rm(work, { recursive: true, force: true }));
    const clustersFile = join(work, 'clusters.json');
    await writeFile(
      clustersFile,
      JSON.stringify({
        clusters: [
          { name: 'default', url: server.url },
          { name: 'slow', url: slowUrl.toString() },
        ],
      }),
    );
    const port = await freePort();
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      // For memory experiments: glibc's arena count, and node flags for the app only.
      ...(process.env.MALLOC_ARENA_MAX ? { MALLOC_ARENA_MAX: process.env.MALLOC_ARENA_MAX } : {}),
      ...(process.env.BENCH_APP_NODE_OPTIONS ? { NODE_OPTIONS: process.env.BENCH_APP_NODE_OPTIONS } : {}),
      ...baseEnv(server.url, slack, {
        PORT: String(port),
        PGSESSIONS_CLUSTERS: clustersFile,
        STATE_DATABASE_URL: server.url,
        LOG_LEVEL: 'info',
      }),
    };
    delete env.DATABASE_URL;

    const pool = createPool(server.url, createLogger('silent'), { max: 1 });
    cleanups.push(() => pool.end());
    const versions = (
      await pool.query<{ num: string; version: string }>(
        `SELECT current_setting('server_version_num') AS num, current_setting('server_version') AS version`,
      )
    ).rows[0]!;
    const versionNum = Number(versions.num);
    const serverVersion = versions.version;

    const mix = createSessionMix(server.url);
    cleanups.push(() => mix.end());

    // Production runs the compiled JavaScript (`npm start` → node dist/main.js); the tsx loader alone adds
    // tens of MB. Compile to a scratch directory (never the repo's dist/) that links back to the repo.
    let compiled: string[] | null = null;
    if (APP_MODE === 'compiled') {
      log('compiling src/ with tsc into a scratch directory');
      compiled = await compileApp(work, log);
    }
    const tsxArgs = ['--import', 'tsx', 'src/main.ts'];
    const appArgs = [...APP_NODE_ARGS, ...(compiled ?? tsxArgs)];
    const appCommand = compiled
      ? 'node dist/main.js (compiled by tsc -p tsconfig.build.json into a scratch dir)'
      : 'node --import tsx src/main.ts';
    log(`starting pgsessions as a child process: ${appCommand}`);
    const logFile = join(tmpdir(), `pgsessions-bench-app-${process.pid}.log`);
    const app = await startAppProcess({
      cwd: ROOT,
      env,
      port,
      logFile,
      args: appArgs,
      onSpawn: (stop) => cleanups.push(stop),
    });
    const driver = createDriver(slack, port);
    cleanups.push(async () => driver.close());

    const afterStart = await app.memory();
    for (let i = 0; i < 5; i++) await driver.command('');
    await sleep(2_000);
    const idleAfterWarmup = await app.memory();

    const extra: string[] = [];
    if (section('main')) {
      // For scale: the same app run the other way (tsx vs compiled), idle after the same warm-up.
      let otherIdle: { how: string; rss: number } | null = null;
      if (compiled) {
        const otherPort = await freePort();
        const other = await startAppProcess({
          cwd: ROOT,
          env: { ...env, PORT: String(otherPort) },
          port: otherPort,
          logFile: `${logFile}.tsx`,
          args: tsxArgs,
          onSpawn: (stop) => cleanups.push(stop),
        });
        try {
          const otherDriver = createDriver(slack, otherPort);
          for (let i = 0; i < 5; i++) await otherDriver.command('');
          otherDriver.close();
          await sleep(2_000);
          otherIdle = { how: 'node --import tsx src/main.ts', rss: (await other.memory()).rss };
        } finally {
          await other.stop();
        }
      }

      const sizes: SizeResult[] = [];
      let approvals: Awaited<ReturnType<typeof measureApprovals>> | undefined;
      let approvalsSlowSlack: Awaited<ReturnType<typeof measureApprovals>> | undefined;
      for (const size of SIZES) {
        log(`opening sessions: ${size}`);
        const t = Date.now();
        await mix.growTo(size);
        log(
          `  ${mix.size()} sessions open in ${((Date.now() - t) / 1000).toFixed(1)} s (${JSON.stringify(mix.counts())})`,
        );
        const raw = await measureRaw(pool, versionNum);
        const commands = await measureCommands(driver);
        sizes.push({
          sessions: mix.size(),
          matched: raw.matched,
          raw: raw.raw,
          rawServerExecP50: raw.serverExecP50,
          ...commands,
        });
        log(`  raw p50 ${ms(raw.raw.p50)}, ack p50 ${ms(commands.ack.p50)}, listing p50 ${ms(commands.listing.p50)}`);
        if (!approvals) {
          log(`  approvals: ${APPROVAL_SAMPLES} samples`);
          approvals = await measureApprovals(slack, app, mix, driver, server.url, { samples: APPROVAL_SAMPLES });
          log(`  approvals while Slack takes ${SLOW_SLACK_MS} ms to answer chat.update: ${SLOW_SLACK_SAMPLES} samples`);
          approvalsSlowSlack = await measureApprovals(slack, app, mix, driver, server.url, {
            samples: SLOW_SLACK_SAMPLES,
            updateDelayMs: SLOW_SLACK_MS,
          });
        }
      }

      log(`ramp at ${mix.size()} sessions: concurrency ${RAMP_LEVELS.join(', ')} for ${RAMP_SECONDS} s each`);
      const ramp = await measureRamp(driver, app);
      log(
        `slow cluster: every byte delayed ${SLOW_DELAY_MS} ms each way; ${SLOW_COMMANDS} commands, ${SLOW_CONCURRENCY} at a time`,
      );
      const slow = await measureSlow(driver, proxy);
      await sleep(3_000);
      const idleAfterLoad = await app.memory();

      // ---- the report --------------------------------------------------------------------------------
      const out: string[] = [];
      const p = (line = '') => out.push(line);
      p(
        `pgsessions benchmark — ${new Date().toISOString()}${QUICK ? ' (BENCH_QUICK: fewer samples, shorter levels)' : ''}`,
      );
      p(
        `PostgreSQL ${serverVersion} (embedded), Node ${process.version}; app: child process \`${appCommand}\` (LOG_LEVEL=info, logs to a file); load average at start ${loadAtStart}, at end ${loadavg()
          .map((l) => l.toFixed(2))
          .join(' ')} (${cpus().length} CPUs)`,
      );
      p(
        `sessions mix: 25% active pg_sleep, 45% idle, 20% idle in transaction (incl. lock holders), 10% blocked on a lock`,
      );
      p();
      p(
        'Listing (default `/pgsessions`, limit 20) by number of sessions; raw = the listing SQL run directly with pg, same session settings',
      );
      const largest = sizes[sizes.length - 1];
      p(
        table([
          [
            'sessions',
            'matched',
            'raw p50',
            'raw p99',
            'server exec p50',
            'ack p50',
            'ack p99',
            'listing p50',
            'listing p99',
            'listing/raw p50',
            'listing/raw p99',
            'ack<100ms',
            'listing≤1.5×raw+50',
          ],
          ...sizes.map((s) => {
            const within = s.listing.p50 <= GOAL.listingFactor * s.raw.p50 + GOAL.listingSlackMs;
            return [
              String(s.sessions),
              String(s.matched),
              ms(s.raw.p50),
              ms(s.raw.p99),
              ms(s.rawServerExecP50),
              ms(s.ack.p50),
              ms(s.ack.p99),
              ms(s.listing.p50),
              ms(s.listing.p99),
              ratio(s.listing.p50, s.raw.p50),
              ratio(s.listing.p99, s.raw.p99),
              verdict(s.ack.p99 < GOAL.ackP99Ms),
              `${verdict(within)} (p50 ${ms(s.listing.p50)} vs ${ms(GOAL.listingFactor * s.raw.p50 + GOAL.listingSlackMs)})`,
            ];
          }),
        ]),
      );
      for (const s of sizes) {
        if ((s.listingOutcomes.listing ?? 0) !== s.listing.n || Object.keys(s.listingOutcomes).length > 1)
          p(`  note: at ${s.sessions} sessions the answers were ${JSON.stringify(s.listingOutcomes)}`);
      }
      p(
        `  samples: raw ${RAW_RUNS} (after 3 warm-up), commands ${COMMAND_RUNS} sequential (after 3 warm-up); with ${COMMAND_RUNS} samples p99 is the worst sample`,
      );
      p();
      p(
        `Acknowledgement while the database is slow (cluster:slow through a proxy delaying every chunk ${SLOW_DELAY_MS} ms each way)`,
      );
      p(
        table([
          ['commands', 'ack p50', 'ack p99', 'ack max', 'answer p50', 'answer p99', 'answers', 'goal ack p99<100ms'],
          [
            String(slow.ack.n),
            ms(slow.ack.p50),
            ms(slow.ack.p99),
            ms(slow.ack.max),
            ms(slow.answer.p50),
            ms(slow.answer.p99),
            JSON.stringify(slow.outcomes),
            verdict(slow.ack.p99 < GOAL.ackP99Ms),
          ],
        ]),
      );
      p();
      if (approvals) {
        p(
          `Approval click → session gone from pg_stat_activity (typed \`terminate PID\`, Approve clicked, polled every 5 ms) at ${SIZES[0]} sessions`,
        );
        p(
          table([
            [
              'samples',
              'click ack p50',
              'click ack p99',
              'gone p50',
              'gone p99',
              'not gone in 15 s',
              'goal gone p50<500ms',
            ],
            [
              String(approvals.gone.n),
              ms(approvals.clickAck.p50),
              ms(approvals.clickAck.p99),
              ms(approvals.gone.p50),
              ms(approvals.gone.p99),
              String(approvals.failures),
              verdict(approvals.gone.p50 < GOAL.approvalP50Ms),
            ],
            ...(approvalsSlowSlack
              ? [
                  [
                    `${approvalsSlowSlack.gone.n} (Slack answers chat.update after ${SLOW_SLACK_MS} ms)`,
                    ms(approvalsSlowSlack.clickAck.p50),
                    ms(approvalsSlowSlack.clickAck.p99),
                    ms(approvalsSlowSlack.gone.p50),
                    ms(approvalsSlowSlack.gone.p99),
                    String(approvalsSlowSlack.failures),
                    verdict(approvalsSlowSlack.gone.p50 < GOAL.approvalP50Ms),
                  ],
                ]
              : []),
          ]),
        );
        p();
      }
      p(
        `Concurrent slash commands at ${mix.size()} sessions (closed loop: each user waits for ack and listing, then sends again; ${RAMP_SECONDS} s per level)`,
      );
      p(
        table([
          [
            'concurrency',
            'commands',
            'commands/s',
            'ack p50',
            'ack p99',
            'ack max',
            'listing p50',
            'listing p99',
            'acks ≥3s or non-200',
            'not listed',
          ],
          ...ramp.levels.map((l) => [
            String(l.concurrency),
            String(l.commands),
            l.perSecond.toFixed(1),
            ms(l.ack.p50),
            ms(l.ack.p99),
            ms(l.ack.max),
            ms(l.listing.p50),
            ms(l.listing.p99),
            String(l.failedAcks),
            String(l.notListed),
          ]),
        ]),
      );
      const sustained = ramp.levels.filter((l) => l.failedAcks === 0).map((l) => l.concurrency);
      p(
        `  highest level with every ack < 3 s: ${sustained.length ? Math.max(...sustained) : 'none'} (of ${RAMP_LEVELS.join(', ')})`,
      );
      p();
      p('Resident memory of the app process (VmRSS from /proc/PID/status)');
      p(
        table([
          ['when', 'RSS', 'goal idle<120MB'],
          ['just started', mb(afterStart.rss), ''],
          ['idle after 5 warm-up commands', mb(idleAfterWarmup.rss), verdict(idleAfterWarmup.rss < GOAL.idleRssBytes)],
          ['peak during the ramp (100 ms samples)', mb(ramp.peakRss), ''],
          ['idle 3 s after all load', mb(idleAfterLoad.rss), verdict(idleAfterLoad.rss < GOAL.idleRssBytes)],
          ['VmHWM (peak over the run)', mb(idleAfterLoad.hwm), ''],
          ...(otherIdle ? [[`for scale: ${otherIdle.how}, idle after warm-up`, mb(otherIdle.rss), '']] : []),
          ['for scale: bare `node -e` idle', mb(idleNodeRss), ''],
          ['for scale: `node --import tsx -e` idle', mb(idleTsxRss), ''],
        ]),
      );
      p();
      p('Goals');
      const worstAck = Math.max(...sizes.map((s) => s.ack.p99), slow.ack.p99);
      p(
        `  ack p99 < 100 ms even while the database is slow: ${verdict(worstAck < GOAL.ackP99Ms)} (worst p99 ${ms(worstAck)}; slow cluster p99 ${ms(slow.ack.p99)})`,
      );
      if (largest) {
        const bound = GOAL.listingFactor * largest.raw.p50 + GOAL.listingSlackMs;
        p(
          `  listing ≤ 1.5 × raw + 50 ms at ${largest.sessions} sessions: ${verdict(largest.listing.p50 <= bound)} (p50 ${ms(largest.listing.p50)} vs ${ms(bound)}; p99 ${ms(largest.listing.p99)} vs ${ms(GOAL.listingFactor * largest.raw.p99 + GOAL.listingSlackMs)})`,
        );
      }
      if (approvals)
        p(
          `  approval → gone p50 < 500 ms: ${verdict(approvals.gone.p50 < GOAL.approvalP50Ms)} (p50 ${ms(approvals.gone.p50)})`,
        );
      p(
        `  idle memory < 120 MB: ${verdict(idleAfterWarmup.rss < GOAL.idleRssBytes)} (${mb(idleAfterWarmup.rss)} after warm-up, ${mb(idleAfterLoad.rss)} after load)`,
      );
      p();
      p(
        `slow-cluster pool warm-up answers: ${JSON.stringify(slow.warm)}; whole run ${((Date.now() - started) / 1000).toFixed(0)} s; app log: ${app.logFile}`,
      );
      console.log(out.join('\n'));

      const json = join(tmpdir(), `pgsessions-bench-${Date.now()}.json`);
      await writeFile(
        json,
        JSON.stringify(
          {
            quick: QUICK,
            app: appCommand,
            otherIdle,
            serverVersion,
            node: process.version,
            sizes,
            slow,
            approvals,
            approvalsSlowSlack,
            ramp,
            memory: { afterStart, idleAfterWarmup, idleAfterLoad, idleNodeRss, idleTsxRss },
          },
          null,
          2,
        ),
      );
      log(`figures as JSON: ${json}`);
    } else {
      await mix.growTo(SIZES[0] ?? 100);
    }

    if (section('kills')) {
      // Both ways: limits off (the listing pool saturated: the worst case for the kill path) and the defaults
      // (burst 10, 30 a minute per user: after its burst, a repeating user is refused in the ack, cheaply).
      for (const limits of KILL_LIMITS) {
        let target = app;
        let targetDriver = driver;
        let stopTarget = async () => undefined;
        if (limits === 'default') {
          const limitedPort = await freePort();
          const limitedEnv: NodeJS.ProcessEnv = { ...env, PORT: String(limitedPort) };
          delete limitedEnv.PGSESSIONS_LISTING_RATE;
          delete limitedEnv.PGSESSIONS_REQUEST_RATE;
          target = await startAppProcess({
            cwd: ROOT,
            env: limitedEnv,
            port: limitedPort,
            logFile: `${logFile}.kills-limited`,
            args: appArgs,
            onSpawn: (stop) => cleanups.push(stop),
          });
          targetDriver = createDriver(slack, limitedPort);
          stopTarget = async () => {
            targetDriver.close();
            await target.stop();
          };
        }
        try {
          const loadBefore = loadavg()[0]!.toFixed(1);
          log(
            `kills under load (rate limits ${limits}): ${KILL_LOAD_USERS} users repeating \`/pgsessions blocking\`, ${KILL_LOAD_SAMPLES} approvals, at ${mix.size()} sessions`,
          );
          const k = await measureKillsUnderLoad(slack, target, mix, targetDriver, server.url);
          extra.push(
            `Approval click → session gone while ${KILL_LOAD_USERS} users repeat \`/pgsessions blocking\` on the same cluster (closed loop, each its own user; ${limits === 'off' ? 'rate limits off, so the listing pool stays saturated' : 'default rate limits: burst 10, 30 a minute per user'}) at ${mix.size()} sessions`,
            table([
              [
                'samples',
                'click ack p50',
                'click ack p99',
                'gone p50',
                'gone p99',
                'not gone in 15 s',
                'answers meanwhile',
                'answers/s',
                'listing answer p50 / p99',
                'goal gone p99<1s',
              ],
              [
                `${k.approvals.gone.n} under load`,
                ms(k.approvals.clickAck.p50),
                ms(k.approvals.clickAck.p99),
                ms(k.approvals.gone.p50),
                ms(k.approvals.gone.p99),
                String(k.approvals.failures),
                JSON.stringify(k.listings),
                k.perSecond.toFixed(1),
                `${ms(k.answer.p50)} / ${ms(k.answer.p99)}`,
                verdict(k.approvals.gone.p99 < GOAL.killUnderLoadP99Ms && k.approvals.failures === 0),
              ],
              [
                `${k.baseline.gone.n} without load (just before)`,
                ms(k.baseline.clickAck.p50),
                ms(k.baseline.clickAck.p99),
                ms(k.baseline.gone.p50),
                ms(k.baseline.gone.p99),
                String(k.baseline.failures),
                '—',
                '—',
                '—',
                '',
              ],
            ]),
            `  the app's event-loop lag p99 at the end of the load (its own metric): ${ms(k.eventLoopLagP99Ms)}; load average ${loadBefore} before, ${loadavg()
              .map((l) => l.toFixed(1))
              .join(' ')} after, on ${cpus().length} CPUs`,
            `  with ${KILL_LOAD_SAMPLES} samples p99 is the worst sample; load ran ${k.seconds.toFixed(1)} s`,
            '',
          );
        } finally {
          await stopTarget();
        }
      }
    }
    if (section('memory')) {
      log(
        `memory: a fresh app process, ${MEMORY_COMMANDS} listings (limit:5), ${MEMORY_CONCURRENCY} at a time, at ${mix.size()} sessions`,
      );
      const m = await measureMemoryAfterCommands(slack, env, appArgs, `${logFile}.memory`, cleanups);
      extra.push(
        `Resident memory of a fresh app process around ${m.commands} commands (\`/pgsessions limit:5\`, ${MEMORY_CONCURRENCY} at a time, ${(m.commands / m.seconds).toFixed(0)}/s, ${mix.size()} sessions)`,
        table([
          ['when', 'RSS', 'goal idle<120MB'],
          ['1 s after start', mb(m.afterStart), ''],
          ['peak during the commands', mb(m.peak), ''],
          [`idle 5 s after ${m.commands} commands`, mb(m.idleAfter), verdict(m.idleAfter < GOAL.idleRssBytes)],
          ['VmHWM', mb(m.hwm), ''],
        ]),
        `  answers: ${JSON.stringify(m.outcomes)}`,
        `  idle, from the app's own metrics: V8 heap used ${mb(m.heap.used)} of ${mb(m.heap.total)} committed (new space ${mb(m.heap.newSpace)}, old space ${mb(m.heap.oldSpace)}), external ${mb(m.heap.external)}; the rest of RSS is code, native (malloc) and stacks`,
        `  3 s after a forced full GC: RSS ${mb(m.afterGc.rss)}, V8 heap used ${mb(m.afterGc.heapUsed)} of ${mb(m.afterGc.heapTotal)} committed`,
        ...(m.snapshot
          ? [
              `  after a heap snapshot (a full GC) + 3 s: RSS ${mb(m.snapshot.rss)}, V8 heap used ${mb(m.snapshot.heapUsed)} of ${mb(m.snapshot.heapTotal)} committed; snapshot ${m.snapshot.file}`,
            ]
          : []),
        `  app environment: MALLOC_ARENA_MAX=${env.MALLOC_ARENA_MAX ?? '(unset)'}, NODE_OPTIONS=${env.NODE_OPTIONS ?? '(unset)'}, node flags: ${APP_NODE_ARGS.join(' ') || '(none)'}; load average ${loadavg()
          .map((l) => l.toFixed(1))
          .join(' ')}`,
        '',
      );
    }
    if (extra.length > 0) console.log(extra.join('\n'));
  } finally {
    await cleanup();
    clearTimeout(guard);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
