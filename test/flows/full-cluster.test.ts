// The worst day: a web tier fills the cluster (max_connections reached, 53300) after pgsessions' idle
// pooled connections have aged out, and the state database is on that same cluster. A separate small
// PostgreSQL, a real storm of connections from a plain role, and the real app over signed HTTP: listing,
// request, approval and terminate still work through pgsessions' reserved connections, everything is
// recorded and audited, and when even those are gone the answer says "full", not "unreachable".
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../helpers/embedded.js';
import { withDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import {
  as,
  auditEvents,
  click,
  command,
  fresh,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';

const MAX_CONNECTIONS = 16; // 3 of them reserved for superusers by default

let server: EmbeddedServer;
let slack: SlackApi;
let app: TestApp;
let botUrl: string;
let webUrl: string;
/** The state database as the superuser sees it: the bot's role itself cannot connect to a full cluster either. */
let observerUrl: string;
const storm: pg.Client[] = [];
let victim: { client: pg.Client; pid: number; finished: Promise<unknown> } | null = null;

async function admin<T extends pg.QueryResultRow = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return stateQuery<T>(server.url, sql, params);
}

async function connectAs(url: string, application: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: application });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

/** Opens connections as the web tier until the server says 53300; returns how many it got. */
async function fillCluster(webUrl: string): Promise<number> {
  let opened = 0;
  for (;;) {
    try {
      storm.push(await connectAs(webUrl, 'web-tier'));
      opened += 1;
    } catch (error) {
      assert.equal(
        (error as { code?: string }).code,
        '53300',
        `the storm stopped on something else: ${(error as Error).message}`,
      );
      return opened;
    }
    assert.ok(opened < MAX_CONNECTIONS, 'the cluster never filled up');
  }
}

async function waitUntil<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const botBackends = async () =>
  (await admin<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE usename = 'bot'`))[0]!.n;

before(async () => {
  server = await startEmbeddedPostgres({ maxConnections: MAX_CONNECTIONS, reuseInitdb: true });
  await admin(`CREATE ROLE bot LOGIN PASSWORD 'bot-password-x1' IN ROLE pg_monitor, pg_signal_backend`);
  await admin(`CREATE ROLE web LOGIN PASSWORD 'web-password-x1'`);
  await admin(`CREATE DATABASE pgsessions OWNER bot`);
  await admin(`CREATE DATABASE shop`);
  const u = new URL(withDatabase(server.url, 'pgsessions'));
  u.username = 'bot';
  u.password = 'bot-password-x1';
  botUrl = u.toString();
  observerUrl = withDatabase(server.url, 'pgsessions');
  slack = await startSlackApi();
  // The state database on the watched cluster; pooled connections age out after 300 ms; the periodic
  // sweeps are slow so that the pools really go idle and every new connection is refused.
  app = await startTestApp(baseEnv(botUrl, slack), {
    poolIdleTimeoutMs: 300,
    sweepIntervalMs: 600_000,
    outboxIntervalMs: 600_000,
    terminateTimeoutMs: 3_000,
  });
  // Only the two reserved connections (cluster and state database) stay.
  await waitUntil('the pooled connections to age out', async () => (await botBackends()) === 2);

  const web = new URL(withDatabase(server.url, 'shop'));
  web.username = 'web';
  web.password = 'web-password-x1';
  webUrl = web.toString();
  const client = await connectAs(webUrl, 'web-victim');
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const finished = client.query('SELECT pg_sleep(600)').catch((error: unknown) => error);
  victim = { client, pid, finished };
  await waitUntil(
    'the victim to be active',
    async () => (await admin(`SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`, [pid])).length > 0,
  );
  assert.ok((await fillCluster(webUrl)) > 0);
});

after(async () => {
  await app?.stop();
  await Promise.all(storm.map((c) => c.end().catch(() => undefined)));
  await victim?.client.end().catch(() => undefined);
  await slack?.close();
  await server?.stop();
});

test('on a full cluster, with the state database on it, listing, request, approval and terminate all work and are audited', async () => {
  const channel = fresh('C');
  const listing = await command(slack, app.port, 'app:web-victim', as(REQUESTER, channel));
  assert.match(
    listing.text + JSON.stringify(listing.body.blocks),
    new RegExp(`${victim!.pid}`),
    'the listing shows the victim',
  );
  assert.match(
    JSON.stringify(listing.body.blocks),
    /is full: max_connections reached \(53300\) — listed through pgsessions’ reserved connection/,
  );
  assert.doesNotMatch(JSON.stringify(listing.body), /cannot be reached|Cannot reach/i);

  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim!.pid} the web tier filled the cluster`,
    as(REQUESTER, channel),
  );
  const approved = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal(approved.status, 200);
  const row = await waitForStatus(observerUrl, id, ['executed', 'failed'], 30_000);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.equal(row.result?.outcomes[0]?.outcome, 'terminated');
  assert.ok((await victim!.finished) instanceof Error, 'the victim session was ended');
  // Recorded and audited in the state database that sits on the full cluster.
  const events = await auditEvents(observerUrl, id);
  for (const event of ['requested', 'approved', 'executed'])
    assert.ok(events.includes(event), `audit has ${event}: ${events.join(', ')}`);
});

test('when even the reserved connections are gone, the answer says the cluster is full, not unreachable', async () => {
  // The terminate freed a slot: the web tier takes it back, then the bot's reserved connections are killed
  // and the web tier takes those slots too.
  await waitUntil('the bot to hold no connection at all', async () => {
    await fillCluster(webUrl);
    await admin(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = 'bot'`);
    await fillCluster(webUrl);
    return (await botBackends()) === 0;
  });
  const listing = await command(slack, app.port, 'app:web-victim', as(REQUESTER, fresh('C')));
  assert.match(listing.text, /Cluster `default` is full: max_connections reached \(53300\)/);
  assert.doesNotMatch(listing.text, /cannot be reached|Cannot reach|unreachable/i);
  const status = await command(slack, app.port, 'status', as(REQUESTER, fresh('C')));
  assert.match(JSON.stringify(status.body.blocks), /full: max_connections reached \(53300\)/);
  assert.doesNotMatch(JSON.stringify(status.body.blocks), /unreachable/i);
  const stormPid = (
    await admin<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE application_name = 'web-tier' LIMIT 1`)
  )[0]!.pid;
  const refused = await command(slack, app.port, `terminate ${stormPid} the web tier again`, as(REQUESTER, fresh('C')));
  assert.match(refused.text, /The cluster is full: max_connections reached \(53300\).*Nothing was done/);
  // And once a connection frees, pgsessions gets its reserved connection back and lists again.
  await storm.pop()!.end();
  await storm.pop()!.end();
  await waitUntil(
    'a listing to work again',
    async () => {
      const again = await command(slack, app.port, 'app:web-victim', as(REQUESTER, fresh('C')));
      return /Sessions on default/.test(again.text + JSON.stringify(again.body.blocks));
    },
    30_000,
  );
});
