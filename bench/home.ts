// `npm run bench:home`: how long after a change on one replica a person's Home shows it on another (issue 16,
// goal ≤ 5 s). Two pgsessions replicas (A and B) share one state database on an embedded PostgreSQL; the
// approver opens their Home on A only; each sample makes a request on B (a typed `/pgsessions terminate`) and
// times from the command sent to the Home that A publishes listing it (the stand-in's views.publish, seen as it
// lands), then withdraws it and waits for the Home to drop it. Prints p50/p95/max and PASS/MISS; never asserts.
// BENCH_HOME_SAMPLES to change the number of samples (default 20).
import { loadavg } from 'node:os';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { baseEnv } from '../test/helpers/app.js';
import { as, click, fresh, typedRequest } from '../test/helpers/approval-flow.js';
import { openHome } from '../test/helpers/home.js';
import { sleepSession } from '../test/helpers/sessions.js';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { ACTION } from '../src/slack/blocks/ids.js';
import { ms, percentile, table, verdict } from './stats.js';

const SAMPLES = Number(process.env.BENCH_HOME_SAMPLES ?? 20);
const GOAL_MS = 5_000;
const APPROVER = 'UAPP';
const REQUESTER = 'UREQ';
const log = (message: string) => console.error(`[bench:home ${new Date().toISOString().slice(11, 19)}] ${message}`);

const server = await startEmbeddedPostgres();
const slack = await startSlackApi();
const env = baseEnv(server.url, slack, { LOG_LEVEL: 'silent' });
const a = await startPgsessions(env, { logger: createLogger('silent') });
const b = await startPgsessions(env, { logger: createLogger('silent') });

/** Every Home the approver was shown, with when it landed at the stand-in. */
const shownHomes: Array<{ at: number; text: string }> = [];
slack.workspace.on((event) => {
  if (event.type !== 'home' || event.user !== APPROVER) return;
  shownHomes.push({ at: performance.now(), text: JSON.stringify(slack.workspace.homeOf(APPROVER)) });
});

/** The time the first Home published since `from` (an index into shownHomes) satisfied `ok`. */
async function homeWhen(from: number, ok: (text: string) => boolean, timeoutMs = 30_000): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const found = shownHomes.slice(from).find((h) => ok(h.text));
    if (found) return found.at;
    if (performance.now() > deadline) throw new Error(`the Home did not change within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const latencies: number[] = [];
try {
  await openHome(a.port, APPROVER);
  await homeWhen(0, () => true);
  log(`${SAMPLES} samples: a request on replica B, the approver's Home on replica A`);
  for (let i = 0; i < SAMPLES; i++) {
    const victim = await sleepSession(server.url, { seconds: 300, application: `bench-home-${i}` });
    const channel = fresh('C');
    const from = shownHomes.length;
    const sent = performance.now();
    const { id } = await typedRequest(
      slack,
      b.port,
      `terminate ${victim.pid} bench home sample ${i}`,
      as(REQUESTER, channel),
    );
    latencies.push((await homeWhen(from, (text) => text.includes(id))) - sent);
    const before = shownHomes.length;
    await click(slack, b.port, ACTION.withdraw, id, as(REQUESTER, channel));
    await homeWhen(before, (text) => !text.includes(id));
    await victim.end();
  }
} finally {
  await Promise.all([a.stop(), b.stop()]);
  await slack.close();
  await server.stop();
}

const p95 = percentile(latencies, 95);
console.log(
  table([
    ['change → Home (other replica)', 'n', 'p50', 'p95', 'max', `goal ≤ ${GOAL_MS / 1000} s`],
    [
      'request on B → approver’s Home on A',
      String(latencies.length),
      ms(percentile(latencies, 50)),
      ms(p95),
      ms(percentile(latencies, 100)),
      verdict(p95 <= GOAL_MS),
    ],
  ]),
);
console.log(`load average ${loadavg()[0]!.toFixed(1)}`);
