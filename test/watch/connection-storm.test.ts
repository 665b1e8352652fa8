// A full cluster, relieved in one approval: a separate server with few connections, a storm of idle sessions
// of one application beside active ones and another application's; the connections alert names who holds
// them and offers "Request terminate of the N idle sessions of app X…". Press, submit, approve as another
// person: exactly X's idle sessions are gone. The button and the form carry only an incident id; a forged one
// carrying other pids widens nothing. Real servers, the real app over signed HTTP, the recorder as Slack.
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedServer } from '../helpers/embedded.js';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { sleepSession, walsender, type SleepSession } from '../helpers/sessions.js';
import { APPROVER, REQUESTER, SIGNING_SECRET } from '../helpers/app.js';
import {
  approvalPosts,
  buttonsIn,
  click,
  fresh,
  requestIdOf,
  sleep,
  stateQuery,
  textOf,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { incidents, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { INCLUDE_ACTIVE } from '../../src/slack/blocks/relief.js';
import { ACTION, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

let cluster: EmbeddedServer;
/** A role the app protects (PGSESSIONS_PROTECTED_ROLES) on the watched cluster. */
let guardedUrl: string;
const clients: pg.Client[] = [];
const sleepers: SleepSession[] = [];

interface Idle {
  pid: number;
  client: pg.Client;
}

/** A session of `application` that connects, runs one statement and sits idle. */
async function idleSession(application: string, url = cluster.url): Promise<Idle> {
  const client = new pg.Client({ connectionString: url, application_name: application });
  await client.connect();
  client.on('error', () => undefined);
  clients.push(client);
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { pid: rows[0]!.pid, client };
}

async function alive(pids: number[]): Promise<number[]> {
  const rows = await stateQuery<{ pid: number }>(
    cluster.url,
    'SELECT pid FROM pg_stat_activity WHERE pid = ANY ($1::int[])',
    [pids],
  );
  return rows.map((r) => r.pid).sort((a, b) => a - b);
}

const sorted = (pids: number[]) => [...pids].sort((a, b) => a - b);

/** The connections alert (posted or updated) once it shows `pattern`, with its relief button. */
async function reliefAlert(pattern: RegExp) {
  const call = await slack.waitFor(
    () =>
      [...slack.callsTo('chat.postMessage'), ...slack.callsTo('chat.update')]
        .reverse()
        .find(
          (c) =>
            pattern.test(textOf(c.params)) &&
            buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.watchRelieveConnections),
        ),
    { timeoutMs: 20_000, description: `the connections alert showing ${pattern}` },
  );
  return { call, button: buttonsIn(call.params.blocks).find((b) => b.action_id === ACTION.watchRelieveConnections)! };
}

async function requestCount(): Promise<number> {
  return Number((await stateQuery<{ n: string }>(state.url, 'SELECT count(*) AS n FROM pgsessions.requests'))[0]!.n);
}

// The fixture's database holds the state; the watched cluster is a separate small server.
const {
  db: state,
  slack,
  app,
} = useTestApp({
  database: 'connstorm',
  async prepare() {
    // 40 connections, 3 kept for superusers: 37 available; the alert fires past 50 % (19 sessions).
    cluster = await startEmbeddedPostgres({ maxConnections: 40, reuseInitdb: true });
    const admin = new pg.Client({ connectionString: cluster.url });
    await admin.connect();
    await admin.query("CREATE ROLE storm_guarded LOGIN PASSWORD 'guarded-pw'");
    await admin.end();
    const u = new URL(cluster.url);
    u.username = 'storm_guarded';
    u.password = 'guarded-pw';
    guardedUrl = u.toString();
  },
  env: (database) => ({
    DATABASE_URL: cluster.url,
    ...watchEnv({
      STATE_DATABASE_URL: database.url,
      PGSESSIONS_WATCH_CONNECTIONS: '50%',
      PGSESSIONS_WATCH_LOCK_WAIT: 'off',
      PGSESSIONS_PROTECTED_ROLES: 'storm_guarded',
    }),
  }),
  start: {
    watchUpdateGapSeconds: 1,
    terminateTimeoutMs: 3_000,
  },
});
afterEach(async () => {
  for (const s of sleepers.splice(0)) await s.end();
  await Promise.all(clients.splice(0).map((c) => c.end().catch(() => undefined)));
  const deadline = Date.now() + 15_000;
  while ((await incidents(state.url)).some((i) => i.status === 'open') && Date.now() < deadline) await sleep(200);
  slack.reset();
});
// After the fixture has stopped the app and dropped the state database.
after(async () => {
  await cluster?.stop();
});

test('one approval ends a connection storm: exactly the idle sessions of the application named first go, its active ones, another application and a later session stay', async () => {
  const storm: Idle[] = [];
  for (let n = 0; n < 14; n++) storm.push(await idleSession('storm-x'));
  for (let n = 0; n < 2; n++) sleepers.push(await sleepSession(cluster.url, { seconds: 300, application: 'storm-x' }));
  const others: Idle[] = [];
  for (let n = 0; n < 3; n++) others.push(await idleSession('other-y'));
  // Named storm-x too, but never part of a relief: a protected role's session, and a walsender.
  const guarded = await idleSession('storm-x', guardedUrl);
  const standby = await walsender(cluster.url, { application: 'storm-x' });

  try {
    await relieveAndCheck(storm, others, guarded, standby.pid);
  } finally {
    await standby.end();
  }
});

async function relieveAndCheck(storm: Idle[], others: Idle[], guarded: Idle, walsenderPid: number): Promise<void> {
  // The alert names who holds the connections, storm-x first with its counts by state (walsenders are not
  // client sessions; the protected role's idle session is one of them).
  const { button } = await reliefAlert(
    /Applications: `storm-x` 17 \(15 idle, 0 idle in transaction, 2 active\) · `other-y` 3 \(3 idle/,
  );
  assert.match(button.text?.text ?? '', /^Request terminate of the 15 idle sessions of app storm-x…$/);
  const [incident] = (await incidents(state.url)).filter((i) => i.status === 'open' && i.cause === 'connections');
  assert.deepEqual(JSON.parse(button.value), { i: incident!.id }, 'the button carries only the incident id');

  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchRelieveConnections,
    value: button.value,
    responseUrl: slack.responseUrl(fresh('r')),
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger), {
    description: 'the relief form',
  });
  const modal = opened.params.view as { callback_id: string; private_metadata: string };
  assert.equal(modal.callback_id, VIEW.reliefRequest);
  assert.match(textOf(modal), /terminate the 15 sessions of app \*storm-x\*/);
  assert.match(textOf(modal), /Also its 2 sessions running a statement/);

  // The submission also smuggles in other sessions' pids: a made-up input naming other-y's and the active ones.
  const smuggled = [...others.map((o) => o.pid), ...sleepers.map((s) => s.pid)].join(',');
  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.reliefRequest,
    privateMetadata: modal.private_metadata,
    values: {
      [INPUT.reasonBlock]: {
        [INPUT.reasonAction]: { type: 'plain_text_input', value: 'connection storm from storm-x' },
      },
      pids: { pids: { type: 'plain_text_input', value: smuggled } },
    },
  });
  const approval = await slack.waitFor(() => approvalPosts(slack, WATCH_CHANNEL)[0], {
    description: 'the approval request in the watch channel',
  });
  const requestId = requestIdOf(approval);
  assert.match(textOf(approval.params), /Terminate 14 sessions of app storm-x — connection storm/);
  const [stored] = await stateQuery<{ action: string; targets: Array<{ pid: number }> }>(
    state.url,
    'SELECT action, targets FROM pgsessions.requests WHERE id = $1',
    [requestId],
  );
  assert.equal(stored!.action, 'terminate_all');
  assert.deepEqual(
    sorted(stored!.targets.map((t) => t.pid)),
    sorted(storm.map((s) => s.pid)),
    'exactly storm-x\u2019s idle sessions are frozen: not the protected role\u2019s, not the walsender',
  );

  // After the freeze, another storm-x session connects and idles.
  const late = await idleSession('storm-x');

  const clicked = await click(slack, app.port, ACTION.approve, requestId, { user: APPROVER, channel: WATCH_CHANNEL });
  assert.equal(clicked.status, 200);
  const done = await waitForStatus(state.url, requestId, ['executed']);
  assert.deepEqual([...new Set((done.result?.outcomes ?? []).map((o) => o.outcome))], ['terminated']);
  assert.deepEqual(await alive(storm.map((s) => s.pid)), [], 'every idle storm-x session is gone');
  assert.deepEqual(
    await alive(sleepers.map((s) => s.pid)),
    sorted(sleepers.map((s) => s.pid)),
    'storm-x\u2019s active sessions remain',
  );
  assert.deepEqual(await alive(others.map((o) => o.pid)), sorted(others.map((o) => o.pid)), 'other-y remains');
  assert.deepEqual(await alive([late.pid]), [late.pid], 'a session that connected after the freeze is untouched');
  assert.deepEqual(
    await alive([guarded.pid, walsenderPid]),
    sorted([guarded.pid, walsenderPid]),
    'the protected role\u2019s session and the walsender remain',
  );
}

test('widened by the checkbox, the relief also ends the application\u2019s active sessions', async () => {
  const storm: Idle[] = [];
  for (let n = 0; n < 17; n++) storm.push(await idleSession('storm-w'));
  const active = await sleepSession(cluster.url, { seconds: 300, application: 'storm-w' });
  sleepers.push(active);
  const other = await idleSession('other-w');
  const { button } = await reliefAlert(/`storm-w` 18 \(17 idle, 0 idle in transaction, 1 active\)/);
  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchRelieveConnections,
    value: button.value,
    responseUrl: slack.responseUrl(fresh('r')),
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger), {
    description: 'the relief form',
  });
  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.reliefRequest,
    privateMetadata: (opened.params.view as { private_metadata: string }).private_metadata,
    values: {
      [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'all of storm-w' } },
      [INPUT.includeActiveBlock]: {
        [INPUT.includeActiveAction]: {
          type: 'checkboxes',
          selected_options: [{ text: { type: 'plain_text', text: 'x' }, value: INCLUDE_ACTIVE }],
        },
      },
    },
  });
  const approval = await slack.waitFor(() => approvalPosts(slack, WATCH_CHANNEL)[0], {
    description: 'the approval request',
  });
  const requestId = requestIdOf(approval);
  const [stored] = await stateQuery<{ targets: Array<{ pid: number }> }>(
    state.url,
    'SELECT targets FROM pgsessions.requests WHERE id = $1',
    [requestId],
  );
  assert.deepEqual(sorted(stored!.targets.map((t) => t.pid)), sorted([...storm.map((s) => s.pid), active.pid]));
  await click(slack, app.port, ACTION.approve, requestId, { user: APPROVER, channel: WATCH_CHANNEL });
  await waitForStatus(state.url, requestId, ['executed']);
  assert.deepEqual(await alive([...storm.map((s) => s.pid), active.pid]), []);
  assert.deepEqual(await alive([other.pid]), [other.pid]);
});

test('a forged relief button or form carrying other sessions\u2019 pids changes nothing', async () => {
  for (let n = 0; n < 18; n++) await idleSession('storm-f');
  const victim = await idleSession('victim-f');
  const { button } = await reliefAlert(/`storm-f` 18 \(18 idle/);
  const incidentId = (JSON.parse(button.value) as { i: string }).i;
  const before = await requestCount();

  for (const value of [
    JSON.stringify({ i: incidentId, pids: [victim.pid] }),
    JSON.stringify({ i: incidentId, application: 'victim-f' }),
    '{"i":"00000000-0000-4000-8000-000000000000"}',
    String(victim.pid),
  ]) {
    const responseId = fresh('forged');
    const trigger = triggerId();
    await blockAction(app.port, SIGNING_SECRET, {
      userId: REQUESTER,
      channelId: WATCH_CHANNEL,
      actionId: ACTION.watchRelieveConnections,
      value,
      responseUrl: slack.responseUrl(responseId),
      triggerId: trigger,
    });
    const reply = await slack.waitFor(() => slack.responsesTo(responseId)[0], {
      description: `the answer to ${value}`,
    });
    assert.match(textOf(reply.body), /nothing was (done|requested)/);
    assert.equal(
      slack.callsTo('views.open').filter((c) => c.params.trigger_id === trigger).length,
      0,
      'no form opened',
    );
  }
  const reason = {
    [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input' as const, value: 'forged' } },
  };
  for (const privateMetadata of [
    JSON.stringify({ incidentId, channel: WATCH_CHANNEL, pids: [victim.pid] }),
    JSON.stringify({ incidentId, channel: WATCH_CHANNEL, application: 'victim-f' }),
    JSON.stringify({ incidentId: '00000000-0000-4000-8000-000000000000', channel: WATCH_CHANNEL }),
  ]) {
    const res = await viewSubmission(app.port, SIGNING_SECRET, {
      userId: REQUESTER,
      callbackId: VIEW.reliefRequest,
      privateMetadata,
      values: reason,
    });
    assert.equal(res.status, 200);
    assert.match(res.body, /response_action.*errors/, 'refused in the form');
  }
  await sleep(500);
  assert.equal(await requestCount(), before, 'nothing was requested');
  assert.deepEqual(await alive([victim.pid]), [victim.pid]);
});
