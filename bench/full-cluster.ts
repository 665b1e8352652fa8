// `npm run bench:full`: pgsessions while its cluster is full. A small embedded PostgreSQL (max_connections 60)
// watched by a plain bot role (pg_monitor, pg_signal_backend), the state on a server of its own, the app
// running before the storm. Measured first on the healthy cluster, then after a storm role has taken every
// connection a non-superuser may have and the app's idle pooled connections have timed out:
//   - listing p95: `/pgsessions` sent → the listing posted (a refusal or no answer is counted, not timed)
//   - approve→gone p95: Approve clicked on a typed `terminate PID` → the victim's own client sees it end
// Failures are counted and printed, never thrown. Goals: both p95 < 1 s, on healthy and full alike.
// Options: BENCH_FULL_SAMPLES (default 20 listings, half as many approvals), BENCH_FULL_RESERVED=1 (the bot
// role in pg_use_reserved_connections with reserved_connections = 3: the PostgreSQL 16+ remedy).
import { cpus, loadavg } from 'node:os';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../test/helpers/embedded.js';
import { startSlackApi, type SlackApi } from '../test/helpers/slack-api.js';
import { slashCommand } from '../test/helpers/slack-requests.js';
import { approvalPosts, click, requestIdOf } from '../test/helpers/approval-flow.js';
import { sleepSession, type SleepSession } from '../test/helpers/sessions.js';
import { APPROVER, REQUESTER, SIGNING_SECRET, baseEnv } from '../test/helpers/app.js';
import { ACTION } from '../src/slack/blocks/ids.js';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { createDriver, type Driver } from './drive.js';
import { ms, percentile, sleep, table, verdict } from './stats.js';

const SAMPLES = Number(process.env.BENCH_FULL_SAMPLES ?? 20);
const APPROVALS = Math.max(3, Math.floor(SAMPLES / 2));
const RESERVED = process.env.BENCH_FULL_RESERVED === '1';
const MAX_CONNECTIONS = 60;
const ANSWER_TIMEOUT_MS = 10_000;
const GOAL_MS = 1_000;
const CHANNEL = 'CFULLBENCH';
const log = (message: string) => console.error(`[bench:full ${new Date().toISOString().slice(11, 19)}] ${message}`);

interface Phase {
  name: string;
  listings: number[];
  listingFailures: Record<string, number>;
  gone: number[];
  goneFailures: Record<string, number>;
}

const count = (into: Record<string, number>, what: string) => (into[what] = (into[what] ?? 0) + 1);

/** A LOGIN role on the cluster; its URL. */
async function role(server: EmbeddedServer, grants: string[]): Promise<string> {
  const name = `b_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  await c.query(
    `CREATE ROLE ${name} LOGIN PASSWORD '${password}'${grants.length > 0 ? ` IN ROLE ${grants.join(', ')}` : ''}`,
  );
  await c.end();
  const u = new URL(server.url);
  u.username = name;
  u.password = password;
  return u.toString();
}

async function listings(driver: Driver, phase: Phase): Promise<void> {
  for (let i = 0; i < SAMPLES; i++) {
    try {
      const r = await driver.command('', { timeoutMs: ANSWER_TIMEOUT_MS });
      if (r.outcome === 'listing') phase.listings.push(r.answerMs);
      else count(phase.listingFailures, r.outcome === 'none' ? 'no answer in 10 s' : r.outcome);
    } catch (error) {
      count(phase.listingFailures, `error: ${(error as Error).message.slice(0, 60)}`);
    }
  }
}

/** `terminate PID reason` typed, the approval posted, Approve clicked by another person: time until the victim's client sees it end. */
async function approveToGone(slack: SlackApi, port: number, victim: SleepSession, phase: Phase): Promise<void> {
  const before = approvalPosts(slack, CHANNEL).length;
  const id = `full${randomBytes(4).toString('hex')}`;
  const res = await slashCommand(port, SIGNING_SECRET, {
    text: `terminate ${victim.pid} bench`,
    userId: REQUESTER,
    channelId: CHANNEL,
    responseUrl: slack.responseUrl(id),
  });
  if (res.status !== 200) return void count(phase.goneFailures, `command answered ${res.status}`);
  const post = await slack
    .waitFor(() => approvalPosts(slack, CHANNEL)[before], { timeoutMs: ANSWER_TIMEOUT_MS, description: 'approval' })
    .catch(() => null);
  if (!post) return void count(phase.goneFailures, 'request refused or not posted');
  let endedAt = 0;
  const ended = victim.finished.then(() => (endedAt = Date.now()));
  const clickedAt = Date.now();
  const clicked = await click(slack, port, ACTION.approve, requestIdOf(post), { user: APPROVER, channel: CHANNEL });
  if (clicked.status !== 200) return void count(phase.goneFailures, `approve answered ${clicked.status}`);
  const outcome = await Promise.race([
    ended.then(() => 'gone' as const),
    sleep(ANSWER_TIMEOUT_MS).then(() => 'timeout' as const),
  ]);
  if (outcome === 'gone') phase.gone.push(endedAt - clickedAt);
  else count(phase.goneFailures, 'still there 10 s after Approve');
}

async function measure(
  name: string,
  slack: SlackApi,
  port: number,
  driver: Driver,
  victims: SleepSession[],
): Promise<Phase> {
  const phase: Phase = { name, listings: [], listingFailures: {}, gone: [], goneFailures: {} };
  log(`${name}: ${SAMPLES} listings`);
  await listings(driver, phase);
  log(`${name}: ${victims.length} approvals`);
  for (const victim of victims) await approveToGone(slack, port, victim, phase);
  return phase;
}

/**
 * Storm clients that take every connection they can and keep retrying: `full` resolves at the first refusal;
 * from then on any slot that frees up is taken again within ~100 ms.
 */
function keepFull(url: string): { full: Promise<void>; refusal(): string; stop(): Promise<void> } {
  let stopped = false;
  let refusal = '';
  let markFull: () => void = () => undefined;
  const full = new Promise<void>((resolve) => (markFull = resolve));
  const loop = (async () => {
    while (!stopped) {
      const c = new pg.Client({ connectionString: url, application_name: 'storm' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        held.push(c);
      } catch (error) {
        refusal = (error as Error).message;
        markFull();
        await sleep(100);
      }
    }
  })();
  return {
    full,
    refusal: () => refusal,
    stop: async () => {
      stopped = true;
      await loop;
    },
  };
}

const failures = (f: Record<string, number>) =>
  Object.keys(f).length === 0
    ? 'none'
    : Object.entries(f)
        .map(([k, v]) => `${v}× ${k}`)
        .join(', ');

const cluster = await startEmbeddedPostgres({
  maxConnections: MAX_CONNECTIONS,
  reuseInitdb: true,
  ...(RESERVED ? { settings: { reserved_connections: '3' } } : {}),
});
const stateServer = await startEmbeddedPostgres({ reuseInitdb: true });
const slack = await startSlackApi();
const held: pg.Client[] = [];
const victims: SleepSession[] = [];
try {
  const botUrl = await role(cluster, [
    'pg_monitor',
    'pg_signal_backend',
    ...(RESERVED ? ['pg_use_reserved_connections'] : []),
  ]);
  const stormUrl = await role(cluster, []);
  const app = await startPgsessions(
    baseEnv(botUrl, slack, {
      STATE_DATABASE_URL: stateServer.url,
      LOG_LEVEL: 'silent',
      PGSESSIONS_WATCH_CHANNEL: 'CWATCHFULL',
      PGSESSIONS_WATCH_INTERVAL: '2s',
      PGSESSIONS_WATCH_CONNECTIONS: '90%',
    }),
    { logger: createLogger('silent'), watchUpdateGapSeconds: 30, terminateTimeoutMs: 3_000 },
  );
  const driver = createDriver(slack, app.port);
  for (let n = 0; n < 20; n++) {
    const c = new pg.Client({ connectionString: stormUrl, application_name: 'storm' });
    await c.connect();
    held.push(c);
  }
  const healthyVictims: SleepSession[] = [];
  for (let n = 0; n < APPROVALS; n++)
    healthyVictims.push(await sleepSession(stormUrl, { seconds: 600, application: 'victim' }));
  const healthy = await measure('healthy', slack, app.port, driver, healthyVictims);

  // The storm: victims first (they hold connections too), then every slot a non-superuser may have — and,
  // like clients that retry, every slot that frees up later (the app's pooled connections timing out).
  for (let n = 0; n < APPROVALS; n++)
    victims.push(await sleepSession(stormUrl, { seconds: 600, application: 'victim' }));
  const storm = keepFull(stormUrl);
  await storm.full;
  log(
    `cluster full at ${held.length + victims.length} storm sessions (${storm.refusal()}); waiting 35 s for the app's idle pooled connections to time out`,
  );
  await sleep(35_000);
  log(`still full: ${held.length + victims.length} storm sessions`);
  const full = await measure('full', slack, app.port, driver, victims);
  await storm.stop();
  driver.close();
  await app.stop();

  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    `\nA full cluster: max_connections ${MAX_CONNECTIONS}, bot role ${RESERVED ? 'in pg_use_reserved_connections, reserved_connections = 3' : 'without reserved connections'}; ${SAMPLES} listings and ${APPROVALS} approvals per phase\n`,
  );
  const rows = [['phase', 'figure', 'p50 / p95 / max', 'samples ok', 'failures', 'goal', 'verdict']];
  for (const p of [healthy, full]) {
    const l95 = percentile(p.listings, 95);
    const g95 = percentile(p.gone, 95);
    rows.push([
      p.name,
      'listing',
      `${ms(percentile(p.listings, 50))} / ${ms(l95)} / ${ms(Math.max(...p.listings))}`,
      `${p.listings.length}/${SAMPLES}`,
      failures(p.listingFailures),
      '< 1 s p95, no failure',
      verdict(p.listings.length === SAMPLES && l95 < GOAL_MS),
    ]);
    rows.push([
      p.name,
      'approve→gone',
      `${ms(percentile(p.gone, 50))} / ${ms(g95)} / ${ms(Math.max(...p.gone))}`,
      `${p.gone.length}/${APPROVALS}`,
      failures(p.goneFailures),
      '< 1 s p95, no failure',
      verdict(p.gone.length === APPROVALS && g95 < GOAL_MS),
    ]);
  }
  console.log(table(rows));
} finally {
  for (const v of victims) await v.end().catch(() => undefined);
  await Promise.all(held.map((c) => c.end().catch(() => undefined)));
  await slack.close();
  await cluster.stop();
  await stateServer.stop();
}
process.exit(0);
