// `npm run bench:fleet-startup`: how long one replica takes to become ready (/healthz 200) with N clusters,
// one of them stalled (a TCP listener that accepts and never answers). One embedded PostgreSQL under N - 1
// names, every cluster watched (a watch channel), BENCH_FLEET_REPLICAS (3) replicas started one after another
// over one state database, each left running while the next starts, each as its own process running the
// compiled app as production does (`node dist/main.js`, compiled once into a scratch directory). Timed from
// spawn to the first 200 on /healthz; a run with 1 cluster gives the process's own start (Node, migrations)
// to subtract. The state database is a server of its own, as in production. Prints figures, never asserts.
// BENCH_FLEET_SIZES=1,20,200.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { baseEnv } from '../test/helpers/app.js';
import { freePort, startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { type AppProcess, compileApp, startAppProcess } from './app-process.js';
import { ms, table } from './stats.js';

const SIZES = (process.env.BENCH_FLEET_SIZES ?? '1,20,200').split(',').map(Number);
/** Replicas started one after another, each kept running (watching) while the next starts. */
const REPLICAS = Number(process.env.BENCH_FLEET_REPLICAS ?? 3);

const server = await startEmbeddedPostgres({ reuseInitdb: true, maxConnections: 6 * Math.max(...SIZES) + 100 });
const stateServer = await startEmbeddedPostgres({ reuseInitdb: true, maxConnections: 300 });
const slack = await startSlackApi();
const held = new Set<Socket>();
const stalled = createServer((socket) => {
  held.add(socket);
  socket.on('error', () => undefined);
});
await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
const stalledUrl = new URL(server.url);
stalledUrl.port = String((stalled.address() as AddressInfo).port);
const work = await mkdtemp(join(tmpdir(), 'pgsessions-fleet-startup-'));
// As production runs it (`npm start`: node dist/main.js), compiled once into the scratch directory.
// BENCH_FLEET_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR": node flags for each replica (to see where start-up goes).
const nodeArgs = (process.env.BENCH_FLEET_NODE_ARGS ?? '').split(' ').filter(Boolean);
const appArgs = await compileApp(work, (message) => console.error(`[bench:fleet-startup] ${message}`));
const rows: string[][] = [['clusters (1 stalled)', 'replicas', 'ready after (each, in start order)', 'load average']];
try {
  for (const size of SIZES) {
    const file = join(work, `clusters-${size}.yml`);
    const names = Array.from({ length: size - 1 }, (_, i) => `c${String(i).padStart(3, '0')}`);
    const entry = (name: string, url: string) => [
      `  - name: ${name}`,
      `    url: ${url}`,
      '    watch: { channel: CFLEETSTART }',
    ];
    await writeFile(
      file,
      ['clusters:', ...names.flatMap((n) => entry(n, server.url)), ...entry('stalled', stalledUrl.toString()), ''].join(
        '\n',
      ),
    );
    const times: number[] = [];
    const running: AppProcess[] = [];
    for (let r = 0; r < REPLICAS; r++) {
      const port = await freePort();
      const env: NodeJS.ProcessEnv = {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        ...baseEnv(server.url, slack, {
          PORT: String(port),
          PGSESSIONS_CLUSTERS: file,
          STATE_DATABASE_URL: stateServer.url,
          LOG_LEVEL: 'info',
          PGSESSIONS_WATCH_INTERVAL: '10s',
        }),
      };
      delete env.DATABASE_URL;
      const started = performance.now();
      try {
        running.push(
          await startAppProcess({
            cwd: process.cwd(),
            env,
            port,
            logFile: join(work, `app-${size}-${r}.log`),
            args: [...nodeArgs, ...appArgs],
          }),
        );
        times.push(performance.now() - started);
      } catch (error) {
        console.error(`[bench:fleet-startup] ${size} clusters, replica ${r + 1}: ${(error as Error).message}`);
        times.push(Number.POSITIVE_INFINITY);
        break;
      }
    }
    await Promise.all(running.map((p) => p.stop()));
    rows.push([String(size), String(REPLICAS), times.map(ms).join(' / '), loadavg()[0]!.toFixed(2)]);
    console.error(`[bench:fleet-startup] ${size} clusters: ${times.map(ms).join(' / ')}`);
  }
} finally {
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => stalled.close(() => resolve()));
  await slack.close();
  await server.stop();
  await stateServer.stop();
  if (process.env.BENCH_FLEET_KEEP_LOGS) console.error(`[bench:fleet-startup] logs kept in ${work}`);
  else await rm(work, { recursive: true, force: true });
}
console.log(`Replica start-up with one stalled cluster among N, ${cpus().length} CPUs`);
console.log(table(rows));
process.exit(0);
