// Watching end to end: real sessions on a real server, the real app over signed HTTP with its watcher on a
// 1 s interval, and the local Web API recorder standing in for the watch channel.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import {
  blockedQuery,
  idleInTransactionLockHolder,
  longRead,
  sessionAlive,
  sleepSession,
} from '../helpers/sessions.js';
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
  alertPosts,
  alertPostsAbout,
  incidents,
  snoozeButton,
  updatesOfMessage,
  waitForAlertText,
  waitForIncident,
  WATCH_CHANNEL,
  watchEnv,
} from '../helpers/watch.js';
import { ACTION, decodeTarget, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const sessions = sessionTracker();
const track = sessions.track;

const { db, slack, app } = useTestApp({
  database: 'watch',
  async prepare(database) {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    await c.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
    await c.query('INSERT INTO orders SELECT g, null FROM generate_series(1, 10) g');
    await c.end();
  },
  env: watchEnv(),
  start: {
    terminateTimeoutMs: 3_000,
    watchUpdateGapSeconds: 1,
    watchStorm: { sessions: 4, seconds: 0 },
  },
  sessions,
});
// After the fixture has ended the test's sessions.
afterEach(async () => {
  // Let every incident of this test clear before the next one starts.
  await waitForIncident(db.url, () => true, 100).catch(() => undefined);
  const deadline = Date.now() + 15_000;
  while ((await incidents(db.url)).some((i) => i.status === 'open') && Date.now() < deadline) await sleep(200);
  slack.reset();
});

test('an idle-in-transaction lock holder with waiters: one alert naming it, the lock and the relation; cleared after an approved terminate', async () => {
  const holder = track(await idleInTransactionLockHolder(db.url, 'orders', { application: 'reporting' }));
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  const alert = await slack.waitFor(() => alertPostsAbout(slack, new RegExp(`pid ${holder.pid}`))[0], {
    timeoutMs: 10_000,
    description: 'the alert',
  });
  const text = textOf(alert.params.blocks);
  assert.match(text, /A session blocks others/);
  assert.match(text, /idle in transaction for/);
  assert.match(text, /AccessExclusiveLock on `orders`/);
  assert.match(text, /1 session wait/);
  const terminate = buttonsIn(alert.params.blocks).find((b) => b.action_id === ACTION.terminate);
  assert.ok(terminate, 'the alert offers to request a terminate of the root blocker');
  assert.match(terminate.text?.text ?? '', /Request terminate of the root blocker/);
  assert.equal(decodeTarget(terminate.value)?.pid, holder.pid);
  assert.equal(decodeTarget(terminate.value)?.backendStart, holder.backendStart);

  // A second waiter: the same message is updated in place, nothing new is posted.
  track(await blockedQuery(db.url, 'orders', { application: 'sidekiq' }));
  const [row] = (await incidents(db.url)).filter((i) => i.status === 'open');
  assert.ok(row?.message_ts);
  await slack.waitFor(
    () => updatesOfMessage(slack, row.message_ts!).find((u) => /2 sessions wait/.test(textOf(u.params))),
    { timeoutMs: 10_000, description: 'the update' },
  );
  assert.equal(alertPosts(slack).length, 1, 'one incident, one message');

  // Request → approve, through the alert's own button and the usual modal, posted in the watch channel.
  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.terminate,
    value: terminate.value,
    responseUrl: slack.responseUrl(fresh('w')),
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger));
  const modal = opened.params.view as { callback_id: string; private_metadata: string };
  assert.equal(modal.callback_id, VIEW.request);
  await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.request,
    privateMetadata: modal.private_metadata,
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'blocks checkout' } } },
  });
  const approval = await slack.waitFor(() => approvalPosts(slack, WATCH_CHANNEL)[0], {
    description: 'approval request in the watch channel',
  });
  const requestId = requestIdOf(approval);
  const clicked = await click(slack, app.port, ACTION.approve, requestId, { user: APPROVER, channel: WATCH_CHANNEL });
  assert.equal(clicked.status, 200);
  await waitForStatus(db.url, requestId, ['executed']);
  assert.equal(await sessionAlive(db.url, holder.pid, holder.backendStart), false, 'the root blocker is gone');

  const cleared = await waitForIncident(
    db.url,
    (i) => i.id === row.id && i.status === 'cleared',
    15_000,
    'the incident to clear',
  );
  assert.equal(cleared.clear_reason?.kind, 'request');
  assert.equal(cleared.clear_reason?.requestId, requestId);
  const shown = await slack.waitFor(
    () => updatesOfMessage(slack, row.message_ts!).find((u) => /Cleared/.test(textOf(u.params))),
    { timeoutMs: 10_000, description: 'the cleared update' },
  );
  assert.match(textOf(shown.params), new RegExp(`terminated through request \\\`${requestId}\\\``));
  assert.match(textOf(shown.params), /Cleared\* on `default` after \d/);
  assert.equal(alertPosts(slack).length, 1, 'never reposted');
});

test('an incident whose root ends by itself is cleared as ended by itself', async () => {
  const holder = track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  const row = await waitForIncident(db.url, (i) => i.status === 'open' && i.message_ts !== null, 10_000, 'the alert');
  await holder.end();
  const cleared = await waitForIncident(db.url, (i) => i.id === row.id && i.status === 'cleared', 10_000, 'the clear');
  assert.equal(cleared.clear_reason?.kind, 'ended');
  await slack.waitFor(
    () => updatesOfMessage(slack, row.message_ts!).find((u) => /ended by itself/.test(textOf(u.params))),
    { timeoutMs: 10_000 },
  );
});

test('a DDL queued behind a long read with readers behind it: the lock-queue head named, its cancel offered', async () => {
  const read = track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN later int',
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  const alert = await slack.waitFor(() => alertPostsAbout(slack, /DDL waits at the head/)[0], {
    timeoutMs: 10_000,
    description: 'the lock-queue alert',
  });
  const text = textOf(alert.params);
  assert.match(text, /ALTER TABLE orders ADD COLUMN later int/);
  assert.match(text, new RegExp(`behind pid ${read.pid}`));
  // The readers queue up over a look or two: the message says so once they all wait.
  await waitForAlertText(slack, /2 sessions wait behind it/);
  const cancel = buttonsIn(alert.params.blocks).find((b) => b.action_id === ACTION.cancel);
  assert.ok(cancel);
  assert.match(cancel.text?.text ?? '', /Request cancel of the waiting DDL/);
  const target = decodeTarget(cancel.value);
  assert.equal(target?.pid, ddl.pid);
  assert.equal(target?.queryStart, ddl.queryStart, 'the cancel names the waiting statement, not a later one');
  assert.equal(alertPosts(slack).length, 1, 'the readers and the read are one incident');
});

test('a query storm is one grouped incident, not one per session', async () => {
  for (let n = 0; n < 5; n++) track(await sleepSession(db.url, { seconds: 60, application: 'storm-app' }));
  const alert = await slack.waitFor(() => alertPostsAbout(slack, /query storm/i)[0], {
    timeoutMs: 10_000,
    description: 'the storm alert',
  });
  assert.match(textOf(alert.params), /storm-app/);
  await waitForAlertText(slack, /5 sessions\* run `SELECT pg_sleep\(60\)`/);
  await sleep(2_500);
  assert.equal(alertPosts(slack).length, 1);
});

test('Snooze silences an alert for everyone and is audited', async () => {
  track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  const alert = await slack.waitFor(() => alertPosts(slack)[0], { timeoutMs: 10_000 });
  const row = await waitForIncident(db.url, (i) => i.status === 'open' && i.message_ts !== null);
  const snooze = snoozeButton(alert, 30);
  assert.ok(snooze);
  const responseId = fresh('snooze');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: 'UBYSTANDER',
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchSnooze,
    value: snooze.value,
    responseUrl: slack.responseUrl(responseId),
  });
  const reply = await slack.waitFor(() => slack.responsesTo(responseId)[0]);
  assert.match(textOf(reply.body), /Snoozed for everyone for 30 min/);
  const audit = await stateQuery<{ actor: string; details: { incident: string; minutes: number } }>(
    db.url,
    `SELECT actor, details FROM pgsessions.audit_log WHERE event = 'snoozed'`,
  );
  assert.equal(audit.length, 1);
  assert.equal(audit[0]!.actor, 'UBYSTANDER');
  assert.equal(
    audit[0]!.details.incident,
    row.id,
    'the entry names the incident by id, not by its key (which can carry query text)',
  );
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => c.params.channel === 'CAUDIT01' && /snoozed/.test(textOf(c.params))),
    { description: 'the audit channel post' },
  );
  const snoozedUpdate = await slack.waitFor(() =>
    updatesOfMessage(slack, row.message_ts!).find((u) => /snoozed by <@UBYSTANDER>/.test(textOf(u.params))),
  );
  assert.ok(!snoozeButton(snoozedUpdate, 30), 'no Snooze button on a snoozed alert');

  // More waiters while snoozed: no update of the message.
  const before = updatesOfMessage(slack, row.message_ts!).length;
  track(await blockedQuery(db.url, 'orders'));
  await sleep(3_000);
  assert.equal(updatesOfMessage(slack, row.message_ts!).length, before, 'a snoozed alert is not updated');

  // A forged snooze value changes nothing.
  const forged = fresh('forged');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: 'UBYSTANDER',
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchSnooze,
    value: '{"i":"x\'; DROP TABLE x","m":99999}',
    responseUrl: slack.responseUrl(forged),
  });
  assert.match(textOf((await slack.waitFor(() => slack.responsesTo(forged)[0])).body), /nothing was snoozed/);
});

test('Slack answering 429 and then 500: the alert is delivered later, once', async () => {
  slack.failNext('chat.postMessage', 1, { status: 429, retryAfter: 1 });
  slack.failNext('chat.postMessage', 1, { status: 500 });
  track(await idleInTransactionLockHolder(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  await slack.waitFor(() => alertPosts(slack)[0], { timeoutMs: 15_000, description: 'the alert, after the faults' });
  const attempts = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === WATCH_CHANNEL);
  assert.ok(attempts.some((c) => c.fault && 'status' in c.fault && c.fault.status === 429));
  assert.ok(attempts.some((c) => c.fault && 'status' in c.fault && c.fault.status === 500));
  const [first429] = attempts.filter((c) => c.fault && 'status' in c.fault && c.fault.status === 429);
  const next = attempts[attempts.indexOf(first429!) + 1];
  assert.ok(next && next.at - first429!.at >= 900, 'Retry-After was honoured');
  await sleep(2_500);
  assert.equal(alertPosts(slack).length, 1, 'delivered once');
});
