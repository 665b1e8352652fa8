import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { slashCommand, blockAction } from '../helpers/slack-requests.js';
import { sleepSession, sessionAlive } from '../helpers/sessions.js';
import { baseEnv, SIGNING_SECRET, startTestApp, type TestApp, APPROVER, REQUESTER } from '../helpers/app.js';
import { ACTION } from '../../src/slack/ids.js';

let db: TestDatabase; let slack: SlackApi; let app: TestApp;
before(async () => { db = await createTestDatabase('appr'); slack = await startSlackApi(); app = await startTestApp(baseEnv(db.url, slack)); });
after(async () => { await app?.stop(); await slack?.close(); await db?.drop(); });

test('smoke: typed terminate, approve, gone', async () => {
  const s = await sleepSession(db.url, { seconds: 60 });
  await slashCommand(app.port, SIGNING_SECRET, { text: `terminate ${s.pid} migration stuck`, userId: REQUESTER, responseUrl: slack.responseUrl('a') });
  const r = await slack.waitFor(() => slack.responsesTo('a')[0]);
  console.log(JSON.stringify(r.body).slice(0, 500));
  const post = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.params.channel === 'CINC'));
  console.log(JSON.stringify(post.params).slice(0, 3000));
  const blocks = post.params.blocks as any[];
  const actions = blocks.find((b) => b.type === 'actions');
  const approve = actions.elements.find((e: any) => e.action_id === ACTION.approve);
  const res = await blockAction(app.port, SIGNING_SECRET, { userId: APPROVER, channelId: 'CINC', actionId: ACTION.approve, value: approve.value, responseUrl: slack.responseUrl('b'), messageTs: '1' });
  assert.equal(res.status, 200);
  const upd = await slack.waitFor(() => slack.callsTo('chat.update').find((c) => JSON.stringify(c.params).includes('erminated')), { timeoutMs: 10000 });
  console.log(JSON.stringify(upd.params).slice(0, 2000));
  assert.equal(await sessionAlive(db.url, s.pid), false);
  await slack.waitFor(() => slack.callsTo('chat.postMessage').filter((c) => c.params.channel === 'CAUDIT01').length >= 4, { timeoutMs: 10000 });
  for (const c of slack.callsTo('chat.postMessage')) console.log(c.params.channel, String(c.params.text).slice(0, 200));
});
