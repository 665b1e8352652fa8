// Names the attacker controls, set on real sessions: application_name values that try to post a live
// mention, a link, or bold "Approved" text into our messages. Every surface they reach — the listing,
// Share in channel, the request form, the approval message, pending, its update and the audit channel —
// shows them as inert text: escaped, formatting markers replaced, and every mrkdwn object verbatim (no
// bare URL or @here turned live).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAction, triggerId } from '../helpers/slack-requests.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, AUDIT_CHANNEL, REQUESTER, SIGNING_SECRET } from '../helpers/app.js';
import {
  as,
  buttonsIn,
  click,
  command,
  fresh,
  sessionTracker,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION, decodeTarget } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

// application_name keeps at most 63 bytes of printable ASCII.
const MENTIONS = '<!channel> <@UEVIL> <http://evil.example|Approve>';
const FORMATTING = '*Approved* _by_ ~UAPP~ `x` @here http://evil.example';
const LIVE = ['<!channel>', '<!here>', '<@UEVIL>', '<http', '*Approved*', '_by_', '~UAPP~', '*urgent*'];

const sessions = sessionTracker();
const { db, slack, app } = useTestApp({ database: 'hostile', start: { terminateTimeoutMs: 3_000 }, sessions });

/** Every mrkdwn text object anywhere in a payload. */
function mrkdwnObjects(
  node: unknown,
  out: Array<{ text: string; verbatim?: unknown }> = [],
): Array<{ text: string; verbatim?: unknown }> {
  if (Array.isArray(node)) for (const n of node) mrkdwnObjects(n, out);
  else if (typeof node === 'object' && node !== null) {
    const o = node as Record<string, unknown>;
    if (o.type === 'mrkdwn' && typeof o.text === 'string') out.push(o as { text: string; verbatim?: unknown });
    for (const v of Object.values(o)) mrkdwnObjects(v, out);
  }
  return out;
}

function assertInert(surface: string, payload: unknown, mustShow: string): void {
  const objects = mrkdwnObjects(payload);
  assert.ok(objects.length > 0, `${surface}: no mrkdwn at all`);
  for (const o of objects)
    assert.equal(o.verbatim, true, `${surface}: a mrkdwn text is not verbatim: ${o.text.slice(0, 120)}`);
  const texts = [...objects.map((o) => o.text), String((payload as { text?: unknown }).text ?? '')].join('\n');
  for (const live of LIVE)
    assert.ok(!texts.includes(live), `${surface}: ${live} reached Slack live:\n${texts.slice(0, 1500)}`);
  assert.ok(texts.includes(mustShow), `${surface}: the name is not shown at all (${mustShow})`);
}

test('hostile application names are inert on every surface, from the listing to the audit channel', async () => {
  const channel = fresh('C');
  const a = sessions.track(await sleepSession(db.url, { seconds: 120, application: MENTIONS }));
  const b = sessions.track(await sleepSession(db.url, { seconds: 120, application: FORMATTING }));

  const listing = await command(slack, app.port, `app:"${MENTIONS}"`, as(REQUESTER, channel));
  assertInert('listing', listing.body, '&lt;!channel&gt; &lt;@UEVIL&gt; &lt;http://evil.example|Approve&gt;');
  const listingB = await command(slack, app.port, '', as(REQUESTER, channel));
  assert.match(textOf(listingB.body), new RegExp(`pid ${b.pid}`));
  assertInert('listing', listingB.body, '\u2217Approved\u2217 \uFF3Fby\uFF3F \u223CUAPP\u223C');

  const shareId = fresh('share');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.share,
    value: '',
    responseUrl: slack.responseUrl(shareId),
  });
  assertInert('share in channel', (await slack.waitFor(() => slack.responsesTo(shareId)[0])).body, 'Approved');

  const terminate = buttonsIn(listing.body.blocks).find(
    (x) => x.action_id === ACTION.terminate && decodeTarget(x.value)?.pid === a.pid,
  );
  assert.ok(terminate);
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
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger));
  const meta = (opened.params.view as { private_metadata: string }).private_metadata;
  const filled = await slack.waitFor(() =>
    slack
      .callsTo('views.update')
      .find((c) => (c.params.view as { private_metadata?: string }).private_metadata === meta),
  );
  assertInert('request form', filled.params.view, '&lt;!channel&gt;');

  const { id, post } = await typedRequest(
    slack,
    app.port,
    `terminate ${b.pid} *urgent* <!here> see http://evil.example`,
    as(REQUESTER, channel),
  );
  assertInert('approval message', post.params, 'urgent');
  assertInert('pending', (await command(slack, app.port, 'pending', as(APPROVER, channel))).body, 'urgent');

  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.equal(await sessionAlive(db.url, b.pid, b.backendStart), false);
  const update = await slack.waitFor(() =>
    slack.callsTo('chat.update').find((c) => c.params.ts === row.message_ts && /terminated/.test(textOf(c.params))),
  );
  assertInert('updated approval message', update.params, 'Approved');
  const audit = await slack.waitFor(() => {
    const posts = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === AUDIT_CHANNEL && !c.fault);
    return posts.some((p) => /executed/.test(String(p.params.text))) ? posts : undefined;
  });
  for (const p of audit) assertInert(`audit ${String(p.params.text)}`, p.params, 'audit #');
  assertInert(
    'audit requested',
    audit.find((p) => /requested/.test(String(p.params.text)))!.params,
    '\u2217Approved\u2217',
  );
});
