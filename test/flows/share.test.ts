// A listing is shown only to the person who asked; "Share in channel" posts a fresh copy for everyone,
// saying who shared it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockAction } from '../helpers/slack-requests.js';
import { sleepSession } from '../helpers/sessions.js';
import { allText, ask } from '../helpers/replies.js';
import { SIGNING_SECRET } from '../helpers/app.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const { db, slack, app } = useTestApp({ database: 'share' });

function shareButton(blocks: Array<{ type: string; elements?: Array<{ action_id?: string; value?: string }> }>) {
  return blocks.flatMap((b) => b.elements ?? []).find((e) => e.action_id === ACTION.share);
}

test('a listing is ephemeral and offers Share in channel; sharing posts it in the channel, naming who shared it', async () => {
  const sleeper = await sleepSession(db.url, { seconds: 60, application: 'share-me' });
  try {
    const { reply } = await ask(app, slack, 'app:share-me');
    assert.equal(reply.response_type, 'ephemeral');
    const button = shareButton(reply.blocks);
    assert.ok(button, 'no Share button on the listing');
    assert.equal(button.value, 'app:share-me');

    const responseUrl = slack.responseUrl('shared');
    const res = await blockAction(app.port, SIGNING_SECRET, {
      userId: 'USHARER',
      channelId: 'CINC',
      actionId: ACTION.share,
      value: button.value!,
      responseUrl,
    });
    assert.equal(res.status, 200);
    const posted = (await slack.waitFor(() => slack.responsesTo('shared')[0])).body as {
      response_type: string;
      replace_original: boolean;
      blocks: never[];
    };
    assert.equal(posted.response_type, 'in_channel');
    assert.equal(posted.replace_original, false);
    const text = allText(posted as never);
    assert.match(text, /Shared by <@USHARER>/);
    assert.match(text, new RegExp(`pid ${sleeper.pid}`));
    assert.equal(shareButton(posted.blocks), undefined, 'the shared copy should not offer sharing again');
  } finally {
    await sleeper.end();
  }
});

test('a Share button whose value is not a listing command shares nothing', async () => {
  const responseUrl = slack.responseUrl('bad-share');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: 'USHARER',
    channelId: 'CINC',
    actionId: ACTION.share,
    value: 'terminate 1 because',
    responseUrl,
  });
  const answer = (await slack.waitFor(() => slack.responsesTo('bad-share')[0])).body as {
    response_type: string;
    text: string;
  };
  assert.equal(answer.response_type, 'ephemeral');
  assert.match(answer.text, /nothing was shared/);
  assert.equal(slack.callsTo('chat.postMessage').filter((c) => c.params.channel === 'CINC').length, 0);
});
