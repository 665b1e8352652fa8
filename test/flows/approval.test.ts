// The two-person rule end to end: real sessions on a real server, the real app over signed HTTP, and after
// every click a look at pg_stat_activity (not only at our bookkeeping) and at what was said in Slack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { activityRow, idleInTransactionLockHolder, sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, baseEnv, OUTSIDER, REQUESTER, SIGNING_SECRET, startTestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  auditEvents,
  buttonsIn,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  updatesOf,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { resealRequest } from '../helpers/binding.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { ACTION, decodeTarget, encodeModalMetadata, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PROTECTED_APP = 'prot-app';

const sessions = sessionTracker();
const track = sessions.track;
const { db, slack, app } = useTestApp({
  database: 'appr',
  env: { PGSESSIONS_PROTECTED_APPS: PROTECTED_APP },
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});

const env = () => baseEnv(db.url, slack, { PGSESSIONS_PROTECTED_APPS: PROTECTED_APP });

// ---- the button flow ---------------------------------------------------------------------------------

test('a Terminate button opens the modal, the reason posts an approval request, and an approver ends exactly that session', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'button-victim' }));
  const bystander = track(await sleepSession(db.url, { seconds: 120, application: 'button-bystander' }));

  const listing = await command(slack, app.port, 'app:button-victim', as(REQUESTER, channel));
  const terminate = buttonsIn(listing.body.blocks).find(
    (b) => b.action_id === ACTION.terminate && decodeTarget(b.value)?.pid === victim.pid,
  );
  assert.ok(terminate, 'the listing offers Terminate for the session');

  const trigger = triggerId();
  const pressed = await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.terminate,
    value: terminate.value,
    responseUrl: slack.responseUrl(fresh('row')),
    isEphemeral: true,
    triggerId: trigger,
  });
  assert.equal(pressed.status, 200);
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger));
  const modal = opened.params.view as { callback_id: string; private_metadata: string; blocks: unknown[] };
  assert.equal(modal.callback_id, VIEW.request);
  // Then the session as the database sees it now: user, application, the query.
  const filled = await slack.waitFor(() =>
    slack
      .callsTo('views.update')
      .find((c) => (c.params.view as { private_metadata?: string }).private_metadata === modal.private_metadata),
  );
  assert.match(textOf(filled.params.view), /button-victim/);
  assert.match(textOf(filled.params.view), /pg_sleep\(120\)/);
  assert.ok(!textOf(modal).includes('pg_sleep(120)'), 'the first modal is opened before the database is asked');

  const submitted = await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.request,
    privateMetadata: modal.private_metadata,
    values: {
      [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'holds the orders lock' } },
    },
  });
  assert.equal(submitted.status, 200);
  assert.equal(submitted.body, '', 'a valid submission closes the modal');

  const post = await slack.waitFor(() => approvalPosts(slack, channel)[0], {
    description: 'approval message in the channel of the button',
  });
  const decision = buttonsIn(post.params.blocks);
  assert.deepEqual(decision.map((b) => b.action_id).sort(), [ACTION.approve, ACTION.deny, ACTION.withdraw].sort());
  const id = decision[0]!.value;
  assert.match(id, UUID);
  assert.ok(
    decision.every((b) => b.value === id),
    'decision buttons carry only the request id',
  );
  const shown = textOf(post.params.blocks);
  for (const part of [`pid ${victim.pid}`, 'button-victim', db.name, 'holds the orders lock', '<@UREQ>', 'Expires']) {
    assert.ok(shown.includes(part), `the approval message shows ${part}`);
  }
  assert.equal(await sessionAlive(db.url, victim.pid), true, 'nothing happens before approval');

  const approved = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal(approved.status, 200);
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'terminated' }]);
  assert.equal(await sessionAlive(db.url, victim.pid), false, 'the session is gone from pg_stat_activity');
  assert.equal(await sessionAlive(db.url, bystander.pid, bystander.backendStart), true, 'nothing else was touched');
  assert.ok(await victim.finished, 'the client saw its connection end');

  const updated = await waitForUpdate(slack, db.url, id, /terminated/);
  assert.match(textOf(updated.params), /Approved by <@UAPP>/);
  assert.equal(buttonsIn(updated.params.blocks).length, 0, 'no buttons once decided');
  const told = await slack.waitFor(() =>
    slack
      .callsTo('chat.postMessage')
      .find((c) => c.params.channel === channel && c.params.thread_ts === row.message_ts),
  );
  assert.match(String(told.params.text), /<@UREQ>.*approved by <@UAPP>.*terminated/);
});

test('a modal submitted without a reason is answered with an inline error and requests nothing', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const privateMetadata = encodeModalMetadata({
    target: {
      cluster: 'default',
      pid: victim.pid,
      backendStart: victim.backendStart,
      queryStart: victim.queryStart,
      kind: 'terminate',
    },
    channel,
  });
  const submitted = await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.request,
    privateMetadata,
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: '   ' } } },
  });
  assert.equal(submitted.status, 200);
  const body = submitted.json as { response_action?: string; errors?: Record<string, string> };
  assert.equal(body.response_action, 'errors');
  assert.match(body.errors?.[INPUT.reasonBlock] ?? '', /reason/i);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(approvalPosts(slack, channel).length, 0);
  const rows = await stateQuery(db.url, `SELECT id FROM pgsessions.requests WHERE targets @> $1::jsonb`, [
    JSON.stringify([{ pid: victim.pid }]),
  ]);
  assert.equal(rows.length, 0, 'no request was recorded');
});

// ---- cancel ------------------------------------------------------------------------------------------

test('an approved cancel interrupts the running query and leaves the same backend connected', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `cancel ${victim.pid} runaway report`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /Cancel request/);
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'cancelled' }]);
  assert.match(String((await victim.finished)?.message), /cancel/i, 'the query was cancelled');
  assert.equal(
    await sessionAlive(db.url, victim.pid, victim.backendStart),
    true,
    'the same backend is still connected',
  );
  assert.equal((await activityRow(db.url, victim.pid))?.state, 'idle');
  await waitForUpdate(slack, db.url, id, /cancelled/);
});

test('a cancel of a session idle in transaction is refused with a hint to terminate, and the listing offers Terminate only', async () => {
  const channel = fresh('C');
  await stateQuery(db.url, 'CREATE TABLE IF NOT EXISTS idle_t (id int)');
  const holder = track(await idleInTransactionLockHolder(db.url, 'idle_t'));
  const { text } = await command(slack, app.port, `cancel ${holder.pid} stuck`, as(REQUESTER, channel));
  assert.match(text, /idle in a transaction/);
  assert.match(text, /terminate/i);
  assert.equal(approvalPosts(slack, channel).length, 0);
  assert.equal(await sessionAlive(db.url, holder.pid, holder.backendStart), true);

  const listing = await command(slack, app.port, 'state:idle-in-transaction', as(REQUESTER, channel));
  const mine = buttonsIn(listing.body.blocks).filter((b) => decodeTarget(b.value)?.pid === holder.pid);
  assert.deepEqual(
    mine.map((b) => b.action_id),
    [ACTION.terminate],
  );
});

test('cancel with escalate: whose cancel works ends as cancelled and the backend stays', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `cancel ${victim.pid} escalate:2s long report`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /then terminate if still running after 2 s/);
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'cancelled' }]);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

/** A query that swallows every cancel (PL/pgSQL traps query_canceled) but not a terminate. */
async function cancelProofQuery(url: string) {
  const client = new pg.Client({ connectionString: url, application_name: 'test-cancel-proof' });
  client.on('error', () => undefined);
  await client.connect();
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const { pid, backend_start: backendStart } = rows[0]!;
  const finished = client
    .query(
      'DO $$ BEGIN LOOP BEGIN PERFORM pg_sleep(60); EXCEPTION WHEN query_canceled THEN NULL; END; END LOOP; END $$',
    )
    .then(
      () => null,
      (e: Error) => e,
    );
  const deadline = Date.now() + 10_000;
  while ((await activityRow(url, pid))?.wait_event !== 'PgSleep') {
    if (Date.now() > deadline) throw new Error('the cancel-proof query never started');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    pid,
    backendStart,
    finished,
    async end() {
      await stateQuery(url, 'SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
      await client.end().catch(() => undefined);
    },
  };
}

test('cancel with escalate: terminates a query that ignores the cancel once the grace period after the cancel is over', async () => {
  const channel = fresh('C');
  const writer = track(await cancelProofQuery(db.url));
  const { id } = await typedRequest(
    slack,
    app.port,
    `cancel ${writer.pid} escalate:1s swallows cancels`,
    as(REQUESTER, channel),
  );
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed'], 20_000);
  assert.deepEqual(row.result?.outcomes, [{ pid: writer.pid, outcome: 'terminated' }], JSON.stringify(row.result));
  assert.equal(await sessionAlive(db.url, writer.pid), false);
  // "Terminate if still running after 1 s" means about 1 s after the cancel, not whenever the cancel check gives up.
  const [timing] = await stateQuery<{ seconds: number }>(
    db.url,
    'SELECT extract(epoch FROM executed_at - executing_at)::float8 AS seconds FROM pgsessions.requests WHERE id = $1',
    [id],
  );
  assert.ok(
    timing!.seconds >= 1 && timing!.seconds < 2.5,
    `terminated ${timing!.seconds.toFixed(2)} s after the cancel`,
  );
});

// ---- who may decide ------------------------------------------------------------------------------------

test('the requester cannot approve their own request, even as an approver: nothing is killed and it stays pending', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} self`, as(APPROVER, channel));
  const self = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await self.reply(), /second person/);
  const response = slack.responsesTo(self.responseId)[0]!.body as Record<string, unknown>;
  assert.equal(response.response_type, 'ephemeral');
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.deepEqual(await auditEvents(db.url, id), ['requested']);
});

test('someone who is not an approver is refused and the request stays pending', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} outsider`, as(REQUESTER, channel));
  const outsider = await click(slack, app.port, ACTION.approve, id, as(OUTSIDER, channel));
  assert.match(await outsider.reply(), /Only an approver/);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

test('a member of an approver user group may approve', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = ['UGROUPIE'];
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} group`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, id, as('UGROUPIE', channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.decided_by, 'UGROUPIE');
  assert.equal(row.status, 'executed');
  assert.equal(await sessionAlive(db.url, victim.pid), false);
  assert.ok(slack.callsTo('usergroups.users.list').some((c) => c.params.usergroup === 'SAPPROVERS'));
});

test('a denial kills nothing, shows who denied, tells the requester, and cannot be approved afterwards', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} deny me`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.deny, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['denied']);
  await waitForUpdate(slack, db.url, id, /Denied by <@UAPP>/);
  await slack.waitFor(() =>
    slack
      .callsTo('chat.postMessage')
      .find((c) => c.params.thread_ts === row.message_ts && /denied/.test(String(c.params.text))),
  );
  const late = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await late.reply(), /already decided/);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.deepEqual(await auditEvents(db.url, id), ['requested', 'denied']);
});

test('only the requester can withdraw; a withdrawn request kills nothing', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} withdraw me`, as(REQUESTER, channel));
  for (const other of [OUTSIDER, APPROVER]) {
    const refused = await click(slack, app.port, ACTION.withdraw, id, as(other, channel));
    assert.match(await refused.reply(), /Only the requester/);
  }
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  await click(slack, app.port, ACTION.withdraw, id, as(REQUESTER, channel));
  await waitForStatus(db.url, id, ['withdrawn']);
  await waitForUpdate(slack, db.url, id, /Withdrawn/);
  const late = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await late.reply(), /already decided/);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

// ---- at most once ------------------------------------------------------------------------------------

test('a double click on Approve executes once', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} double`, as(REQUESTER, channel));
  const clicks = await Promise.all([1, 2].map(() => click(slack, app.port, ACTION.approve, id, as(APPROVER, channel))));
  await waitForStatus(db.url, id, ['executed', 'failed']);
  const answered = await slack.waitFor(() => {
    const texts = clicks
      .flatMap((c) => slack.responsesTo(c.responseId))
      .map((r) => String((r.body as { text?: string }).text));
    return texts.length >= 1 && texts;
  });
  assert.deepEqual(
    answered.map((t) => /already decided/.test(t)),
    [true],
  );
  assert.deepEqual(await auditEvents(db.url, id), ['requested', 'approved', 'executing', 'executed']);
  assert.equal(await sessionAlive(db.url, victim.pid), false);
});

test('a slow Slack does not hold back an approved kill: the session is gone before the "approved" update is answered', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} slack is slow`, as(REQUESTER, channel));
  const delayMs = 4_000;
  slack.failNext('chat.update', 1, { delayMs });
  const clickedAt = Date.now();
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const firstUpdate = await slack.waitFor(() =>
    slack.callsTo('chat.update').find((c) => c.at >= clickedAt && c.params.channel === channel),
  );
  await waitForStatus(db.url, id, ['executed', 'failed']);
  const goneAt = Date.now();
  assert.equal(await sessionAlive(db.url, victim.pid), false);
  // Ordering, not speed: the kill finished while Slack was still sitting on the first message update.
  assert.ok(
    goneAt < firstUpdate.at + delayMs,
    `gone ${goneAt - firstUpdate.at} ms after the delayed update was received`,
  );
  // And the message still ends showing the outcome, after the "approved" edit.
  // The channel message's updates (the approver's direct message is refreshed too, in its own channel).
  const updates = await slack.waitFor(
    () => {
      const mine = slack.callsTo('chat.update').filter((c) => c.at >= clickedAt && c.params.channel === channel);
      return mine.length >= 2 && mine;
    },
    { timeoutMs: delayMs + 5_000 },
  );
  assert.match(textOf(updates[updates.length - 1]!.params), /terminated/);
});

test('twenty approvals racing over two app instances on one state database execute exactly once', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = ['UGROUPIE'];
  const second = await startTestApp(env(), { terminateTimeoutMs: 3_000 });
  try {
    const victim = track(await sleepSession(db.url, { seconds: 120, application: 'race-victim' }));
    const bystander = track(await sleepSession(db.url, { seconds: 120, application: 'race-bystander' }));
    const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} race`, as(REQUESTER, channel));
    const clicks = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        click(
          slack,
          i % 2 === 0 ? app.port : second.port,
          ACTION.approve,
          id,
          as(i % 3 === 0 ? 'UGROUPIE' : APPROVER, channel),
        ),
      ),
    );
    assert.ok(clicks.every((c) => c.status === 200));
    const row = await waitForStatus(db.url, id, ['executed', 'failed']);
    assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'terminated' }]);
    const answers = () =>
      clicks.flatMap((c) => slack.responsesTo(c.responseId)).map((r) => String((r.body as { text?: string }).text));
    await slack.waitFor(() => answers().length >= 19, { timeoutMs: 8_000, description: '19 refusals' });
    await new Promise((resolve) => setTimeout(resolve, 200));
    assert.equal(answers().length, 19, 'the winning click gets no refusal');
    assert.ok(
      answers().every((t) => /already decided/.test(t)),
      'every other click is told it was already decided',
    );
    assert.deepEqual(await auditEvents(db.url, id), ['requested', 'approved', 'executing', 'executed']);
    assert.equal(await sessionAlive(db.url, victim.pid), false);
    assert.equal(await sessionAlive(db.url, bystander.pid, bystander.backendStart), true);
    assert.equal(
      (await updatesOf(slack, db.url, id)).filter((c) => /terminated/.test(textOf(c.params))).length,
      1,
      'one outcome shown',
    );
    const pool = new pg.Pool({ connectionString: db.url, max: 1 });
    try {
      assert.equal((await createStateStore(pool).verifyAudit()).ok, true, 'two writers, one unbroken audit chain');
    } finally {
      await pool.end();
    }
  } finally {
    await second.stop();
  }
});

// ---- the identity re-check -----------------------------------------------------------------------------

test('a session that ended before approval is reported as no longer running and nothing else is killed', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const bystander = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} gone soon`, as(REQUESTER, channel));
  await victim.end();
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'gone' }]);
  await waitForUpdate(slack, db.url, id, /no longer running/);
  assert.equal(await sessionAlive(db.url, bystander.pid, bystander.backendStart), true);
});

test('a pid that now belongs to another backend (different backend_start) is not terminated', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} reused pid`, as(REQUESTER, channel));
  // As if the session had ended and its pid had been reused by the live one.
  await stateQuery(
    db.url,
    `UPDATE pgsessions.requests SET targets = jsonb_set(targets, '{0,backendStart}', '"2001-02-03 04:05:06.123456+00"') WHERE id = $1`,
    [id],
  );
  await resealRequest(db.url, id); // as if asked so: this checks the signal statement, not the binding
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'gone' }]);
  assert.equal(
    await sessionAlive(db.url, victim.pid, victim.backendStart),
    true,
    'the live session with that pid survives',
  );
});

test('a cancel whose query changed since the request (different query_start) is not sent', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `cancel ${victim.pid} old query`, as(REQUESTER, channel));
  await stateQuery(
    db.url,
    `UPDATE pgsessions.requests SET targets = jsonb_set(targets, '{0,queryStart}', '"2001-02-03 04:05:06.123456+00"') WHERE id = $1`,
    [id],
  );
  await resealRequest(db.url, id); // as if asked so: this checks the signal statement, not the binding
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'gone' }]);
  const now = await activityRow(db.url, victim.pid);
  assert.equal(now?.state, 'active', 'the query still runs');
  assert.equal(now?.query_start, victim.queryStart);
});

test('a session that turned itself into a protected application after the request is not terminated', async () => {
  const channel = fresh('C');
  await stateQuery(db.url, 'CREATE TABLE IF NOT EXISTS turn_t (id int)');
  const holder = track(await idleInTransactionLockHolder(db.url, 'turn_t'));
  const { id } = await typedRequest(slack, app.port, `terminate ${holder.pid} holds turn_t`, as(REQUESTER, channel));
  await holder.client.query(`SET application_name = '${PROTECTED_APP}'`);
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  // Said as a refusal — the session is still there — not as "no longer running".
  assert.equal(row.result?.outcomes[0]?.outcome, 'refused');
  assert.match(row.result?.outcomes[0]?.message ?? '', /protected role or application/);
  assert.equal(
    await sessionAlive(db.url, holder.pid, holder.backendStart),
    true,
    'the protection is checked again when signalling',
  );
});

// ---- refusals at request time ------------------------------------------------------------------------

test('a session of a protected application is refused at request time and survives', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: PROTECTED_APP }));
  const { text } = await command(slack, app.port, `terminate ${victim.pid} please`, as(REQUESTER, channel));
  assert.match(text, /protected/);
  assert.equal(approvalPosts(slack, channel).length, 0);
  const listing = await command(slack, app.port, `app:${PROTECTED_APP}`, as(REQUESTER, channel));
  assert.match(textOf(listing.body), new RegExp(`pid ${victim.pid}`));
  assert.deepEqual(
    buttonsIn(listing.body.blocks).filter((b) => b.action_id !== ACTION.share),
    [],
    'no kill buttons on a protected session',
  );
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

test('in read-only mode requests and approvals are refused and nothing is killed', async () => {
  const channel = fresh('C');
  const readOnly = await startTestApp({ ...env(), PGSESSIONS_READ_ONLY: 'true' });
  try {
    const victim = track(await sleepSession(db.url, { seconds: 120 }));
    const typed = await command(slack, readOnly.port, `terminate ${victim.pid} ro`, as(REQUESTER, channel));
    assert.match(typed.text, /read-only/);
    assert.equal(approvalPosts(slack, channel).length, 0);
    // A request made before the switch, approved on the read-only instance.
    const { id } = await typedRequest(
      slack,
      app.port,
      `terminate ${victim.pid} before the switch`,
      as(REQUESTER, channel),
    );
    const refused = await click(slack, readOnly.port, ACTION.approve, id, as(APPROVER, channel));
    assert.match(await refused.reply(), /read-only/);
    assert.equal((await requestRow(db.url, id)).status, 'pending');
    assert.deepEqual(await auditEvents(db.url, id), ['requested', 'refused']);
    assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  } finally {
    await readOnly.stop();
  }
});

// ---- expiry, pending ---------------------------------------------------------------------------------

test('a request past its expiry is marked expired by the sweeper, shown as Expired, and can no longer be approved', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} will expire`, as(REQUESTER, channel));
  await stateQuery(db.url, `UPDATE pgsessions.requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [
    id,
  ]);
  await waitForStatus(db.url, id, ['expired'], 5_000);
  const update = await waitForUpdate(slack, db.url, id, /Expired/);
  assert.equal(buttonsIn(update.params.blocks).length, 0);
  assert.deepEqual(await auditEvents(db.url, id), ['requested', 'expired']);
  const late = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await late.reply(), /expired/);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

test('an expired request that the sweeper has not reached yet cannot be approved either', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} expiring`, as(REQUESTER, channel));
  // Lock the row so the sweeper (SKIP LOCKED) passes it by while the approval is decided.
  const holder = new pg.Client({ connectionString: db.url });
  await holder.connect();
  try {
    await holder.query('BEGIN');
    await holder.query(`UPDATE pgsessions.requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [id]);
    const late = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
    await holder.query('COMMIT');
    assert.match(await late.reply(), /expired/);
  } finally {
    await holder.end();
  }
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.ok(!(await auditEvents(db.url, id)).includes('approved'));
});

test('/pgsessions pending lists the open requests and not the decided ones', async () => {
  const channel = fresh('C');
  const a = track(await sleepSession(db.url, { seconds: 120 }));
  const b = track(await sleepSession(db.url, { seconds: 120 }));
  await typedRequest(slack, app.port, `terminate ${a.pid} pending one`, as(REQUESTER, channel));
  await typedRequest(slack, app.port, `cancel ${b.pid} pending two`, as(REQUESTER, channel));
  const { id: gone } = await typedRequest(
    slack,
    app.port,
    `terminate ${b.pid} withdrawn three`,
    as(REQUESTER, channel),
  );
  await click(slack, app.port, ACTION.withdraw, gone, as(REQUESTER, channel));
  await waitForStatus(db.url, gone, ['withdrawn']);
  const { body } = await command(slack, app.port, 'pending', as(OUTSIDER, channel));
  const shown = textOf(body);
  assert.match(shown, new RegExp(`pid ${a.pid}`));
  assert.match(shown, /pending one/);
  assert.match(shown, /pending two/);
  assert.ok(!shown.includes('withdrawn three'));
  assert.equal(body.response_type, 'ephemeral');
});
