// The test helpers prove themselves against the real things: Bolt's own signature check and receiver,
// @slack/web-api's client, and PostgreSQL's pg_stat_activity / pg_stat_replication.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { App, LogLevel, verifySlackRequest, webApi } from '@slack/bolt';
import pg from 'pg';
import { freePort } from './embedded.js';
import { createTestDatabase, type TestDatabase } from './pg.js';
import {
  activityRow,
  blockedQuery,
  idleInTransactionLockHolder,
  replicationRow,
  sessionAlive,
  sleepSession,
  waitUntilGone,
  walsender,
} from './sessions.js';
import { startSlackApi, type SlackApi } from './slack-api.js';
import {
  blockAction,
  FORM_CONTENT_TYPE,
  nowSeconds,
  postSigned,
  sign,
  slashCommand,
  slashCommandBody,
  viewSubmission,
} from './slack-requests.js';

const SECRET = 'test-signing-secret';
const BOT_TOKEN = 'xoxb-test-token';

function verifyWithBolt(
  body: string,
  headers: { 'X-Slack-Signature': string; 'X-Slack-Request-Timestamp': string },
): void {
  verifySlackRequest({
    signingSecret: SECRET,
    body,
    headers: {
      'x-slack-signature': headers['X-Slack-Signature'],
      'x-slack-request-timestamp': Number(headers['X-Slack-Request-Timestamp']),
    },
  });
}

function errorCode(error: unknown): string | undefined {
  return (error as { code?: string }).code;
}

describe('sign', () => {
  test('produces a signature Bolt’s verifySlackRequest accepts', () => {
    const body = slashCommandBody({ text: 'top', responseUrl: 'http://127.0.0.1:1/response/x' });
    assert.doesNotThrow(() => verifyWithBolt(body, sign(SECRET, body)));
  });

  test('is rejected by Bolt for a tampered body, a wrong secret or a stale timestamp', () => {
    const body = 'text=top';
    assert.throws(() => verifyWithBolt(`${body}x`, sign(SECRET, body)), /signature mismatch/);
    assert.throws(() => verifyWithBolt(body, sign('other-secret', body)), /signature mismatch/);
    assert.throws(() => verifyWithBolt(body, sign(SECRET, body, nowSeconds() - 600)), /stale/);
  });
});

describe('signed requests drive a real Bolt app whose Web API calls the recorder sees', () => {
  let api: SlackApi;
  let app: App;
  let port: number;
  const seen: { command?: Record<string, unknown>; action?: Record<string, unknown>; view?: Record<string, unknown> } =
    {};

  before(async () => {
    api = await startSlackApi();
    port = await freePort();
    app = new App({
      token: BOT_TOKEN,
      signingSecret: SECRET,
      logLevel: LogLevel.ERROR,
      clientOptions: { slackApiUrl: api.url, retryConfig: { retries: 0 } },
    });
    app.command('/pgsessions', async ({ ack, command, client, respond }) => {
      await ack();
      seen.command = command;
      await client.chat.postMessage({
        channel: command.channel_id,
        text: 'hello',
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }],
      });
      await client.views.open({
        trigger_id: command.trigger_id,
        view: { type: 'modal', callback_id: 'why', title: { type: 'plain_text', text: 'Why' }, blocks: [] },
      });
      await respond({ response_type: 'ephemeral', text: `you said ${command.text}` });
    });
    app.action('approve', async ({ ack, body, action }) => {
      await ack();
      seen.action = { body, action };
    });
    app.view('why', async ({ ack, view, body }) => {
      await ack({ response_action: 'errors', errors: { reason: 'too short' } });
      seen.view = { view, body };
    });
    await app.start(port);
  });

  after(async () => {
    await app.stop();
    await api.close();
  });

  test('a slash command is verified, acknowledged fast, and its Web API calls and response are recorded', async () => {
    const responseUrl = api.responseUrl('cmd1');
    const res = await slashCommand(port, SECRET, { text: 'top db:app', responseUrl });
    assert.equal(res.status, 200);
    assert.ok(res.ms < 3000);

    const response = await api.waitFor(() => api.responsesTo('cmd1')[0]);
    assert.deepEqual(response.body, { response_type: 'ephemeral', text: 'you said top db:app' });
    assert.equal(seen.command?.user_id, 'UREQ');
    assert.equal(seen.command?.channel_id, 'CINC');
    assert.equal(seen.command?.response_url, responseUrl);

    const post = api.callsTo('chat.postMessage')[0];
    assert.ok(post);
    assert.equal(post.token, BOT_TOKEN);
    assert.equal(post.params.channel, 'CINC');
    assert.deepEqual(post.params.blocks, [{ type: 'section', text: { type: 'mrkdwn', text: 'hello' } }]);
    const open = api.callsTo('views.open')[0];
    assert.equal((open?.params.view as { callback_id?: string } | undefined)?.callback_id, 'why');
  });

  test('a forged, stale or unsigned request is refused with 401 and reaches no listener', async () => {
    const before = api.calls.length;
    const body = slashCommandBody({ text: 'top', responseUrl: api.responseUrl() });
    const forged = await postSigned(port, SECRET, body, FORM_CONTENT_TYPE, { signature: `v0=${'0'.repeat(64)}` });
    const stale = await postSigned(port, SECRET, body, FORM_CONTENT_TYPE, { timestamp: nowSeconds() - 600 });
    const unsigned = await postSigned(port, SECRET, body, FORM_CONTENT_TYPE, { omitSignature: true });
    assert.deepEqual([forged.status, stale.status, unsigned.status], [401, 401, 401]);
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(api.calls.length, before);
  });

  test('a block action reaches the action listener with Slack’s field names', async () => {
    const res = await blockAction(port, SECRET, {
      userId: 'UAPP',
      channelId: 'CINC',
      actionId: 'approve',
      value: 'req-42',
      responseUrl: api.responseUrl('act1'),
      messageTs: '1700000000.000100',
    });
    assert.equal(res.status, 200);
    // biome-ignore lint/suspicious/noExplicitAny: the test reads deep into Bolt's untyped payload
    const { body, action } = seen.action as { body: Record<string, any>; action: Record<string, any> };
    assert.equal(body.type, 'block_actions');
    assert.equal(body.user.id, 'UAPP');
    assert.equal(body.container.message_ts, '1700000000.000100');
    assert.equal(body.channel.id, 'CINC');
    assert.equal(body.message.ts, '1700000000.000100');
    assert.equal(action.value, 'req-42');
    assert.equal(action.type, 'button');
  });

  test('a view submission reaches the view listener and the ack body comes back as JSON', async () => {
    const res = await viewSubmission(port, SECRET, {
      userId: 'UREQ',
      callbackId: 'why',
      privateMetadata: '{"requestId":"r1"}',
      values: { reason: { reason_input: { type: 'plain_text_input', value: 'hung' } } },
    });
    assert.equal(res.status, 200);
    assert.deepEqual(res.json, { response_action: 'errors', errors: { reason: 'too short' } });
    // biome-ignore lint/suspicious/noExplicitAny: the test reads deep into Bolt's untyped payload
    const { view } = seen.view as { view: Record<string, any> };
    assert.equal(view.private_metadata, '{"requestId":"r1"}');
    assert.equal(view.state.values.reason.reason_input.value, 'hung');
  });
});

describe('the Web API recorder', () => {
  let api: SlackApi;
  before(async () => {
    api = await startSlackApi();
  });
  after(async () => {
    await api.close();
  });

  const client = (options: Record<string, unknown> = {}) =>
    new webApi.WebClient(BOT_TOKEN, {
      slackApiUrl: api.url,
      retryConfig: { retries: 0 },
      logLevel: webApi.LogLevel.ERROR,
      ...options,
    });

  test('answers like Slack: auth.test, increasing ts, user groups', async () => {
    api.reset();
    api.usergroups.SONCALL = ['UA', 'UB'];
    const c = client();
    const auth = await c.auth.test();
    assert.equal(auth.user_id, 'UBOT');
    assert.equal(auth.bot_id, 'BBOT');
    const a = await c.chat.postMessage({ channel: 'C1', text: 'a' });
    const b = await c.chat.postMessage({ channel: 'C1', text: 'b' });
    assert.match(a.ts ?? '', /^\d{10}\.\d{6}$/);
    assert.ok(Number(b.ts) > Number(a.ts));
    assert.equal(a.channel, 'C1');
    const upd = await c.chat.update({ channel: 'C1', ts: a.ts!, text: 'a2' });
    assert.equal(upd.ts, a.ts);
    const eph = await c.chat.postEphemeral({ channel: 'C1', user: 'UA', text: 'x' });
    assert.ok(eph.message_ts);
    assert.deepEqual((await c.usergroups.users.list({ usergroup: 'SONCALL' })).users, ['UA', 'UB']);
    await assert.rejects(c.usergroups.users.list({ usergroup: 'SNOPE' }), (e) => {
      assert.equal(errorCode(e), 'slack_webapi_platform_error');
      assert.equal((e as { data: { error: string } }).data.error, 'no_such_subteam');
      return true;
    });
    assert.equal(api.callsTo('chat.postMessage').length, 2);
  });

  test('conversations.history answers from what chat.postMessage posted in that channel, newest first, page by page', async () => {
    api.reset();
    const c = client();
    const posted: string[] = [];
    for (let i = 0; i < 5; i++)
      posted.push(
        (
          await c.chat.postMessage({
            channel: 'CHIST',
            text: `m${i}`,
            blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `b${i}` } }],
          })
        ).ts!,
      );
    await c.chat.postMessage({ channel: 'COTHER', text: 'elsewhere' });
    await c.chat.postMessage({ channel: 'CHIST', text: 'a reply', thread_ts: posted[0]! });
    const member = api.addMessage('CHIST', { text: 'from a member', user: 'UMEMBER' });
    const seen: Array<{ ts?: string; text?: string; bot_id?: string; user?: string }> = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await c.conversations.history({ channel: 'CHIST', limit: 2, ...(cursor ? { cursor } : {}) });
      pages += 1;
      seen.push(...(page.messages ?? []));
      cursor = page.has_more ? page.response_metadata?.next_cursor : undefined;
    } while (cursor);
    assert.equal(pages, 3);
    assert.deepEqual(
      seen.map((m) => m.ts),
      [member, ...[...posted].reverse()],
    );
    assert.deepEqual(
      seen.slice(1).map((m) => m.text),
      ['m4', 'm3', 'm2', 'm1', 'm0'],
    );
    assert.equal(seen[1]!.bot_id, 'BBOT');
    assert.equal(seen[0]!.user, 'UMEMBER');
    assert.equal(
      api.history('CHIST').length,
      7,
      'the reply and the member message are in the recorder, the reply not in history',
    );
    api.reset();
    assert.deepEqual(api.history('CHIST'), []);
  });

  test('failNext returns Slack’s error shapes: platform error, HTTP 500, 429 with Retry-After', async () => {
    api.reset();
    const c = client({ rejectRateLimitedCalls: true });
    api.failNext('chat.postMessage', 1, { error: 'channel_not_found' });
    await assert.rejects(c.chat.postMessage({ channel: 'CX', text: 'x' }), (e) => {
      assert.equal(errorCode(e), 'slack_webapi_platform_error');
      assert.equal((e as { data: { error: string } }).data.error, 'channel_not_found');
      return true;
    });
    api.failNext('chat.postMessage', 1, { status: 500 });
    await assert.rejects(c.chat.postMessage({ channel: 'CX', text: 'x' }), (e) => {
      assert.equal(errorCode(e), 'slack_webapi_http_error');
      assert.equal((e as { statusCode: number }).statusCode, 500);
      return true;
    });
    api.failNext('chat.postMessage', 1, { status: 429, retryAfter: 7 });
    await assert.rejects(c.chat.postMessage({ channel: 'CX', text: 'x' }), (e) => {
      assert.equal(errorCode(e), 'slack_webapi_rate_limited_error');
      assert.equal((e as { retryAfter: number }).retryAfter, 7);
      return true;
    });
    // Faults are used up: the next call succeeds.
    assert.equal((await c.chat.postMessage({ channel: 'CX', text: 'x' })).ok, true);
    assert.equal(api.callsTo('chat.postMessage').length, 4);
    assert.deepEqual(api.callsTo('chat.postMessage')[2]?.fault, { status: 429, retryAfter: 7 });

    api.failNext('chat.postMessage', 1, { status: 429, retryAfter: 3 });
    const raw = await fetch(`${api.url}chat.postMessage`, { method: 'POST' });
    assert.equal(raw.status, 429);
    assert.equal(raw.headers.get('retry-after'), '3');
  });

  test('failNext with delayMs answers late, so a client timeout fires', async () => {
    api.reset();
    // The answer comes after 3 s; the client gives up after 0.1 s, long before (a wide margin for a loaded machine).
    api.failNext('chat.update', 1, { delayMs: 3000 });
    const started = Date.now();
    await assert.rejects(client({ timeout: 100 }).chat.update({ channel: 'C1', ts: '1.2', text: 'x' }), (e) => {
      assert.equal(errorCode(e), 'slack_webapi_request_error');
      return true;
    });
    assert.ok(Date.now() - started < 2500);
    api.failNext('chat.update', 1, { delayMs: 150 });
    const late = Date.now();
    assert.equal((await client().chat.update({ channel: 'C1', ts: '1.2', text: 'x' })).ok, true);
    assert.ok(Date.now() - late >= 140);
  });

  test('parses JSON bodies and form bodies alike, keeping text as text', async () => {
    api.reset();
    await fetch(`${api.url}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-8', authorization: 'Bearer xoxb-json' },
      body: JSON.stringify({ channel: 'C1', text: '[not json', blocks: [{ type: 'divider' }] }),
    });
    await fetch(`${api.url}chat.postMessage`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        token: 'xoxb-form',
        channel: 'C2',
        text: '[1,2]',
        blocks: '[{"type":"divider"}]',
      }).toString(),
    });
    const [json, form] = api.callsTo('chat.postMessage');
    assert.equal(json?.token, 'xoxb-json');
    assert.deepEqual(json?.params.blocks, [{ type: 'divider' }]);
    assert.equal(form?.token, 'xoxb-form');
    assert.equal(form?.params.text, '[1,2]');
    assert.deepEqual(form?.params.blocks, [{ type: 'divider' }]);
  });

  test('waitFor returns the value, or fails naming the calls it saw', async () => {
    api.reset();
    await client().auth.test();
    const call = await api.waitFor(() => api.callsTo('auth.test')[0]);
    assert.equal(call.method, 'auth.test');
    await assert.rejects(
      api.waitFor(() => api.callsTo('chat.delete')[0], { timeoutMs: 50 }),
      /timed out after 50 ms.*auth\.test/,
    );
  });
});

describe('PostgreSQL session helpers', () => {
  let db: TestDatabase;
  before(async () => {
    db = await createTestDatabase('helpers');
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query('CREATE TABLE jobs (id int PRIMARY KEY, state text)');
    await c.query("INSERT INTO jobs VALUES (1, 'new')");
    await c.end();
  });
  after(async () => {
    await db.drop();
  });

  test('sleepSession is active in pg_stat_activity with its application name, exact backend_start and query_start', async () => {
    const s = await sleepSession(db.url, { application: 'sleepy' });
    try {
      const row = await activityRow(db.url, s.pid);
      assert.ok(row);
      assert.equal(row.state, 'active');
      assert.equal(row.application_name, 'sleepy');
      assert.equal(row.backend_type, 'client backend');
      assert.equal(row.datname, db.name);
      assert.equal(row.query, 'SELECT pg_sleep(300)');
      assert.equal(row.backend_start, s.backendStart);
      assert.equal(row.query_start, s.queryStart);
      assert.match(s.backendStart, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)?\+00$/);
      assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true);
      assert.equal(await sessionAlive(db.url, s.pid, '2000-01-01 00:00:00+00'), false);
    } finally {
      await s.end();
    }
    assert.equal(await sessionAlive(db.url, s.pid), false);
  });

  test('pg_terminate_backend on a sleepSession resolves finished with the error and the session is gone', async () => {
    const s = await sleepSession(db.url);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [s.pid]);
    } finally {
      await admin.end();
    }
    const error = await s.finished;
    assert.ok(error);
    assert.equal((error as { code?: string }).code, '57P01');
    await waitUntilGone(db.url, s.pid, 5000);
    assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), false);
    await s.end(); // safe after the backend was killed
  });

  test('pg_cancel_backend ends the query but keeps the same session', async () => {
    const s = await sleepSession(db.url);
    try {
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      await admin.query('SELECT pg_cancel_backend($1)', [s.pid]);
      await admin.end();
      const error = await s.finished;
      assert.equal((error as { code?: string } | null)?.code, '57014');
      assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true);
    } finally {
      await s.end();
    }
  });

  test('a lock holder is idle in transaction and blocks blockedQuery, which runs once the holder is terminated', async () => {
    const holder = await idleInTransactionLockHolder(db.url, 'jobs');
    const blocked = await blockedQuery(db.url, 'jobs');
    try {
      const h = await activityRow(db.url, holder.pid);
      assert.equal(h?.state, 'idle in transaction');
      assert.equal(h?.xact_start, holder.xactStart);
      assert.match(h?.query ?? '', /LOCK TABLE "jobs" IN ACCESS EXCLUSIVE MODE/);
      const b = await activityRow(db.url, blocked.pid);
      assert.equal(b?.state, 'active');
      assert.equal(b?.wait_event_type, 'Lock');
      assert.deepEqual(b?.blocked_by, [holder.pid]);
      assert.deepEqual(blocked.blockedBy, [holder.pid]);

      await holder.end();
      assert.equal(await blocked.finished, null);
      assert.equal(await sessionAlive(db.url, holder.pid), false);
    } finally {
      await blocked.end();
      await holder.end();
    }
  });

  test('a row-lock holder given an UPDATE holds an xid', async () => {
    const holder = await idleInTransactionLockHolder(db.url, 'jobs', {
      statement: "UPDATE jobs SET state = 'held' WHERE id = 1",
    });
    const blocked = await blockedQuery(db.url, 'jobs', { statement: "UPDATE jobs SET state = 'next' WHERE id = 1" });
    try {
      assert.ok((await activityRow(db.url, holder.pid))?.backend_xid);
      assert.deepEqual(blocked.blockedBy, [holder.pid]);
    } finally {
      await blocked.end();
      await holder.end();
    }
  });

  test('walsender shows in pg_stat_replication by application_name and end() drops its slot', async () => {
    const w = await walsender(db.url, { application: 'standby-a' });
    let ended = false;
    try {
      const rep = await replicationRow(db.url, w.pid);
      assert.ok(rep);
      assert.equal(rep.application_name, 'standby-a');
      assert.equal(rep.state, 'streaming');
      assert.equal(rep.backend_start, w.backendStart);
      const act = await activityRow(db.url, w.pid);
      assert.equal(act?.backend_type, 'walsender');
      assert.equal(act?.datname, db.name);
      await w.end();
      ended = true;
      assert.equal(await sessionAlive(db.url, w.pid), false);
      const admin = new pg.Client({ connectionString: db.url });
      await admin.connect();
      const { rows } = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [w.slot]);
      await admin.end();
      assert.equal(rows.length, 0);
    } finally {
      if (!ended) await w.end();
    }
  });

  test('a terminated walsender settles finished, and end() still drops the slot', async () => {
    const w = await walsender(db.url);
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query('SELECT pg_terminate_backend($1)', [w.pid]);
      const error = await w.finished;
      assert.ok(error);
      await waitUntilGone(db.url, w.pid, 5000);
      await w.end();
      const { rows } = await admin.query('SELECT 1 FROM pg_replication_slots WHERE slot_name = $1', [w.slot]);
      assert.equal(rows.length, 0);
    } finally {
      await admin.end();
    }
  });
});
