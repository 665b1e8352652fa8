// `DATABASE_URL=… npm run playground`: the playground watches an existing server instead of the demo, and
// is read-only unless PGSESSIONS_READ_ONLY=false is given explicitly — the page says which, and a kill
// asked for in read-only mode is refused with the session left alone.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { loadPlaygroundConfig } from '../../src/config.js';
import { startPlayground, type Playground } from '../../src/playground/playground.js';
import { serverUrl } from '../helpers/pg.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { sessionTracker } from '../helpers/approval-flow.js';

const sessions = sessionTracker();
let playground: Playground | undefined;
after(async () => {
  await sessions.endAll();
  await playground?.stop();
});

test('settings: the demo may kill; an existing server is read-only unless PGSESSIONS_READ_ONLY=false', () => {
  assert.equal(loadPlaygroundConfig({}).readOnly, false);
  assert.equal(loadPlaygroundConfig({}).port, 3030);
  assert.equal(loadPlaygroundConfig({ DATABASE_URL: 'postgres://a@b/c' }).readOnly, true);
  assert.equal(loadPlaygroundConfig({ DATABASE_URL: 'postgres://a@b/c', PGSESSIONS_READ_ONLY: '' }).readOnly, true);
  assert.equal(loadPlaygroundConfig({ DATABASE_URL: 'postgres://a@b/c', PGSESSIONS_READ_ONLY: 'true' }).readOnly, true);
  assert.equal(loadPlaygroundConfig({ DATABASE_URL: 'postgres://a@b/c', PGSESSIONS_READ_ONLY: 'false' }).readOnly, false);
  assert.throws(() => loadPlaygroundConfig({ PLAYGROUND_PORT: 'abc', DATABASE_URL: 'mysql://x' }), /PLAYGROUND_PORT[\s\S]*DATABASE_URL/);
});

test('against an existing server the page says read-only, and a terminate is refused with the session alive', async () => {
  const victim = sessions.track(await sleepSession(serverUrl(), { seconds: 120, application: 'playground-existing' }));
  playground = await startPlayground({ PLAYGROUND_PORT: '0', DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' }, { log: () => undefined });
  assert.equal(playground.incident, null, 'no demo incident on somebody else’s server');
  assert.equal(playground.readOnly, true);

  const origin = new URL(playground.url).origin;
  const state = async () => (await (await fetch(`${origin}/ui/state?as=URILEY&channel=CINCIDENTS`)).json()) as { banner: { mode: string; readOnly: boolean; target: string }; canReset: boolean; timeline: string };
  const first = await state();
  assert.deepEqual([first.banner.mode, first.banner.readOnly, first.canReset], ['existing', true, false]);
  assert.ok(!first.banner.target.includes(new URL(serverUrl()).password), 'the banner names the server without its password');

  const res = await fetch(`${origin}/ui/command`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ as: 'URILEY', channel: 'CINCIDENTS', text: `/pgsessions terminate ${victim.pid} trying` }),
  });
  assert.equal(res.status, 200);
  const deadline = Date.now() + 15_000;
  let timeline = '';
  while (Date.now() < deadline && !/read-only/i.test(timeline)) {
    timeline = (await state()).timeline;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.match(timeline, /read-only/i, 'the requester is told the playground is read-only');
  assert.equal(playground.slack.callsTo('chat.postMessage').filter((c) => c.params.channel === 'CINCIDENTS').length, 0, 'no approval request was posted');
  assert.equal(await sessionAlive(serverUrl(), victim.pid, victim.backendStart), true);
});
