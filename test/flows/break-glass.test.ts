// Break-glass end to end (docs/approvals.md "Break-glass"): off by default (no button, and a forged click with a
// real request id kills nothing); on for cancel after 10 s: refused before the time and to anyone else, then the
// requester's confirmed reason cancels the query, every approver is told, and it stays unreviewed (status lists
// it) until an approver — never the requester — presses Reviewed. Terminate stays two-person; read-only refuses.
// Every check looks at pg_stat_activity, the audit log and what Slack was told.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, OUTSIDER, REQUESTER, SIGNING_SECRET, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  buttonsIn,
  click,
  command,
  fresh,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const sessions = sessionTracker();
const track = sessions.track;
const apps: TestApp[] = [];
const ON = { PGSESSIONS_BREAK_GLASS: 'cancel', PGSESSIONS_BREAK_GLASS_AFTER: '10s' };
let off: TestApp;
let on: TestApp;
let readOnly: TestApp;
const { db, slack } = useTestApp({
  database: 'glass',
  app: false,
  sessions,
  // Three apps on one state database: break-glass off, on for cancel after 10 s, and on in read-only mode.
  ready: async ({ db, slack }) => {
    const start = async (extra: Record<string, string>) => {
      const app = await startTestApp(baseEnv(db.url, slack, extra), { terminateTimeoutMs: 3_000 });
      apps.push(app);
      return app;
    };
    off = await start({});
    on = await start(ON);
    readOnly = await start({ ...ON, PGSESSIONS_READ_ONLY: 'true' });
  },
  teardown: async () => {
    for (const a of apps) await a.stop();
  },
});

/** Presses a button as `user` and returns what the app said to that person alone (or '' when it opened a form). */
async function press(app: TestApp, actionId: string, id: string, user: string, channel: string) {
  const trigger = triggerId();
  const responseId = fresh('press');
  const res = await blockAction(app.port, SIGNING_SECRET, {
    userId: user,
    channelId: channel,
    actionId,
    value: id,
    responseUrl: slack.responseUrl(responseId),
    triggerId: trigger,
  });
  assert.equal(res.status, 200);
  const answer = await slack.waitFor(
    () =>
      slack.responsesTo(responseId)[0]?.body ??
      slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger)?.params.view,
    { description: `the answer to ${actionId} by ${user}` },
  );
  return { said: String((answer as { text?: unknown }).text ?? ''), view: answer as Record<string, unknown>, trigger };
}

async function submit(app: TestApp, id: string, user: string, why: string) {
  return viewSubmission(app.port, SIGNING_SECRET, {
    userId: user,
    callbackId: VIEW.breakGlass,
    privateMetadata: id,
    values: { [INPUT.breakGlassBlock]: { [INPUT.breakGlassAction]: { type: 'plain_text_input', value: why } } },
  });
}

const audit = (id: string) =>
  stateQuery<{ seq: number; event: string; actor: string | null; details: Record<string, unknown> }>(
    db.url,
    'SELECT seq::int AS seq, event, actor, details FROM pgsessions.audit_log WHERE request_id = $1 ORDER BY seq',
    [id],
  );

test('off by default: no Break glass button, and a forged click or form with a real request id kills nothing', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'glass-off' }));
  const { id, post } = await typedRequest(slack, off.port, `cancel ${victim.pid} runaway`, as(REQUESTER, channel));
  assert.ok(!buttonsIn(post.params.blocks).some((b) => b.action_id === ACTION.breakGlass), 'no Break glass button');
  assert.doesNotMatch(textOf(post.params.blocks), /break-glass/);

  const pressed = await press(off, ACTION.breakGlass, id, REQUESTER, channel);
  assert.match(pressed.said, /not enabled/);
  const submitted = await submit(off, id, REQUESTER, 'forged');
  assert.match(submitted.body, /not enabled/, 'the form is refused in place');
  await sleep(500);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'still in pg_stat_activity');
  const [row] = await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.requests WHERE id = $1', [
    id,
  ]);
  assert.equal(row?.status, 'pending');
  assert.ok(!(await audit(id)).some((e) => e.event === 'break_glass'));
});

test('on for cancel after 10 s: refused early and to others, then the requester cancels alone; approvers told; reviewed once by an approver', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'glass-on' }));
  const { id, post } = await typedRequest(slack, on.port, `cancel ${victim.pid} runaway`, as(REQUESTER, channel));
  assert.ok(
    buttonsIn(post.params.blocks).some((b) => b.action_id === ACTION.breakGlass),
    'a Break glass button',
  );
  assert.match(
    textOf(post.params.blocks),
    /If nobody decides by \d\d:\d\d(:\d\d)? UTC, the requester may execute it alone/,
  );

  const early = await press(on, ACTION.breakGlass, id, REQUESTER, channel);
  assert.match(early.said, /Too early: break-glass opens at \d\d:\d\d(:\d\d)? UTC/);
  const other = await press(on, ACTION.breakGlass, id, OUTSIDER, channel);
  assert.match(other.said, /Only the requester/);
  const byApprover = await press(on, ACTION.breakGlass, id, APPROVER, channel);
  assert.match(byApprover.said, /Only the requester/);
  const earlyForm = await submit(on, id, REQUESTER, 'nobody answers');
  assert.match(earlyForm.body, /Too early/);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);

  await sleep(10_500);
  const roPress = await press(readOnly, ACTION.breakGlass, id, REQUESTER, channel);
  assert.match(roPress.said, /read-only/);
  const roForm = await submit(readOnly, id, REQUESTER, 'nobody answers');
  assert.match(roForm.body, /read-only/);

  const opened = await press(on, ACTION.breakGlass, id, REQUESTER, channel);
  assert.equal((opened.view as { callback_id?: string }).callback_id, VIEW.breakGlass, 'the confirmation form opens');
  assert.match(textOf(opened.view), /without a second person/);
  assert.match((await submit(on, id, REQUESTER, '   ')).body, /reason is required/);
  assert.match((await submit(on, id, REQUESTER, 'x'.repeat(501))).body, /too long/);
  const sent = await submit(on, id, REQUESTER, 'checkout down, no approver answers the page');
  assert.equal(sent.body, '', 'the form closes');

  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'cancelled' }]);
  assert.match(String((await victim.finished)?.message), /cancel/i, 'the pg_sleep query was cancelled');
  const entries = await audit(id);
  const used = entries.find((e) => e.event === 'break_glass');
  assert.ok(used, 'break_glass audited');
  assert.equal(used.actor, REQUESTER);
  assert.equal(used.details.why, 'checkout down, no approver answers the page');
  assert.equal(used.details.review, 'awaiting');
  assert.ok(Number(used.details.waitedSeconds) >= 10);
  assert.ok(!entries.some((e) => e.event === 'approved'), 'not recorded as an approval');

  const dm = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find(
          (c) =>
            (c.params.channel === APPROVER || c.params.channel === `D${APPROVER}`) &&
            buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.breakGlassReviewed),
        ),
    { description: 'the approver is told directly' },
  );
  assert.match(textOf(dm.params), /Break-glass/);
  assert.match(textOf(dm.params), /checkout down/);
  assert.ok(buttonsIn(dm.params.blocks).some((b) => b.action_id === ACTION.breakGlassReviewed && b.value === id));
  assert.ok(
    !slack
      .callsTo('chat.postMessage')
      .some((c) => [REQUESTER, `D${REQUESTER}`].includes(String(c.params.channel)) && /Break-glass/.test(textOf(c))),
    'the requester is not told as an approver',
  );
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => c.params.channel === channel && c.params.thread_ts && /Break-glass/.test(textOf(c.params))),
    { description: 'the thread says it' },
  );

  const listed = await command(slack, on.port, 'status', as(APPROVER, channel));
  assert.match(textOf(listed.body), /Break-glass uses awaiting review/);
  assert.match(textOf(listed.body), /checkout down/);

  const self = await click(slack, on.port, ACTION.breakGlassReviewed, id, as(REQUESTER, channel));
  assert.match(await self.reply(), /another approver has to review/);
  const outsider = await click(slack, on.port, ACTION.breakGlassReviewed, id, as(OUTSIDER, channel));
  assert.match(await outsider.reply(), /Only an approver/);
  const reviewed = await click(slack, on.port, ACTION.breakGlassReviewed, id, as(APPROVER, channel));
  assert.match(await reviewed.reply(), /reviewed by <@UAPP>/);
  const again = await click(slack, on.port, ACTION.breakGlassReviewed, id, as(APPROVER, channel));
  assert.match(await again.reply(), /already reviewed by <@UAPP>/);
  const reviews = (await audit(id)).filter((e) => e.event === 'break_glass_reviewed');
  assert.equal(reviews.length, 1, 'audited once');
  assert.equal(reviews[0]!.details.breakGlassSeq, used.seq);
  const after = await command(slack, on.port, 'status', as(APPROVER, channel));
  assert.doesNotMatch(textOf(after.body), /checkout down/, 'status no longer lists it');
});

test('terminate is not allowed when break-glass covers cancel only', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'glass-term' }));
  const { id, post } = await typedRequest(slack, on.port, `terminate ${victim.pid} stuck`, as(REQUESTER, channel));
  assert.ok(!buttonsIn(post.params.blocks).some((b) => b.action_id === ACTION.breakGlass), 'no button on a terminate');
  await sleep(10_500);
  const pressed = await press(on, ACTION.breakGlass, id, REQUESTER, channel);
  assert.match(pressed.said, /not enabled for this kind of action/);
  assert.match((await submit(on, id, REQUESTER, 'alone')).body, /not enabled/);
  await sleep(500);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'nothing was terminated');
});
