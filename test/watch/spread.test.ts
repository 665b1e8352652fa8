// Watching spread over replicas (issue 17): three real app replicas — two in this process, one its own process
// so that it can be SIGKILLed — over one state database, watching 40 clusters (one server under 40 names),
// started one after another. Each leads a fair share (8..20) soon after the last one starts; the killed one's
// clusters are taken over within 30 s (it ran with the default 15 s lease); a fourth replica joining takes its
// share. Every cluster sees the same lock wait, so every cluster's alert is counted at the Slack stand-in:
// posted once whatever the leader changes, and a new incident after the rebalancing is posted once per cluster.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../helpers/embedded.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { childApps, type ChildApps } from '../helpers/child-app.js';
import { blockedQuery, idleInTransactionLockHolder } from '../helpers/sessions.js';
import { sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { alertPosts, watchEnv } from '../helpers/watch.js';

const CLUSTERS = Array.from({ length: 40 }, (_, i) => `fleet-${String(i).padStart(2, '0')}`);
let server: EmbeddedServer;
let slack: SlackApi;
let dir: string;
let stateUrl: string;
const apps: TestApp[] = [];
let child: ChildApps;
const sessions = sessionTracker();

before(async () => {
  // 4 replicas × 40 clusters × (a reserved connection + the watcher's own) need more than the suite's server.
  server = await startEmbeddedPostgres({ maxConnections: 600, reuseInitdb: true });
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE DATABASE fleet_state');
  await admin.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await admin.query('CREATE TABLE invoices (id int PRIMARY KEY)');
  await admin.end();
  const u = new URL(server.url);
  u.pathname = '/fleet_state';
  stateUrl = u.toString();
  dir = await mkdtemp(join(tmpdir(), 'pgsessions-spread-'));
  await writeFile(
    join(dir, 'clusters.yml'),
    `clusters:\n${CLUSTERS.map((name) => `  - name: ${name}\n    url: ${server.url}\n`).join('')}`,
  );
  slack = await startSlackApi();
  child = childApps((port) => ({ ...env(), PORT: String(port), LOG_LEVEL: 'info' }), 120_000);
});
after(async () => {
  await sessions.endAll();
  await child?.kill();
  for (const app of apps) await app.stop().catch(() => undefined);
  await slack?.close();
  await server?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

function env(): NodeJS.ProcessEnv {
  return {
    ...baseEnv(server.url, slack, watchEnv({ PGSESSIONS_WATCH_INTERVAL: '3s' })),
    DATABASE_URL: undefined,
    PGSESSIONS_CLUSTERS: join(dir, 'clusters.yml'),
    STATE_DATABASE_URL: stateUrl,
  };
}

/** In this process, with the default lease (15 s, renewed every 5 s), like the child. */
async function startReplica(): Promise<TestApp> {
  // A generous Slack timeout: a post that reached the stand-in but timed out at the client is retried by design
  // (another matter than leadership), and this machine is shared.
  const app = await startTestApp({ ...env(), LOG_LEVEL: 'info' }, { watchUpdateGapSeconds: 1, slackTimeoutMs: 60_000 });
  apps.push(app);
  return app;
}

/** Current (unexpired) leases: holder → how many clusters it leads. */
async function leasesByHolder(): Promise<Map<string, number>> {
  const rows = await stateQuery<{ holder: string; n: string }>(
    stateUrl,
    'SELECT holder, count(*) AS n FROM pgsessions.watch_leases WHERE expires_at > now() GROUP BY holder',
  );
  return new Map(rows.map((r) => [r.holder, Number(r.n)]));
}

async function gauge(app: TestApp): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith('pgsessions_watch_leading '));
  assert.ok(line, 'the gauge is on /metrics');
  return Number(line.split(' ')[1]);
}

async function waitFor<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(250);
  }
}

/** Every cluster led, by exactly `replicas` holders, each within 8..20: the counts, once it holds. */
const spread = (replicas: number) => async () => {
  const by = await leasesByHolder();
  const counts = [...by.values()];
  const total = counts.reduce((a, b) => a + b, 0);
  return by.size === replicas && total === CLUSTERS.length && counts.every((n) => n >= 8 && n <= 20) ? by : undefined;
};

/** Alert posts at the stand-in, per cluster, for incidents about `pid`. */
function postsPerCluster(pid: number): Map<string, number> {
  const out = new Map<string, number>();
  for (const call of alertPosts(slack)) {
    const text = textOf(call.params);
    if (!text.includes(`pid ${pid}`)) continue;
    const cluster = /fleet-\d\d/.exec(text)?.[0] ?? 'unnamed';
    out.set(cluster, (out.get(cluster) ?? 0) + 1);
  }
  return out;
}

const allOnce = (m: Map<string, number>) => m.size === CLUSTERS.length && [...m.values()].every((n) => n === 1);

test('three replicas started one after another share 40 clusters, survive a SIGKILL, and make room for a fourth', async () => {
  const holder = sessions.track(await idleInTransactionLockHolder(server.url, 'orders'));
  sessions.track(await blockedQuery(server.url, 'orders'));

  // One after another: the first takes every cluster, then gives the others their shares.
  const a = await startReplica();
  await waitFor('the first replica to lead all 40', 30_000, async () =>
    (await gauge(a)) === CLUSTERS.length ? true : undefined,
  );
  await sleep(2_000);
  const b = await startReplica();
  await sleep(2_000);
  await child.start();
  const lastStarted = Date.now();
  const three = await waitFor('3 replicas leading 8..20 each', 60_000, spread(3));
  const took = Date.now() - lastStarted;
  assert.ok(took <= 60_000, `spread ${took} ms after the last start`);
  const childPid = child.current()!.pid!;
  const childHolder = [...three.keys()].find((h) => h.includes(`:${childPid}:`));
  assert.ok(childHolder, `the child process leads its share: ${JSON.stringify([...three])}`);
  const childLeads = three.get(childHolder)!;
  await waitFor('the gauges to agree with the leases', 10_000, async () =>
    (await gauge(a)) + (await gauge(b)) === CLUSTERS.length - childLeads ? true : undefined,
  );

  await waitFor('every cluster’s alert', 30_000, async () => (allOnce(postsPerCluster(holder.pid)) ? true : undefined));

  // The child dies without a word: its heartbeat and leases expire (15 s by default), the others take over.
  await child.kill();
  const killedAt = Date.now();
  await waitFor('the survivors to lead all 40', 35_000, async () => {
    const by = await leasesByHolder();
    const led = [...by].filter(([h]) => h !== childHolder).reduce((sum, [, n]) => sum + n, 0);
    return led === CLUSTERS.length ? true : undefined;
  });
  const takeover = Date.now() - killedAt;
  assert.ok(takeover <= 30_000, `taken over ${takeover} ms after the SIGKILL`);
  // Then the two share them evenly (a few move between the survivors, each between two looks).
  const two = await waitFor('the survivors to lead 20 each', 30_000, spread(2));
  assert.ok(![...two.keys()].includes(childHolder));
  await waitFor('the gauges to sum to 40', 10_000, async () =>
    (await gauge(a)) + (await gauge(b)) === CLUSTERS.length ? true : undefined,
  );

  // A fourth joins: it takes its share, leases given back between two looks.
  const d = await startReplica();
  await waitFor('3 replicas leading 8..20 each again', 30_000, spread(3));
  assert.ok((await gauge(d)) >= 8, 'the newcomer leads its share');

  // Nothing posted twice through the kill and the join; a new incident now is posted once on every cluster.
  await sleep(3_000);
  const notPosted = [...apps.flatMap((app) => app.logs), ...child.logs].filter((l) => l.includes('alert not posted'));
  assert.deepEqual(
    [...postsPerCluster(holder.pid).entries()].filter(([, n]) => n !== 1),
    [],
    `posted twice; Slack failures the replicas saw: ${notPosted.join('\n')}; the incidents: ${JSON.stringify(
      await stateQuery(
        stateUrl,
        'SELECT cluster, key, status, message_ts, opened_at, cleared_at FROM pgsessions.incidents ORDER BY cluster',
      ),
    ).slice(0, 6000)}`,
  );
  assert.ok(allOnce(postsPerCluster(holder.pid)));
  const second = sessions.track(await idleInTransactionLockHolder(server.url, 'invoices'));
  sessions.track(await blockedQuery(server.url, 'invoices'));
  await waitFor('the new incident on every cluster', 30_000, async () =>
    postsPerCluster(second.pid).size === CLUSTERS.length ? true : undefined,
  );
  await sleep(3_000);
  assert.ok(allOnce(postsPerCluster(second.pid)), JSON.stringify([...postsPerCluster(second.pid)]));
});
