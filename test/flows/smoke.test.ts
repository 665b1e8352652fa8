import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { slashCommand } from '../helpers/slack-requests.js';
import { sleepSession } from '../helpers/sessions.js';
import { baseEnv, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';

let db: TestDatabase; let slack: SlackApi; let app: TestApp;
before(async () => { db = await createTestDatabase('smoke'); slack = await startSlackApi(); app = await startTestApp(baseEnv(db.url, slack)); });
after(async () => { await app?.stop(); await slack?.close(); await db?.drop(); });

test('smoke: listing shows a long sleeper', async () => {
  const s = await sleepSession(db.url, { seconds: 60 });
  const res = await slashCommand(app.port, SIGNING_SECRET, { text: '', responseUrl: slack.responseUrl('a') });
  assert.equal(res.status, 200);
  const r = await slack.waitFor(() => slack.responsesTo('a')[0]);
  console.log(JSON.stringify(r.body).slice(0, 1500));
  assert.match(JSON.stringify(r.body), new RegExp(String(s.pid)));
  await s.end();
});
