// The stand-in refuses what Slack refuses: Block Kit and method limits checked by the pure validator
// (src/slack/blocks/limits-check.ts), answered as invalid_blocks / invalid_arguments / msg_too_long; and any
// error Slack documents can be injected for the next N calls of a method, with or without an HTTP status.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { webApi } from '@slack/bolt';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { checkMessageBlocks, checkMessageText, checkView } from '../../src/slack/blocks/limits-check.js';

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
    rejectRateLimitedCalls: true,
    logLevel: webApi.LogLevel.ERROR,
  });
const platformError = (e: unknown) => (e as { data?: { error?: string } }).data?.error;
const section = (text: string) => ({ type: 'section', text: { type: 'mrkdwn', text } });
const button = (text: string, action_id = 'a', value = 'v') => ({
  type: 'button',
  text: { type: 'plain_text', text },
  action_id,
  value,
});
const paths = (problems: Array<{ path: string }>) => problems.map((p) => p.path);

test('each documented Block Kit limit is checked, and a payload within them passes', () => {
  assert.deepEqual(checkMessageBlocks([section('ok'), { type: 'actions', elements: [button('Go')] }]), []);
  assert.deepEqual(paths(checkMessageBlocks(Array.from({ length: 51 }, () => ({ type: 'divider' })))), ['blocks']);
  assert.deepEqual(paths(checkMessageBlocks([section('x'.repeat(3001))])), ['blocks[0].text.text']);
  assert.deepEqual(paths(checkMessageBlocks([section('')])), ['blocks[0].text.text']);
  assert.deepEqual(
    paths(checkMessageBlocks([{ type: 'header', text: { type: 'plain_text', text: 'h'.repeat(151) } }])),
    ['blocks[0].text.text'],
  );
  assert.deepEqual(paths(checkMessageBlocks([{ type: 'header', text: { type: 'mrkdwn', text: 'h' } }])), [
    'blocks[0].text.type',
  ]);
  assert.deepEqual(paths(checkMessageBlocks([{ type: 'actions', elements: [button('b'.repeat(76))] }])), [
    'blocks[0].elements[0].text.text',
  ]);
  assert.deepEqual(paths(checkMessageBlocks([{ type: 'actions', elements: [button('b', 'a', 'v'.repeat(2001))] }])), [
    'blocks[0].elements[0].value',
  ]);
  assert.deepEqual(paths(checkMessageBlocks([{ type: 'actions', elements: [button('b', 'x'.repeat(256))] }])), [
    'blocks[0].elements[0].action_id',
  ]);
  assert.deepEqual(
    paths(checkMessageBlocks([{ type: 'actions', elements: [button('b', 'same'), button('c', 'same')] }])),
    ['blocks[0].elements[1].action_id'],
  );
  assert.deepEqual(
    paths(
      checkMessageBlocks([{ type: 'actions', elements: Array.from({ length: 26 }, (_, i) => button('b', `a${i}`)) }]),
    ),
    ['blocks[0].elements'],
  );
  assert.deepEqual(
    paths(
      checkMessageBlocks([
        { type: 'context', elements: Array.from({ length: 11 }, () => ({ type: 'mrkdwn', text: 'c' })) },
      ]),
    ),
    ['blocks[0].elements'],
  );
  assert.deepEqual(
    paths(
      checkMessageBlocks([
        { ...section('a'), block_id: 'b1' },
        { ...section('b'), block_id: 'b1' },
      ]),
    ),
    ['blocks[1].block_id'],
  );
  assert.deepEqual(
    paths(
      checkMessageBlocks([
        {
          type: 'input',
          label: { type: 'plain_text', text: 'l' },
          element: { type: 'plain_text_input', action_id: 'i' },
        },
      ]),
    ),
    ['blocks[0].type'],
  );
  assert.deepEqual(paths(checkMessageText('t'.repeat(40_001))), ['text']);

  const modal = {
    type: 'modal',
    title: { type: 'plain_text', text: 'Title' },
    submit: { type: 'plain_text', text: 'Send' },
    blocks: [
      {
        type: 'input',
        label: { type: 'plain_text', text: 'Why' },
        element: { type: 'plain_text_input', action_id: 'r' },
      },
    ],
  };
  assert.deepEqual(checkView(modal), []);
  assert.deepEqual(paths(checkView({ ...modal, title: { type: 'plain_text', text: 't'.repeat(25) } })), [
    'view.title.text',
  ]);
  assert.deepEqual(paths(checkView({ ...modal, submit: undefined })), ['view.submit']);
  assert.deepEqual(paths(checkView({ ...modal, private_metadata: 'm'.repeat(3001) })), ['view.private_metadata']);
  assert.deepEqual(paths(checkView({ ...modal, blocks: Array.from({ length: 101 }, () => ({ type: 'divider' })) })), [
    'view.blocks',
  ]);
  const select = {
    type: 'input',
    label: { type: 'plain_text', text: 'l' },
    element: { type: 'static_select', action_id: 's', options: [{ text: { type: 'mrkdwn', text: 'o' }, value: 'o' }] },
  };
  assert.deepEqual(paths(checkView({ ...modal, blocks: [select] })), ['view.blocks[0].element.options[0].text.type']);
});

test('the stand-in answers a payload over the limits as Slack does, records why, and keeps nothing of it', async () => {
  await assert.rejects(
    client().chat.postMessage({ channel: 'CSTRICT', text: 'x', blocks: [section('x'.repeat(3001))] as never }),
    (e) => platformError(e) === 'invalid_blocks',
  );
  await assert.rejects(
    client().chat.postMessage({ channel: 'CSTRICT', text: 't'.repeat(40_001) }),
    (e) => platformError(e) === 'msg_too_long',
  );
  await assert.rejects(
    client().views.open({
      trigger_id: '1.2.3',
      view: { type: 'modal', title: { type: 'plain_text', text: 't'.repeat(30) }, blocks: [] },
    }),
    (e) => platformError(e) === 'invalid_arguments',
  );
  const res = await fetch(slack.responseUrl('strict'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'x', blocks: Array.from({ length: 51 }, () => ({ type: 'divider' })) }),
  });
  assert.equal(res.status, 400);
  assert.deepEqual(
    slack.refusals().map((r) => r.refused.error),
    ['invalid_blocks', 'msg_too_long', 'invalid_arguments', 'invalid_blocks'],
  );
  assert.equal(slack.history('CSTRICT').length, 0);
  assert.ok(
    logged.some((l) => l.includes('blocks[0].text.text is 3001 characters, over 3000')),
    logged.join(' | '),
  );
  slack.reset();
});

test('any documented refusal can be injected for the next N calls: an error, an HTTP error with a body, or 429 with Retry-After', async () => {
  slack.failNext('conversations.info', 2, { error: 'channel_not_found' });
  for (let i = 0; i < 2; i++)
    await assert.rejects(
      client().conversations.info({ channel: 'CX' }),
      (e) => platformError(e) === 'channel_not_found',
    );
  assert.equal((await client().conversations.info({ channel: 'CX' })).ok, true, 'only the next two');
  slack.failNext('usergroups.users.list', 1, { status: 429, retryAfter: 7 });
  await assert.rejects(
    client().usergroups.users.list({ usergroup: 'S1' }),
    (e) => (e as { retryAfter?: number }).retryAfter === 7,
  );
  slack.failNext('response_url', 1, { status: 404, error: 'expired_url' });
  const dead = await fetch(slack.responseUrl('dead'), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text: 'late' }),
  });
  assert.equal(dead.status, 404);
  assert.deepEqual(await dead.json(), { ok: false, error: 'expired_url' });
  slack.reset();
});
