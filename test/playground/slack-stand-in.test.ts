// The Slack stand-in over HTTP, with Slack's own client: unknown methods answered as Slack answers them
// (and reported), response URLs that replace or delete the message they came from, ephemerals for one
// person, chat.update in place, conversations.history by cursor, and modals opened from a trigger.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { webApi } from '@slack/bolt';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';

let slack: SlackApi;
const logged: string[] = [];
before(async () => {
  slack = await startSlackApi({ log: (line) => logged.push(line) });
});
after(async () => {
  await slack.close();
});

const client = () =>
  new webApi.WebClient('xoxb-stand-in-test', {
    slackApiUrl: slack.url,
    retryConfig: { retries: 0 },
    logLevel: webApi.LogLevel.ERROR,
  });
const platformError = (e: unknown) => (e as { data?: { error?: string } }).data?.error;

async function respond(id: string, body: unknown): Promise<number> {
  const res = await fetch(slack.responseUrl(id), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return res.status;
}

test('a Web API method the stand-in does not implement is answered unknown_method, and reported', async () => {
  await assert.rejects(
    client().apiCall('reactions.add', { channel: 'C1', name: 'eyes', timestamp: '1.2' }),
    (e) => platformError(e) === 'unknown_method',
  );
  assert.equal(slack.callsTo('reactions.add').length, 1, 'still recorded');
  assert.ok(
    logged.some((l) => l.includes('reactions.add')),
    `reported: ${logged.join(' | ')}`,
  );
  // A test's own handler makes a method known.
  slack.handle('reactions.add', () => ({ ok: true }));
  await client().apiCall('reactions.add', { channel: 'C1', name: 'eyes', timestamp: '1.2' });
  slack.reset();
});

test('replace_original on a response URL replaces the message the button was on, in place', async () => {
  const posted = await client().chat.postMessage({
    channel: 'CRPL',
    text: 'before',
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'before' } }],
  });
  const url = slack.responseUrl('rpl', { channel: 'CRPL', user: 'UA', messageTs: posted.ts! });
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ replace_original: true, text: 'after' }),
  });
  assert.equal(res.status, 200);
  const messages = slack.workspace.visible('CRPL', 'UB');
  assert.equal(messages.length, 1, 'replaced, not added');
  assert.equal(messages[0]!.ts, posted.ts);
  assert.equal(messages[0]!.text, 'after');
  assert.ok(messages[0]!.editedAt);
});

test('delete_original removes the message; a plain response is an ephemeral for the person who clicked', async () => {
  const posted = await client().chat.postMessage({ channel: 'CDEL', text: 'doomed' });
  slack.responseUrl('del', { channel: 'CDEL', user: 'UA', messageTs: posted.ts! });
  assert.equal(await respond('del', { delete_original: true }), 200);
  assert.equal(slack.workspace.find('CDEL', posted.ts!), undefined);

  slack.responseUrl('eph', { channel: 'CDEL', user: 'UA' });
  assert.equal(await respond('eph', { text: 'just for you', replace_original: false }), 200);
  assert.deepEqual(
    slack.workspace.visible('CDEL', 'UA').map((m) => m.text),
    ['just for you'],
  );
  assert.deepEqual(slack.workspace.visible('CDEL', 'UB'), [], 'nobody else sees it');

  slack.responseUrl('pub', { channel: 'CDEL', user: 'UA' });
  assert.equal(await respond('pub', { text: 'for everyone', response_type: 'in_channel' }), 200);
  assert.deepEqual(
    slack.workspace.visible('CDEL', 'UB').map((m) => m.text),
    ['for everyone'],
  );
  // Still recorded for tests, as before.
  assert.equal(slack.responsesTo('pub').length, 1);
});

test('chat.update changes a message in place; an unknown ts is message_not_found when strict (the playground), ok for the recorder', async () => {
  const posted = await client().chat.postMessage({ channel: 'CUPD', text: 'v1' });
  await client().chat.update({ channel: 'CUPD', ts: posted.ts!, text: 'v2' });
  assert.deepEqual(
    slack.workspace.visible('CUPD', 'UA').map((m) => [m.ts, m.text]),
    [[posted.ts, 'v2']],
  );
  assert.equal(
    (await client().chat.update({ channel: 'CUPD', ts: '1.000001', text: 'x' })).ok,
    true,
    'tests may update what they never posted',
  );
  const strict = await startSlackApi({ strict: true, log: () => undefined });
  try {
    const c = new webApi.WebClient('xoxb-stand-in-test', {
      slackApiUrl: strict.url,
      retryConfig: { retries: 0 },
      logLevel: webApi.LogLevel.ERROR,
    });
    await assert.rejects(
      c.chat.update({ channel: 'CUPD', ts: '1.000001', text: 'x' }),
      (e) => platformError(e) === 'message_not_found',
    );
    await assert.rejects(
      c.chat.delete({ channel: 'CUPD', ts: '1.000001' }),
      (e) => platformError(e) === 'message_not_found',
    );
  } finally {
    await strict.close();
  }
});

test('conversations.history: newest first, top level only, no ephemerals, paginated by cursor', async () => {
  const c = client();
  const ts: string[] = [];
  for (let i = 1; i <= 5; i++) ts.push((await c.chat.postMessage({ channel: 'CHIST', text: `m${i}` })).ts!);
  await c.chat.postMessage({ channel: 'CHIST', text: 'a reply', thread_ts: ts[0]! });
  await c.chat.postEphemeral({ channel: 'CHIST', user: 'UA', text: 'secret' });

  const seen: string[] = [];
  let cursor: string | undefined;
  let pages = 0;
  do {
    const page = await c.conversations.history({ channel: 'CHIST', limit: 2, ...(cursor ? { cursor } : {}) });
    pages += 1;
    seen.push(...(page.messages ?? []).map((m) => m.text ?? ''));
    cursor = page.response_metadata?.next_cursor || undefined;
    assert.equal(page.has_more, cursor !== undefined);
  } while (cursor);
  assert.deepEqual(seen, ['m5', 'm4', 'm3', 'm2', 'm1']);
  assert.equal(pages, 3);
  const oldest = await c.conversations.history({ channel: 'CHIST', oldest: ts[3]! });
  assert.deepEqual(
    oldest.messages?.map((m) => m.text),
    ['m5'],
  );
  await assert.rejects(
    c.conversations.history({ channel: 'CHIST', cursor: 'bm9wZQ==' }),
    (e) => platformError(e) === 'invalid_cursor',
  );
});

test('a modal opened with a trigger the playground handed out is that person’s; a stale hash is a hash_conflict', async () => {
  slack.workspace.bindTrigger('trig-1', 'UA');
  const opened = await client().views.open({
    trigger_id: 'trig-1',
    view: { type: 'modal', title: { type: 'plain_text', text: 'One' }, blocks: [] },
  });
  assert.deepEqual(
    slack.workspace.viewStack('UA').map((v) => v.id),
    [opened.view!.id],
  );
  const updated = await client().views.update({
    view_id: opened.view!.id!,
    hash: opened.view!.hash!,
    view: { type: 'modal', title: { type: 'plain_text', text: 'Two' }, blocks: [] },
  });
  assert.equal((slack.workspace.viewStack('UA')[0]!.view.title as { text: string }).text, 'Two');
  assert.notEqual(updated.view!.hash, opened.view!.hash);
  await assert.rejects(
    client().views.update({
      view_id: opened.view!.id!,
      hash: opened.view!.hash!,
      view: { type: 'modal', title: { type: 'plain_text', text: 'Three' }, blocks: [] },
    }),
    (e) => platformError(e) === 'hash_conflict',
  );
});
