// Faults outside pgsessions, made real: the managed cluster goes away between request and approval (a
// proxy in front of it is shut, then reopened at the same address), and Slack answers the approval post late
// or refuses it. Plain words to the people involved, nothing signalled, nothing left pending, and the app
// keeps serving.
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, assertNoSecrets, baseEnv, REQUESTER, secretsOf } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  auditEvents,
  auditOf,
  click,
  command,
  fresh,
  requestIdOf,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { FAILURE_MESSAGES } from '../../src/domain/messages.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const SLACK_TIMEOUT_MS = 800;

let proxy: SlowProxy;
let proxyPort: number;
let proxyUp = false;
let env: NodeJS.ProcessEnv;
const sessions = sessionTracker();
const track = sessions.track;

// The app reaches the managed cluster through a proxy that the tests shut and reopen; its state is direct.
const { db, slack, app } = useTestApp({
  database: 'faults',
  async prepare(database, standIn) {
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
    proxyPort = proxy.port;
    proxyUp = true;
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxyPort);
    env = baseEnv(viaProxy.toString(), standIn, { STATE_DATABASE_URL: database.url });
  },
  env: () => env,
  start: { terminateTimeoutMs: 3_000, slackTimeoutMs: SLACK_TIMEOUT_MS },
});

async function clusterDown(): Promise<void> {
  if (proxyUp) await proxy.close();
  proxyUp = false;
}
async function clusterUp(): Promise<void> {
  if (!proxyUp) proxy = await startSlowProxy(Number(new URL(db.url).port), 0, proxyPort);
  proxyUp = true;
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/healthz', agent: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Requests of a channel that are still waiting for a decision. */
async function pendingIn(channel: string): Promise<number> {
  const rows = await stateQuery<{ n: number }>(
    db.url,
    `SELECT count(*)::int AS n FROM pgsessions.requests WHERE channel = $1 AND status = 'pending'`,
    [channel],
  );
  return rows[0]!.n;
}

/** The one request recorded for a channel. */
async function onlyRequestIn(channel: string): Promise<{ id: string; status: string }> {
  const rows = await stateQuery<{ id: string; status: string }>(
    db.url,
    'SELECT id::text, status FROM pgsessions.requests WHERE channel = $1',
    [channel],
  );
  assert.equal(rows.length, 1, `exactly one request in ${channel}`);
  return rows[0]!;
}

afterEach(async () => {
  await clusterUp();
  slack.reset();
  await sessions.endAll();
});
// After the fixture's teardown.
after(async () => {
  await clusterDown();
});

// ---- the managed cluster goes down -----------------------------------------------------------------------

test('when the cluster goes down between request and approval, approving reports it unreachable, signals nothing, and a new request works once it is back', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'fault-victim' }));
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster about to fail`,
    as(REQUESTER, channel),
  );

  await clusterDown();
  const approved = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal(approved.status, 200);
  const row = await waitForStatus(db.url, id, ['executed', 'failed'], 15_000);
  assert.equal(row.status, 'failed');
  assert.equal((row.result as { unreachable?: boolean }).unreachable, true);
  assert.deepEqual(row.result?.outcomes, [], 'no outcome for any target: nothing was sent');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the target is untouched');

  const update = await waitForUpdate(slack, db.url, id, /cluster unreachable — nothing was signalled/);
  assert.equal(textOf(update.params.blocks).includes(ACTION.approve), false, 'no Approve button on a decided request');
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find(
          (c) =>
            c.params.channel === channel && c.params.thread_ts && /nothing was signalled/.test(String(c.params.text)),
        ),
    { description: 'the requester is told in the thread' },
  );
  assert.deepEqual(await auditEvents(db.url, id), ['requested', 'approved', 'executing', 'failed']);
  const failed = (await auditOf(db.url, id)).at(-1)!;
  assert.equal(
    (failed.details.result as { unreachable?: boolean }).unreachable,
    true,
    'the audit entry says unreachable',
  );

  // The app keeps serving: health is about its own state database, commands say the cluster is unreachable.
  assert.equal(await healthz(app.port), 200);
  const listing = await command(slack, app.port, '', as(REQUESTER, channel));
  assert.match(listing.text, /Cannot reach cluster `default`.*Nothing was changed/);
  const refused = await command(slack, app.port, `terminate ${victim.pid} still down`, as(REQUESTER, channel));
  assert.match(refused.text, /Cannot reach cluster|cannot be reached/);
  assert.equal(await pendingIn(channel), 0, 'no request is recorded while the cluster is down');

  await clusterUp();
  const again = await typedRequest(slack, app.port, `terminate ${victim.pid} back again`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, again.id, as(APPROVER, channel));
  const done = await waitForStatus(db.url, again.id, ['executed', 'failed']);
  assert.equal(done.status, 'executed');
  assert.deepEqual(done.result?.outcomes, [{ pid: victim.pid, outcome: 'terminated' }]);
  assert.equal(await sessionAlive(db.url, victim.pid), false);
  assert.ok(
    !app.logs.some((l) => /unhandled error in a Slack listener|decision failed/.test(l)),
    'an unreachable cluster is an outcome, not a bug',
  );
});

// ---- Slack answers late, or refuses --------------------------------------------------------------------

test('when Slack answers the approval post too late, the requester is told, the request is withdrawn and a late-arriving message cannot approve it', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'late-victim' }));
  // Only this channel's posts are late (well past the client timeout); the audit channel is answered at once.
  slack.handle('chat.postMessage', (params) =>
    params.channel === channel ? sleep(SLACK_TIMEOUT_MS * 4).then(() => undefined) : undefined,
  );

  const started = Date.now();
  const { text } = await command(slack, app.port, `terminate ${victim.pid} slack is slow`, as(REQUESTER, channel));
  assert.equal(text, FAILURE_MESSAGES.post_failed);
  assert.ok(Date.now() - started < 9_000, `the requester waited ${Date.now() - started} ms`);

  const request = await onlyRequestIn(channel);
  assert.equal(request.status, 'withdrawn', 'nobody could approve it: it is withdrawn, not left pending');
  assert.deepEqual(await auditEvents(db.url, request.id), ['requested', 'withdrawn']);
  assert.equal(await pendingIn(channel), 0);

  // Slack may still have posted it (the answer came late, not never): its buttons must do nothing.
  const late = await slack.waitFor(() => approvalPosts(slack, channel)[0], { description: 'the late approval post' });
  assert.equal(requestIdOf(late), request.id);
  // Tried once: a retry after a timeout would leave a second copy with live buttons that is never updated.
  await sleep(SLACK_TIMEOUT_MS * 3);
  assert.equal(
    slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel).length,
    1,
    'the approval post was not retried',
  );
  const clicked = await click(slack, app.port, ACTION.approve, request.id, as(APPROVER, channel));
  assert.match(await clicked.reply(), /already decided/);
  await sleep(300);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.deepEqual(await auditEvents(db.url, request.id), ['requested', 'withdrawn']);
  // The audit trail still reached its channel.
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .filter(
          (c) => c.params.channel === env.PGSESSIONS_AUDIT_CHANNEL && textOf(c.params).includes(String(victim.pid)),
        ).length >= 2,
    {
      description: 'requested and withdrawn in the audit channel',
    },
  );
});

test('when the app is not in the channel (not_in_channel), the requester is told, the request is withdrawn, and other channels still get their posts', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'notin-victim' }));
  slack.handle('chat.postMessage', (params) =>
    params.channel === channel ? { ok: false, error: 'not_in_channel' } : undefined,
  );

  const { text } = await command(slack, app.port, `terminate ${victim.pid} wrong channel`, as(REQUESTER, channel));
  assert.equal(text, FAILURE_MESSAGES.post_failed);
  assert.match(text, /Nothing was requested/);
  const request = await onlyRequestIn(channel);
  assert.equal(request.status, 'withdrawn');
  assert.deepEqual(await auditEvents(db.url, request.id), ['requested', 'withdrawn']);
  assert.equal(
    slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel).length,
    1,
    'a refusal is not retried',
  );
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);

  // The same request from a channel the app is in goes through.
  const other = fresh('C');
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} right channel`, as(REQUESTER, other));
  assert.equal((await waitForStatus(db.url, id, ['pending'])).status, 'pending');
});

test('no captured log line carries the bot token, the signing secret or a database password', () => {
  assert.ok(app.logs.length > 0);
  assertNoSecrets(app.logs, secretsOf(env));
  assert.ok(
    secretsOf(env).includes('test-superuser-password'),
    'the database password is among the secrets looked for',
  );
});
