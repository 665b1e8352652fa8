// `DATABASE_URL=… npm run playground`: the playground watches an existing server instead of the demo, and
// is read-only unless PGSESSIONS_READ_ONLY=false is given explicitly — the page says which, and a kill
// asked for in read-only mode is refused with the session left alone.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, test } from 'node:test';
import { loadPlaygroundConfig } from '../../src/config.js';
import { startPlayground, type Playground } from '../../src/playground/playground.js';
import { networkInterfaces } from 'node:os';
import { connect } from 'node:net';
import { createTestDatabase, serverUrl } from '../helpers/pg.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { sessionTracker, stateQuery } from '../helpers/approval-flow.js';

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
  assert.equal(
    loadPlaygroundConfig({ DATABASE_URL: 'postgres://a@b/c', PGSESSIONS_READ_ONLY: 'false' }).readOnly,
    false,
  );
  assert.throws(
    () => loadPlaygroundConfig({ PLAYGROUND_PORT: 'abc', DATABASE_URL: 'mysql://x' }),
    /PLAYGROUND_PORT[\s\S]*DATABASE_URL/,
  );
  assert.ok(
    !('stateDatabaseUrl' in loadPlaygroundConfig({ STATE_DATABASE_URL: 'postgres://a@b/c' })),
    'STATE_DATABASE_URL is not a playground setting',
  );
});

test('against an existing server the page says read-only, and a terminate is refused with the session alive', async () => {
  const victim = sessions.track(await sleepSession(serverUrl(), { seconds: 120, application: 'playground-existing' }));
  playground = await startPlayground(
    { PLAYGROUND_PORT: '0', DATABASE_URL: serverUrl(), LOG_LEVEL: 'warn' },
    { log: () => undefined },
  );
  assert.equal(playground.incident, null, 'no demo incident on somebody else’s server');
  assert.equal(playground.readOnly, true);

  const origin = new URL(playground.url).origin;
  const state = async () =>
    (await (await fetch(`${origin}/ui/state?as=URILEY&channel=CINCIDENTS`)).json()) as {
      banner: { mode: string; readOnly: boolean; target: string };
      canReset: boolean;
      timeline: string;
    };
  const first = await state();
  assert.deepEqual([first.banner.mode, first.banner.readOnly, first.canReset], ['existing', true, false]);
  assert.ok(
    !first.banner.target.includes(new URL(serverUrl()).password),
    'the banner names the server without its password',
  );

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
  assert.equal(
    playground.slack.callsTo('chat.postMessage').filter((c) => c.params.channel === 'CINCIDENTS').length,
    0,
    'no approval request was posted',
  );
  assert.equal(await sessionAlive(serverUrl(), victim.pid, victim.backendStart), true);
});

/** Whether a TCP connection to host:port is accepted. */
function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host, port, timeout: 2_000 });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}

test('the playground never uses STATE_DATABASE_URL or PGSESSIONS_AUDIT_KEY from the shell, binds 127.0.0.1, and its stand-in wants its Host and token', async () => {
  await playground?.stop();
  const production = await createTestDatabase('notplayground');
  try {
    // Someone runs the playground from a shell that holds production's settings, kills allowed.
    playground = await startPlayground(
      {
        PLAYGROUND_PORT: '0',
        DATABASE_URL: serverUrl(),
        PGSESSIONS_READ_ONLY: 'false',
        STATE_DATABASE_URL: production.url,
        PGSESSIONS_AUDIT_KEY: 'k'.repeat(48),
        LOG_LEVEL: 'warn',
      },
      { log: () => undefined },
    );
    assert.notEqual(playground.app.config.stateDatabaseUrl, production.url, "the state is the playground's own");
    assert.equal(playground.app.config.auditKey, null, 'no production key signs play entries');
    const [schema] = await stateQuery<{ n: number }>(
      production.url,
      "SELECT count(*)::int AS n FROM pg_namespace WHERE nspname = 'pgsessions'",
    );
    assert.equal(schema!.n, 0, 'nothing was written to the state database in the shell');

    // The app inside and the stand-in answer on loopback only.
    assert.equal(await reachable('127.0.0.1', playground.app.port), true);
    const external = Object.values(networkInterfaces())
      .flat()
      .find((i) => i && i.family === 'IPv4' && !i.internal);
    if (external)
      assert.equal(
        await reachable(external.address, playground.app.port),
        false,
        `the app answers on ${external.address}`,
      );

    // The stand-in: without the per-run token, or under another Host, 403 and nothing recorded.
    const origin = new URL(playground.slack.url).origin;
    const before = playground.slack.calls.length;
    assert.equal((await fetch(`${origin}/api/auth.test`, { method: 'POST' })).status, 403);
    const rebinding = await new Promise<number>((resolve, reject) => {
      const u = new URL(playground!.slack.url);
      const req = request(
        {
          host: '127.0.0.1',
          port: Number(u.port),
          path: `${u.pathname}auth.test`,
          method: 'POST',
          headers: { host: `evil.example:${u.port}` },
        },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.on('error', reject);
      req.end();
    });
    assert.equal(rebinding, 403);
    assert.equal(playground.slack.calls.length, before, 'refused calls were not recorded');
    assert.equal(
      (await fetch(`${playground.slack.url}auth.test`, { method: 'POST' })).status,
      200,
      'with the token, it answers',
    );

    // The page says that kills are real and that anyone reaching it can play both people.
    const state = (await (
      await fetch(`${new URL(playground.url).origin}/ui/state?as=URILEY&channel=CINCIDENTS`)
    ).json()) as { banner: { mode: string; readOnly: boolean } };
    assert.deepEqual([state.banner.mode, state.banner.readOnly], ['existing', false]);
  } finally {
    await playground?.stop();
    playground = undefined;
    await production.drop();
  }
});
