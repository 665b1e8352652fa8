// `npm run bench:fleet-view`: how long `/pgsessions cluster:*` takes with one stalled cluster among N (the
// issue's goal: p95 ≤ 3 s with PGSESSIONS_FLEET_TIMEOUT at its default 2 s). The suite's embedded PostgreSQL
// under N - 1 names, plus one TCP listener that accepts and never answers; the real app over signed HTTP;
// timed from the slash command to the answer Slack's stand-in receives on the response_url. Prints figures,
// never asserts. BENCH_FLEET_SIZES=20,200 (cluster counts), BENCH_FLEET_SAMPLES=20 per size.
// The state database is a server of its own (as in production). BENCH_FLEET_NICE=N lowers the CPU priority of
// the server playing the fleet (its postmaster, so every backend it forks): on one host, N listings at once on
// one server take the CPU the app under test needs, which N clusters on N hosts would not (default 0: off).
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, setPriority, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pg from 'pg';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { baseEnv, SIGNING_SECRET } from '../test/helpers/app.js';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { slashCommand } from '../test/helpers/slack-requests.js';
import { ms, percentile, table, verdict } from './stats.js';

const SIZES = (process.env.BENCH_FLEET_SIZES ?? '20,200').split(',').map(Number);
const SAMPLES = Number(process.env.BENCH_FLEET_SAMPLES ?? 20);
const GOAL_MS = 3_000;
const NICE = Number(process.env.BENCH_FLEET_NICE ?? 0);

const server = await startEmbeddedPostgres({ reuseInitdb: true, maxConnections: 3 * Math.max(...SIZES) + 50 });
const stateServer = await startEmbeddedPostgres({ reuseInitdb: true });
if (NICE > 0) {
  const probe = new pg.Client({ connectionString: server.url });
  await probe.connect();
  const { rows } = await probe.query<{ pid: string }>(
    `SELECT split_part(pg_read_file('postmaster.pid'), E'\\n', 1) AS pid`,
  );
  await probe.end();
  setPriority(Number(rows[0]!.pid), NICE);
}
const slack = await startSlackApi();
const held = new Set<Socket>();
const stalled = createServer((socket) => {
  held.add(socket);
  socket.on('error', () => undefined);
});
await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
const stalledUrl = new URL(server.url);
stalledUrl.port = String((stalled.address() as AddressInfo).port);
// A few sessions worth listing: sleeping queries under distinct applications.
const sleepers: pg.Client[] = [];
for (let i = 0; i < 10; i++) {
  const c = new pg.Client({ connectionString: server.url, application_name: `fleet-bench-${i}` });
  c.on('error', () => undefined);
  await c.connect();
  void c.query('SELECT pg_sleep(3600)').catch(() => undefined);
  sleepers.push(c);
}

const rows: string[][] = [
  [
    'clusters',
    'samples',
    'p50',
    'p95',
    'max',
    'others late',
    'stalled unnamed',
    'goal p95 ≤ 3 s',
    'process CPU per answer p50',
  ],
];
const dir = await mkdtemp(join(tmpdir(), 'pgsessions-fleet-bench-'));
try {
  for (const size of SIZES) {
    const file = join(dir, `clusters-${size}.yml`);
    const names = Array.from({ length: size - 1 }, (_, i) => `c${String(i).padStart(3, '0')}`);
    await writeFile(
      file,
      [
        'clusters:',
        ...names.flatMap((name) => [`  - name: ${name}`, `    url: ${server.url}`]),
        '  - name: stalled',
        `    url: ${stalledUrl.toString()}`,
        '',
      ].join('\n'),
    );
    const env = {
      ...baseEnv(server.url, slack, {
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: stateServer.url,
        LOG_LEVEL: 'warn',
      }),
      DATABASE_URL: undefined,
    };
    const sink = new Writable({
      write: (chunk, _encoding, done) => {
        if (process.env.BENCH_FLEET_LOG) process.stderr.write(String(chunk));
        done();
      },
    });
    const app = await startPgsessions(env, { logger: createLogger('warn', sink) });
    try {
      const times: number[] = [];
      /** CPU of this process (the app, the Slack stand-in and this loop) per answer, in ms. */
      const cpuMs: number[] = [];
      /** Clusters other than the stalled one that did not answer in time (a loaded host), over all samples. */
      let othersMissing = 0;
      /** Samples whose answer did not name the stalled cluster (it must be 0). */
      let unnamed = 0;
      for (let i = 0; i < SAMPLES + 2; i++) {
        const id = `fleet-${size}-${i}`;
        const started = performance.now();
        const cpu0 = process.cpuUsage();
        await slashCommand(app.port, SIGNING_SECRET, {
          text: 'cluster:*',
          userId: 'UBENCH',
          channelId: 'CBENCH',
          responseUrl: slack.responseUrl(id),
        });
        const reply = await slack.waitFor(() => slack.responsesTo(id)[0], { timeoutMs: 30_000 });
        const took = performance.now() - started;
        const cpu = process.cpuUsage(cpu0);
        // Named either way: silent past the timeout, or its connection attempt already timed out (unreachable).
        const said = JSON.stringify(reply.body);
        if (i >= 2 && !said.includes('`stalled`')) unnamed += 1;
        // "… on 12 of 200": the clusters that answered, of those asked (the fallback text says nothing of them
        // when no row came back).
        const answered = /on (\d+) of (\d+)/.exec(said);
        if (i >= 2 && answered) othersMissing += Number(answered[2]) - Number(answered[1]) - 1;
        // The first two warm the pools (a connection per cluster): not counted.
        if (i >= 2) times.push(took);
        if (i >= 2) cpuMs.push((cpu.user + cpu.system) / 1000);
      }
      const p95 = percentile(times, 95);
      rows.push([
        String(size),
        String(times.length),
        ms(percentile(times, 50)),
        ms(p95),
        ms(Math.max(...times)),
        String(othersMissing),
        String(unnamed),
        verdict(p95 <= GOAL_MS),
        ms(percentile(cpuMs, 50)),
      ]);
    } finally {
      await app.stop();
    }
  }
} finally {
  for (const c of sleepers) await c.end().catch(() => undefined);
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => stalled.close(() => resolve()));
  await slack.close();
  await server.stop();
  await stateServer.stop();
  await rm(dir, { recursive: true, force: true });
}
console.log(
  `cluster:* with one stalled cluster among N (PGSESSIONS_FLEET_TIMEOUT=2s), ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}, fleet server nice ${NICE}`,
);
console.log(table(rows));
