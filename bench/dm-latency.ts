// `npm run bench:dm`: request → first approver's direct message (issue 16's goal: p95 < 1 s). The suite's
// embedded PostgreSQL, the real app over signed HTTP, the Slack stand-in; each sample is one typed
// `/pgsessions terminate PID reason` (the signed slash command) timed until the stand-in receives the first
// chat.postMessage in a D… channel carrying that request's Approve button. Approvers: one user and a user
// group of three (read from the stand-in at request time, as in production). Prints figures, never asserts.
// BENCH_DM_SAMPLES=30.
import { cpus, loadavg } from 'node:os';
import { Writable } from 'node:stream';
import pg from 'pg';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { ACTION } from '../src/slack/blocks/ids.js';
import { baseEnv, SIGNING_SECRET } from '../test/helpers/app.js';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi, type RecordedCall } from '../test/helpers/slack-api.js';
import { slashCommand } from '../test/helpers/slack-requests.js';
import { ms, percentile, table, verdict } from './stats.js';

const SAMPLES = Number(process.env.BENCH_DM_SAMPLES ?? 30);
const WARM_UPS = 2;
const GOAL_MS = 1_000;

const server = await startEmbeddedPostgres({ reuseInitdb: true, maxConnections: SAMPLES + WARM_UPS + 60 });
const slack = await startSlackApi();
slack.usergroups.SBENCHDBA = ['UDBA1', 'UDBA2', 'UDBA3'];
const sleepers: Array<{ client: pg.Client; pid: number }> = [];
for (let i = 0; i < SAMPLES + WARM_UPS; i++) {
  const client = new pg.Client({ connectionString: server.url, application_name: `dm-bench-${i}` });
  client.on('error', () => undefined);
  await client.connect();
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  void client.query('SELECT pg_sleep(3600)').catch(() => undefined);
  sleepers.push({ client, pid: rows[0]!.pid });
}
await new Promise((resolve) => setTimeout(resolve, 500)); // the sleeps are running

const env = baseEnv(server.url, slack, {
  PGSESSIONS_APPROVERS: 'UAPPB,SBENCHDBA',
  PGSESSIONS_APPROVAL_TTL: '1h',
  LOG_LEVEL: 'warn',
});
const sink = new Writable({
  write: (chunk, _encoding, done) => {
    if (process.env.BENCH_DM_LOG) process.stderr.write(String(chunk));
    done();
  },
});
const app = await startPgsessions(env, { logger: createLogger('warn', sink) });

/** The first DM carrying an Approve button recorded after `from` (calls are recorded in arrival order). */
function firstDm(from: number): RecordedCall | undefined {
  return slack.calls
    .slice(from)
    .find(
      (c) =>
        c.method === 'chat.postMessage' &&
        String(c.params.channel).startsWith('D') &&
        JSON.stringify(c.params.blocks ?? []).includes(ACTION.approve),
    );
}

const times: number[] = [];
let told = 0;
try {
  for (let i = 0; i < sleepers.length; i++) {
    const from = slack.calls.length;
    const id = `dm-${i}`;
    const started = Date.now();
    await slashCommand(app.port, SIGNING_SECRET, {
      text: `terminate ${sleepers[i]!.pid} bench ${i}`,
      userId: 'UREQ',
      channelId: 'CBENCHDM',
      responseUrl: slack.responseUrl(id),
    });
    const dm = await slack.waitFor(() => firstDm(from), { timeoutMs: 30_000, description: `the first DM of ${id}` });
    if (i < WARM_UPS) continue;
    times.push(dm.at - started);
    // Everyone is told (4 approvers): wait for the rest before the next sample, so samples do not overlap.
    await slack.waitFor(
      () => {
        const n = slack.calls
          .slice(from)
          .filter((c) => c.method === 'chat.postMessage' && String(c.params.channel).startsWith('D')).length;
        return n >= 4 ? n : undefined;
      },
      { timeoutMs: 30_000 },
    );
    told += 4;
  }
} finally {
  await app.stop();
  for (const s of sleepers) await s.client.end().catch(() => undefined);
  await slack.close();
  await server.stop();
}

const p95 = percentile(times, 95);
console.log(
  `request → first approver's DM (signed slash command → chat.postMessage in a D… channel at the stand-in), ${cpus().length} CPUs, load ${loadavg()[0]!.toFixed(2)}`,
);
console.log(
  table([
    ['samples', 'p50', 'p95', 'max', 'DMs sent', 'goal p95 < 1 s'],
    [
      String(times.length),
      ms(percentile(times, 50)),
      ms(p95),
      ms(Math.max(...times)),
      String(told),
      verdict(p95 < GOAL_MS),
    ],
  ]),
);
