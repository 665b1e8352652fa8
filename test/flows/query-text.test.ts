// PGSESSIONS_QUERY_TEXT governs every Slack surface. A real session runs a statement carrying a marker at
// its start and another past 200 characters; in each mode the whole flow runs over signed HTTP — listing,
// blocking, Share in channel, the request form, the approval message, pending, approval, the thread reply
// and the audit channel — and every surface is checked: `full` shows the query, `truncated` never shows
// what lies past 200 characters, `none` shows no query text anywhere in Slack.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { blockedQuery, idleInTransactionLockHolder, sessionAlive } from '../helpers/sessions.js';
import {
  APPROVER,
  AUDIT_CHANNEL,
  baseEnv,
  REQUESTER,
  SIGNING_SECRET,
  startTestApp,
  type TestApp,
} from '../helpers/app.js';
import {
  approvalPosts,
  as,
  buttonsIn,
  click,
  command,
  fresh,
  requestIdOf,
  sessionTracker,
  stateQuery,
  textOf,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION, decodeTarget, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const HEAD = 'QTMARKHEAD';
const TAIL = 'QTMARKTAIL';
const TABLE = 'qt_orders';
// The head sits well inside the first 200 characters, the tail past them (and inside a listing row's 300).
const comment = (who: string) => `/* ${HEAD} ${who} ${'p'.repeat(150)} ${TAIL} */`;
const HOLDER_SQL = `LOCK TABLE ${TABLE} IN ACCESS EXCLUSIVE MODE ${comment('holder')}`;
const WAITER_SQL = `SELECT count(*) FROM ${TABLE} ${comment('waiter')}`;

type Mode = 'full' | 'truncated' | 'none';

const sessions = sessionTracker();
// Each test starts its own app.
const { db, slack } = useTestApp({
  database: 'qtext',
  async prepare(database) {
    await stateQuery(database.url, `CREATE TABLE ${TABLE} (id int)`);
  },
  app: false,
  sessions,
});

/** What a surface may show in each mode. `tail` false: the renderer's own limit cuts before the tail anyway. */
function check(mode: Mode, surface: string, value: unknown, opts: { tail?: boolean } = {}): void {
  const text = textOf(value);
  if (mode === 'none') {
    assert.ok(
      !text.includes('QTMARK'),
      `${surface}: query text shown with PGSESSIONS_QUERY_TEXT=none: ${text.slice(0, 400)}`,
    );
    return;
  }
  assert.ok(text.includes(HEAD), `${surface}: the start of the query is shown in mode ${mode}: ${text.slice(0, 400)}`);
  if (mode === 'truncated')
    assert.ok(!text.includes(TAIL), `${surface}: text past 200 characters is shown in mode truncated`);
  if (mode === 'full' && opts.tail !== false)
    assert.ok(text.includes(TAIL), `${surface}: the full query is not shown in mode full`);
}

for (const mode of ['full', 'truncated', 'none'] as const) {
  describe(`PGSESSIONS_QUERY_TEXT=${mode}`, () => {
    let app: TestApp;
    before(async () => {
      slack.reset();
      app = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_QUERY_TEXT: mode }), { terminateTimeoutMs: 3_000 });
    });
    after(async () => {
      await app?.stop();
    });

    test('every surface: listing, blocking, share, form, approval message, pending, outcome, thread and audit', async () => {
      const channel = fresh('C');
      const app_ = `qt-${mode}`;
      const holder = sessions.track(
        await idleInTransactionLockHolder(db.url, TABLE, { statement: HOLDER_SQL, application: app_ }),
      );
      sessions.track(await blockedQuery(db.url, TABLE, { statement: WAITER_SQL, application: `${app_}-waiter` }));

      // The listing (ephemeral) and the lock-wait tree.
      const listing = await command(slack, app.port, `app:${app_}`, as(REQUESTER, channel));
      check(mode, 'listing', listing.body);
      if (mode === 'none')
        assert.match(textOf(listing.body), /PGSESSIONS_QUERY_TEXT=none/, 'the listing says why no query is shown');
      const blocking = await command(slack, app.port, 'blocking', as(REQUESTER, channel));
      assert.match(textOf(blocking.body), new RegExp(`pid ${holder.pid}`));
      check(mode, 'blocking', blocking.body, { tail: false });

      // Share in channel: the same listing, for everyone.
      const shareId = fresh('share');
      await blockAction(app.port, SIGNING_SECRET, {
        userId: REQUESTER,
        channelId: channel,
        actionId: ACTION.share,
        value: `app:${app_}`,
        responseUrl: slack.responseUrl(shareId),
      });
      const shared = await slack.waitFor(() => slack.responsesTo(shareId)[0], { description: 'shared listing' });
      assert.equal((shared.body as { response_type?: string }).response_type, 'in_channel');
      check(mode, 'share in channel', shared.body);

      // The request form: opened at once, then filled in with the session as the database sees it.
      const terminate = buttonsIn(listing.body.blocks).find(
        (b) => b.action_id === ACTION.terminate && decodeTarget(b.value)?.pid === holder.pid,
      );
      assert.ok(terminate, 'the listing offers Terminate');
      const trigger = triggerId();
      await blockAction(app.port, SIGNING_SECRET, {
        userId: REQUESTER,
        channelId: channel,
        actionId: ACTION.terminate,
        value: terminate.value,
        responseUrl: slack.responseUrl(fresh('row')),
        isEphemeral: true,
        triggerId: trigger,
      });
      const opened = await slack.waitFor(() =>
        slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger),
      );
      const modal = opened.params.view as { private_metadata: string };
      const filled = await slack.waitFor(() =>
        slack
          .callsTo('views.update')
          .find((c) => (c.params.view as { private_metadata?: string }).private_metadata === modal.private_metadata),
      );
      assert.match(textOf(filled.params.view), new RegExp(app_));
      check(mode, 'request form', filled.params.view);

      // The approval message in the channel.
      await viewSubmission(app.port, SIGNING_SECRET, {
        userId: REQUESTER,
        callbackId: VIEW.request,
        privateMetadata: modal.private_metadata,
        values: {
          [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'holds the orders lock' } },
        },
      });
      const post = await slack.waitFor(() => approvalPosts(slack, channel)[0], { description: 'approval message' });
      check(mode, 'approval message', post.params);
      const id = requestIdOf(post);

      const pending = await command(slack, app.port, 'pending', as(APPROVER, channel));
      assert.match(textOf(pending.body), new RegExp(`pid ${holder.pid}`));

      // Approve: the message is updated, the requester told in the thread, the audit channel gets every step.
      await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
      const row = await waitForStatus(db.url, id, ['executed', 'failed']);
      assert.equal(row.status, 'executed');
      assert.equal(
        await sessionAlive(db.url, holder.pid, holder.backendStart),
        false,
        'the holder is gone from pg_stat_activity',
      );
      const updated = await slack.waitFor(() =>
        slack.callsTo('chat.update').find((c) => c.params.ts === row.message_ts && /terminated/.test(textOf(c.params))),
      );
      check(mode, 'updated approval message', updated.params);
      await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.params.thread_ts === row.message_ts), {
        description: 'thread reply',
      });
      const audit = await slack.waitFor(
        () => {
          const posts = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === AUDIT_CHANNEL && !c.fault);
          return posts.some((p) => /executed/.test(textOf(p.params))) ? posts : undefined;
        },
        { description: 'the executed entry in the audit channel' },
      );
      check(mode, 'audit channel (requested)', audit.find((p) => /requested/.test(String(p.params.text)))?.params);

      // And nowhere else either: every Web API call and every response_url post of this run.
      if (mode === 'none') {
        for (const call of slack.calls) check(mode, `Web API ${call.method}`, call.params);
        for (const response of slack.responses) check(mode, `response_url ${response.id}`, response.body);
      } else {
        for (const call of slack.calls)
          if (mode === 'truncated')
            assert.ok(!textOf(call.params).includes(TAIL), `Web API ${call.method} shows text past 200 characters`);
        for (const response of slack.responses)
          if (mode === 'truncated')
            assert.ok(
              !textOf(response.body).includes(TAIL),
              `response_url ${response.id} shows text past 200 characters`,
            );
      }
    });
  });
}
