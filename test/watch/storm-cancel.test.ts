// "Request cancel of these N…" on a query-storm alert: real sessions storming a real server, the real app
// over signed HTTP, the recorder as Slack. Approval cancels exactly the sessions frozen in the request,
// each only while it still runs the query that was frozen; the button carries nothing but an incident id.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { activityRow } from '../helpers/sessions.js';
import { APPROVER, REQUESTER, SIGNING_SECRET } from '../helpers/app.js';
import {
  approvalPosts,
  buttonsIn,
  click,
  fresh,
  requestIdOf,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  waitForStatus,
} from '../helpers/approval-flow.js';
import {
  alertPostsAbout,
  incidents,
  waitForAlertText,
  waitForIncident,
  WATCH_CHANNEL,
  watchEnv,
} from '../helpers/watch.js';
import { ACTION, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const STATEMENT = 'SELECT pg_sleep(120) AS storm_cancel_test';

const sessions = sessionTracker();
const { db, slack, app } = useTestApp({
  database: 'storm',
  env: watchEnv({ PGSESSIONS_PROTECTED_APPS: 'storm-protected' }),
  start: { watchUpdateGapSeconds: 1, watchStorm: { sessions: 4, seconds: 0 } },
  sessions,
  incidentsClosed: true,
  resetSlack: true,
});

interface StormSession {
  pid: number;
  backendStart: string;
  client: pg.Client;
  /** Resolves when the current statement ends: its error (cancelled) or null. */
  finished: Promise<Error | null>;
  run(): Promise<string>;
  end(): Promise<void>;
}

/** A session running STATEMENT; run() starts it again on the same connection and returns its query_start. */
async function stormSession(application = 'storm-cancel-app'): Promise<StormSession> {
  const client = new pg.Client({ connectionString: db.url, application_name: application });
  await client.connect();
  client.on('error', () => undefined);
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pg_backend_pid() AS pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const session: StormSession = {
    pid: rows[0]!.pid,
    backendStart: rows[0]!.backend_start,
    client,
    finished: Promise.resolve(null),
    async run() {
      const before = (await activityRow(db.url, session.pid))?.query_start ?? null;
      session.finished = client.query(STATEMENT).then(
        () => null,
        (error: Error) => error,
      );
      for (let i = 0; i < 100; i++) {
        const row = await activityRow(db.url, session.pid);
        if (row?.state === 'active' && row.query.includes('storm_cancel_test') && row.query_start !== before)
          return row.query_start!;
        await sleep(50);
      }
      throw new Error(`pid ${session.pid} did not start the storm statement`);
    },
    async end() {
      await stateQuery(db.url, 'SELECT pg_terminate_backend($1)', [session.pid]).catch(() => undefined);
      await session.finished;
      await client.end().catch(() => undefined);
    },
  };
  await session.run();
  return sessions.track(session);
}

/** Posts and in-place updates of the storm alert that carry the bulk-cancel button. */
function stormMessages() {
  return [...slack.callsTo('chat.postMessage'), ...slack.callsTo('chat.update')].filter(
    (c) =>
      /storm_cancel_test/.test(textOf(c.params)) &&
      buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.watchCancelStorm),
  );
}

async function requestCount(): Promise<number> {
  return Number((await stateQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgsessions.requests'))[0]!.n);
}

test('a storm alert offers "Request cancel of these N…": approval cancels exactly the frozen queries, not a new query nor a later session', async () => {
  const storm: StormSession[] = [];
  for (let n = 0; n < 5; n++) storm.push(await stormSession());
  // Part of the storm, but a protected application: never in the frozen list.
  const guarded = await stormSession('storm-protected');
  await slack.waitFor(() => alertPostsAbout(slack, /storm_cancel_test/)[0], {
    timeoutMs: 10_000,
    description: 'the storm alert',
  });
  const row = await waitForIncident(db.url, (i) => i.status === 'open' && i.cause === 'query-storm');
  // The alert may have been posted while the storm was still growing: the message is updated in place.
  const shown = await slack.waitFor(() => stormMessages().find((c) => /these 6…/.test(textOf(c.params))), {
    timeoutMs: 10_000,
    description: 'the alert with all 6',
  });
  const button = buttonsIn(shown.params.blocks).find((b) => b.action_id === ACTION.watchCancelStorm);
  assert.ok(button, 'the storm alert offers a bulk cancel');
  assert.match(button.text?.text ?? '', /Request cancel of these 6…/);
  assert.deepEqual(JSON.parse(button.value), { i: row.id }, 'the button carries only the incident id');

  // The form shows the N sessions: count, statement, applications.
  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchCancelStorm,
    value: button.value,
    responseUrl: slack.responseUrl(fresh('s')),
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger), {
    description: 'the storm form',
  });
  const modal = opened.params.view as { callback_id: string; private_metadata: string };
  assert.equal(modal.callback_id, VIEW.stormRequest);
  assert.match(textOf(modal), /cancel the running queries of 6 sessions/);
  assert.match(textOf(modal), /storm_cancel_test/);
  assert.match(textOf(modal), /storm-cancel-app/);

  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.stormRequest,
    privateMetadata: modal.private_metadata,
    values: {
      [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'storm takes the site down' } },
    },
  });
  const approval = await slack.waitFor(() => approvalPosts(slack, WATCH_CHANNEL)[0], {
    description: 'the approval request in the watch channel',
  });
  const requestId = requestIdOf(approval);
  assert.match(textOf(approval.params), /Cancel the queries of 5 sessions/);
  const [stored] = await stateQuery<{ action: string; targets: Array<{ pid: number; queryStart: string }> }>(
    db.url,
    'SELECT action, targets FROM pgsessions.requests WHERE id = $1',
    [requestId],
  );
  assert.equal(stored!.action, 'cancel_all');
  assert.deepEqual(
    stored!.targets.map((t) => t.pid).sort(),
    storm.map((s) => s.pid).sort(),
    'exactly the storm sessions are frozen, the protected one left out',
  );

  // After the freeze: one member moves on to a NEW query; a new session joins the storm.
  const movedOn = storm[0]!;
  await stateQuery(db.url, 'SELECT pg_cancel_backend($1)', [movedOn.pid]);
  await movedOn.finished;
  const newQueryStart = await movedOn.run();
  const late = await stormSession();

  const clicked = await click(slack, app.port, ACTION.approve, requestId, { user: APPROVER, channel: WATCH_CHANNEL });
  assert.equal(clicked.status, 200);
  const done = await waitForStatus(db.url, requestId, ['executed']);
  const outcomes = new Map((done.result?.outcomes ?? []).map((o) => [o.pid, o.outcome]));

  for (const s of storm.slice(1)) {
    assert.match(String(await s.finished), /cancel/i, `pid ${s.pid}: its query was cancelled`);
    const now = await activityRow(db.url, s.pid);
    assert.ok(now, `pid ${s.pid} is still connected`);
    assert.equal(now.backend_start, s.backendStart);
    assert.notEqual(now.state, 'active', `pid ${s.pid} no longer runs the query`);
    assert.equal(outcomes.get(s.pid), 'cancelled');
  }
  const moved = await activityRow(db.url, movedOn.pid);
  assert.equal(moved?.state, 'active', 'the member that started a new query after the freeze is not cancelled');
  assert.equal(moved?.query_start, newQueryStart);
  assert.notEqual(outcomes.get(movedOn.pid), 'cancelled');
  assert.equal(
    (await activityRow(db.url, guarded.pid))?.state,
    'active',
    'the protected application is never cancelled',
  );
  const lateRow = await activityRow(db.url, late.pid);
  assert.equal(lateRow?.state, 'active', 'a session that arrived after the freeze is untouched');
  assert.equal(outcomes.has(late.pid), false);

  // Three sessions still run the statement (under the storm size of 4): the storm clears, and its alert says
  // which request relieved it, how many of its sessions it cancelled, and who approved it.
  const cleared = await waitForIncident(
    db.url,
    (i) => i.id === row.id && i.status === 'cleared',
    15_000,
    'the storm to clear',
  );
  assert.deepEqual(cleared.clear_reason, {
    kind: 'request',
    requestId,
    action: 'cancelled',
    approver: APPROVER,
    counts: { done: 4, of: 5 },
  });
  await waitForAlertText(
    slack,
    new RegExp(`relieved by request \`${requestId}\` \\(cancelled 4 of 5, approved by <@${APPROVER}>\\)`),
  );
});

test('a forged storm button or form changes nothing', async () => {
  for (let n = 0; n < 4; n++) await stormSession();
  // The storm of the test before may come back within minutes: then its message is updated, not posted anew.
  await slack.waitFor(() => stormMessages()[0], { timeoutMs: 10_000, description: 'the storm alert with its button' });
  const before = await requestCount();

  const forgedValues = [
    '{"i":"00000000-0000-4000-8000-000000000000"}', // no such incident
    JSON.stringify({ i: (await incidents(db.url))[0]!.id, pids: [1, 2, 3] }), // a list smuggled in: refused
    '{"c":"default","p":1,"b":"x","q":null,"k":"cancel"}',
    "x'; DROP TABLE pgsessions.requests; --",
  ];
  for (const value of forgedValues) {
    const responseId = fresh('forged');
    const trigger = triggerId();
    await blockAction(app.port, SIGNING_SECRET, {
      userId: REQUESTER,
      channelId: WATCH_CHANNEL,
      actionId: ACTION.watchCancelStorm,
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

  // A forged form submission naming an incident that is not a storm (or none): refused in the form, nothing requested.
  for (const privateMetadata of [
    JSON.stringify({ incidentId: '00000000-0000-4000-8000-000000000000', channel: WATCH_CHANNEL }),
    '{"incidentId":"nope"}',
    JSON.stringify({ target: { pids: [1] } }),
  ]) {
    const res = await viewSubmission(app.port, SIGNING_SECRET, {
      userId: REQUESTER,
      callbackId: VIEW.stormRequest,
      privateMetadata,
      values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'forged' } } },
    });
    assert.equal(res.status, 200);
    assert.match(res.body, /response_action/);
  }
  await sleep(500);
  assert.equal(await requestCount(), before, 'no request was created');
  assert.equal(approvalPosts(slack, WATCH_CHANNEL).length, 0);
});

test('a member that moved to a new query between the alert and the form submission is left out of the request', async () => {
  const storm: StormSession[] = [];
  for (let n = 0; n < 5; n++) storm.push(await stormSession());
  const shown = await slack.waitFor(() => stormMessages().find((c) => /these 5…/.test(textOf(c.params))), {
    timeoutMs: 15_000,
    description: 'the alert with all 5',
  });
  const button = buttonsIn(shown.params.blocks).find((b) => b.action_id === ACTION.watchCancelStorm)!;
  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchCancelStorm,
    value: button.value,
    responseUrl: slack.responseUrl(fresh('s')),
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger), {
    description: 'the storm form',
  });
  const modal = opened.params.view as { private_metadata: string };

  // While the form is open, one member's query ends and it starts the same statement again: a new query_start.
  const movedOn = storm[0]!;
  await stateQuery(db.url, 'SELECT pg_cancel_backend($1)', [movedOn.pid]);
  await movedOn.finished;
  await movedOn.run();

  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.stormRequest,
    privateMetadata: modal.private_metadata,
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'storm again' } } },
  });
  const approval = await slack.waitFor(() => approvalPosts(slack, WATCH_CHANNEL)[0], {
    description: 'the approval request',
  });
  const [stored] = await stateQuery<{ targets: Array<{ pid: number }> }>(
    db.url,
    'SELECT targets FROM pgsessions.requests WHERE id = $1',
    [requestIdOf(approval)],
  );
  const pids = stored!.targets.map((t) => t.pid);
  assert.ok(!pids.includes(movedOn.pid), `the request froze pid ${movedOn.pid}, whose query changed after the alert`);
  assert.deepEqual(
    pids.sort(),
    storm
      .slice(1)
      .map((s) => s.pid)
      .sort(),
  );
});
