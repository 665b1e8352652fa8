// When Slack says no: each refusal the bot can meet, injected through the stand-in as Slack answers it, and
// what the person sees and what pgsessions does then (docs/slack-refusals.md).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { REQUESTER, SIGNING_SECRET } from '../helpers/app.js';
import { useTestApp } from '../helpers/use-test-app.js';
import {
  as,
  buttonsIn,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { blockAction, slashCommand } from '../helpers/slack-requests.js';
import { ACTION, decodeTarget } from '../../src/slack/blocks/ids.js';

const sessions = sessionTracker();
const track = sessions.track;
const MEMBER = 'UONCALL7';
// PGSESSIONS_APPROVERS is `UAPP,SAPPROVERS`: MEMBER approves only through the group.
const { db, slack, app } = useTestApp({ database: 'refusals', start: { terminateTimeoutMs: 3_000 }, sessions });

const ephemeralsTo = (user: string, channel: string) =>
  slack
    .callsTo('chat.postEphemeral')
    .filter((c) => c.params.user === user && c.params.channel === channel && !c.fault && !c.refused);

test('a group read rate limited for a moment is retried after Retry-After: the group’s approver approves, never hears "not an approver"', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = [MEMBER];
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'ratelimit-short' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} short limit`, as(REQUESTER, channel));
  slack.failNext('usergroups.users.list', 1, { status: 429, retryAfter: 1 });
  const clicked = await click(slack, app.port, ACTION.approve, id, as(MEMBER, channel));
  assert.equal((await waitForStatus(db.url, id, ['executed', 'failed'])).status, 'executed');
  assert.deepEqual(
    slack.responsesTo(clicked.responseId),
    [],
    'nothing said to the approver but the outcome in the channel',
  );
  const reads = slack.callsTo('usergroups.users.list').filter((c) => c.params.usergroup === 'SAPPROVERS');
  assert.ok(reads.some((c) => c.fault) && reads.some((c) => !c.fault), 'read again after the 429');
});

test('a group read rate limited for longer than pgsessions waits says "try again in N s", and the request stays pending', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = [MEMBER];
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'ratelimit-long' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} long limit`, as(REQUESTER, channel));
  slack.failNext('usergroups.users.list', 1, { status: 429, retryAfter: 40 });
  const refused = await click(slack, app.port, ACTION.approve, id, as(MEMBER, channel));
  const reply = await refused.reply(10_000);
  assert.match(reply, /rate-limiting/);
  assert.match(reply, /Try again in 40 s/);
  assert.doesNotMatch(reply, /Only an approver/);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'nothing was killed');
  assert.ok(!app.logs.some((l) => /decision failed/.test(l)), 'an expected outcome, not a bug');
});

test('an approval whose message was deleted still executes, and its outcome is posted anew', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'deleted-message' }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} deleted message`,
    as(REQUESTER, channel),
  );
  const [row] = await stateQuery<{ message_ts: string }>(
    db.url,
    'SELECT message_ts FROM pgsessions.requests WHERE id = $1',
    [id],
  );
  // Someone deleted the approval message: Slack refuses every chat.update of it.
  slack.handle('chat.update', (p) =>
    p.ts === row!.message_ts ? { ok: false, error: 'message_not_found' } : undefined,
  );
  await click(slack, app.port, ACTION.approve, id, as('UAPP', channel));
  assert.equal((await waitForStatus(db.url, id, ['executed', 'failed'])).status, 'executed');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), false);
  const outcome = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => c.params.channel === channel && typeof c.params.thread_ts === 'string'),
    {
      timeoutMs: 10_000,
      description: 'the reply to the requester',
    },
  );
  assert.match(String(outcome.params.text), /approved by/);
  const copies = slack
    .callsTo('chat.postMessage')
    .filter((c) => c.params.channel === channel && c !== post && !c.params.thread_ts);
  assert.equal(copies.length, 1, 'posted anew once');
  // The outcome is threaded under the new copy, which is a message of its own in the channel.
  const newTs = String(outcome.params.thread_ts);
  assert.notEqual(newTs, row!.message_ts);
  assert.ok(
    slack.history(channel).some((m) => m.ts === newTs && !m.thread_ts),
    'the new copy is in the channel',
  );
  const final = slack
    .callsTo('chat.update')
    .filter((c) => c.params.ts === newTs)
    .at(-1);
  assert.ok(final, 'the final state updated the new copy');
  assert.match(JSON.stringify(final.params.blocks), /Approved by/);
  assert.equal(
    buttonsIn(final.params.blocks).filter((b) => b.action_id === ACTION.approve).length,
    0,
    'no live Approve on the new copy',
  );
});

test('an expired response_url: the answer to a command still reaches the person through chat.postEphemeral', async () => {
  const channel = fresh('C');
  slack.failNext('response_url', 1, { status: 404, error: 'expired_url' });
  const res = await slashCommand(app.port, SIGNING_SECRET, {
    text: 'help',
    userId: REQUESTER,
    channelId: channel,
    responseUrl: slack.responseUrl(fresh('dead')),
  });
  assert.equal(res.status, 200);
  const sent = await slack.waitFor(() => ephemeralsTo(REQUESTER, channel)[0], {
    timeoutMs: 10_000,
    description: 'the ephemeral fallback',
  });
  assert.match(String(sent.params.text), /help/i);
});

test('a used-up response_url on a click: "not an approver" still reaches the clicker through chat.postEphemeral', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'used-url' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} used url`, as(REQUESTER, channel));
  slack.failNext('response_url', 1, { status: 404, error: 'used_url' });
  await click(slack, app.port, ACTION.approve, id, as('UOUT', channel));
  const sent = await slack.waitFor(() => ephemeralsTo('UOUT', channel)[0], {
    timeoutMs: 10_000,
    description: 'the ephemeral fallback',
  });
  assert.match(String(sent.params.text), /Only an approver/);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
});

test('expired_trigger_id: the person is told to press the button again, and no request is created', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'expired-trigger' }));
  const listing = await command(slack, app.port, 'top', as(REQUESTER, channel));
  const terminate = buttonsIn(listing.body.blocks).find(
    (b) => b.action_id === ACTION.terminate && decodeTarget(b.value)?.pid === victim.pid,
  );
  assert.ok(terminate, 'the listing offers Terminate');
  const requestsBefore = (await stateQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgsessions.requests'))[0]!
    .n;
  slack.failNext('views.open', 1, { error: 'expired_trigger_id' });
  const responseId = fresh('row');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.terminate,
    value: terminate.value,
    responseUrl: slack.responseUrl(responseId),
    isEphemeral: true,
  });
  const reply = await slack.waitFor(() => slack.responsesTo(responseId)[0], {
    timeoutMs: 10_000,
    description: 'the answer to the click',
  });
  const text = String((reply.body as { text?: unknown }).text);
  assert.match(text, /Press the button again/);
  assert.match(text, /Nothing was requested/);
  assert.equal(
    (await stateQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgsessions.requests'))[0]!.n,
    requestsBefore,
    'no request created',
  );
  assert.equal(slack.callsTo('views.update').filter((c) => !c.fault).length, 0, 'no form was filled in');
  assert.ok(!app.logs.some((l) => /unhandled error in a Slack listener/.test(l)), 'no bug path');
});

test('a rate-limited views.open says "try again in N s", and no request is created', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'ratelimited-form' }));
  const listing = await command(slack, app.port, 'top', as(REQUESTER, channel));
  const cancel = buttonsIn(listing.body.blocks).find(
    (b) => b.action_id === ACTION.cancel && decodeTarget(b.value)?.pid === victim.pid,
  );
  assert.ok(cancel, 'the listing offers Cancel');
  slack.failNext('views.open', 1, { status: 429, retryAfter: 12 });
  const responseId = fresh('row');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.cancel,
    value: cancel.value,
    responseUrl: slack.responseUrl(responseId),
    isEphemeral: true,
  });
  const reply = await slack.waitFor(() => slack.responsesTo(responseId)[0], {
    timeoutMs: 10_000,
    description: 'the answer to the click',
  });
  assert.match(String((reply.body as { text?: unknown }).text), /rate-limiting pgsessions.*Try again in 12 s/);
  assert.equal(
    (
      await stateQuery<{ n: number }>(
        db.url,
        `SELECT count(*)::int AS n FROM pgsessions.requests WHERE targets::text LIKE '%' || $1 || '%'`,
        [String(victim.pid)],
      )
    )[0]!.n,
    0,
  );
});
