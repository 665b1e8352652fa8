// The HTTP surface of the real app: Slack's request signing (nothing unsigned reaches a listener, the
// database or Slack), GET /healthz, junk payloads, and the 3-second acknowledgement of a slow command.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, test } from 'node:test';
import pg from 'pg';
import { baseEnv, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, serverUrl } from '../helpers/pg.js';
import { allText, ask, pidsOf, sleep } from '../helpers/replies.js';
import { sleepSession } from '../helpers/sessions.js';
import {
  FORM_CONTENT_TYPE,
  JSON_CONTENT_TYPE,
  nowSeconds,
  postSigned,
  sign,
  slashCommandBody,
} from '../helpers/slack-requests.js';
import { useTestApp } from '../helpers/use-test-app.js';

const { db, slack, app } = useTestApp({ database: 'http' });

function get(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'GET', agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const parsedLogs = (a: TestApp) => a.logs.map((line) => JSON.parse(line) as Record<string, unknown>);
const commandLogs = (a: TestApp) => parsedLogs(a).filter((l) => l.msg === 'command');
const STACK = /\n\s+at .+:\d+:\d+/;

describe('request signing', () => {
  test('an unsigned, forged, stale or wrong-body request gets 401 and reaches neither a listener, the database nor Slack', async () => {
    const commandsBefore = commandLogs(app).length;
    const callsBefore = slack.calls.length;
    const ids = ['unsigned', 'forged', 'stale', 'other-body', 'wrong-secret'].map((k) => `${k}-${Date.now()}`);
    const body = (i: number) => slashCommandBody({ text: 'top', responseUrl: slack.responseUrl(ids[i]) });
    const ts = nowSeconds();
    const results = [
      await postSigned(app.port, SIGNING_SECRET, body(0), FORM_CONTENT_TYPE, { omitSignature: true }),
      await postSigned(app.port, SIGNING_SECRET, body(1), FORM_CONTENT_TYPE, { signature: `v0=${'ab'.repeat(32)}` }),
      await postSigned(app.port, SIGNING_SECRET, body(2), FORM_CONTENT_TYPE, { timestamp: nowSeconds() - 6 * 60 }),
      // A valid signature, but of another body (a replayed signature on a tampered request).
      await postSigned(app.port, SIGNING_SECRET, body(3), FORM_CONTENT_TYPE, {
        timestamp: ts,
        signature: sign(SIGNING_SECRET, slashCommandBody({ text: 'help', responseUrl: slack.responseUrl(ids[3]) }), ts)[
          'X-Slack-Signature'
        ],
      }),
      await postSigned(app.port, 'not-the-secret', body(4), FORM_CONTENT_TYPE),
    ];
    assert.deepEqual(
      results.map((r) => r.status),
      [401, 401, 401, 401, 401],
    );
    for (const r of results) assert.doesNotMatch(r.body, STACK);

    await sleep(300);
    for (const id of ids) assert.deepEqual(slack.responsesTo(id), [], `nothing answered ${id}`);
    assert.equal(commandLogs(app).length, commandsBefore, 'no command listener ran');
    assert.equal(slack.calls.length, callsBefore, 'no Web API call');
  });

  test('a correctly signed request a little in the past is still accepted', async () => {
    const { ack } = await ask(app, slack, 'help');
    assert.equal(ack.status, 200);
    const old = await postSigned(
      app.port,
      SIGNING_SECRET,
      slashCommandBody({ text: 'help', responseUrl: slack.responseUrl('recent') }),
      FORM_CONTENT_TYPE,
      {
        timestamp: nowSeconds() - 60,
      },
    );
    assert.equal(old.status, 200);
    await slack.waitFor(() => slack.responsesTo('recent')[0]);
  });
});

test('GET /healthz answers 200 while the app can serve', async () => {
  const res = await get(app.port, '/healthz');
  assert.equal(res.status, 200);
  assert.deepEqual(JSON.parse(res.body), { ok: true });
});

test('GET /healthz answers 503 when the state database is gone', async () => {
  const state = await createTestDatabase('http_state');
  const other = await startTestApp(baseEnv(db.url, slack, { STATE_DATABASE_URL: state.url }));
  try {
    assert.equal((await get(other.port, '/healthz')).status, 200);
    // FORCE: the app's pools reconnect every few milliseconds and would keep a plain DROP waiting.
    await admin(serverUrl(), (c) => c.query(`DROP DATABASE ${state.name} WITH (FORCE)`));
    // The last answer is reused for a few seconds (probes must not load the database): wait it out.
    let res = await get(other.port, '/healthz');
    for (
      const deadline = Date.now() + 10_000;
      res.status === 200 && Date.now() < deadline;
      res = await get(other.port, '/healthz')
    )
      await sleep(200);
    assert.equal(res.status, 503);
    assert.deepEqual(JSON.parse(res.body), { ok: false });
  } finally {
    await other.stop();
  }
});

test('malformed payloads with a valid signature are refused or ignored, with no stack trace, and the app keeps serving', async () => {
  const junk: Array<[string, string]> = [
    [FORM_CONTENT_TYPE, 'payload=%7Bnot-json'],
    [FORM_CONTENT_TYPE, 'payload='],
    [JSON_CONTENT_TYPE, '{"type":'],
    // Parsed but of no known type: Bolt answers 404 after its 3 s ack timeout, so these run side by side.
    [FORM_CONTENT_TYPE, `payload=${encodeURIComponent('[]')}`],
    [FORM_CONTENT_TYPE, `payload=${encodeURIComponent('{"type":"block_actions"}')}`],
    [FORM_CONTENT_TYPE, ''],
  ];
  const results = await Promise.all(junk.map(([type, body]) => postSigned(app.port, SIGNING_SECRET, body, type)));
  results.forEach((res, i) => {
    const body = junk[i]![1];
    assert.ok([400, 404].includes(res.status), `${body}: ${res.status}`);
    assert.doesNotMatch(res.body, STACK, body);
    assert.doesNotMatch(res.body, /Error/, body);
  });
  assert.equal((await get(app.port, '/healthz')).status, 200);
  const { reply } = await ask(app, slack, 'help');
  assert.match(allText(reply), /\*Usage:\*/);
});

test('a signed slash command without a user, channel or response_url is acknowledged and ignored', async () => {
  const before = commandLogs(app).length;
  const res = await postSigned(app.port, SIGNING_SECRET, 'command=%2Fpgsessions&text=top', FORM_CONTENT_TYPE);
  assert.equal(res.status, 200);
  await slack.waitFor(() => parsedLogs(app).find((l) => l.msg === 'malformed slash command ignored'));
  assert.equal(commandLogs(app).length, before, 'nothing was listed');
  assert.ok(!app.logs.some((l) => /respond is not a function/.test(l)));
});

test('a slash command is acknowledged before a slow listing is answered', async () => {
  // Hold an exclusive lock on pg_stat_activity in the managed database: the listing waits on it.
  const locker = new pg.Client({ connectionString: db.url });
  locker.on('error', () => undefined);
  await locker.connect();
  const s = await sleepSession(db.url, { seconds: 60, application: 'slow-ack' });
  try {
    await locker.query('BEGIN; LOCK TABLE pg_catalog.pg_stat_activity IN ACCESS EXCLUSIVE MODE');
    const release = sleep(1200).then(() => locker.query('COMMIT'));
    const started = Date.now();
    const { ack, ackAt, postedAt, reply } = await ask(app, slack, 'app:slow-ack');
    await release;
    assert.equal(ack.status, 200);
    assert.ok(ackAt - started < 1000, `acknowledged after ${ackAt - started} ms, while the listing waited`);
    assert.ok(postedAt - started >= 1000, 'the reply came only once the lock was released');
    assert.ok(ackAt <= postedAt, 'acknowledged before the reply was posted');
    assert.deepEqual(pidsOf(reply), [s.pid], allText(reply));
  } finally {
    await locker.query('ROLLBACK').catch(() => undefined);
    await locker.end().catch(() => undefined);
    await s.end();
  }
});
