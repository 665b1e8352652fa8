// When the database refuses, or the state database is gone: plain words to the people involved, no crash,
// and nothing executed that the record does not show.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createTestDatabase, serverUrl } from '../helpers/pg.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const BOT_ROLE = `pgsbot_${randomBytes(4).toString('hex')}`;
const BOT_PASSWORD = 'bot-password';

const sessions = sessionTracker();
const track = sessions.track;
// Each test starts its own app.
const { db, slack } = useTestApp({ database: 'fail', app: false, sessions });

before(async () => {
  await stateQuery(
    serverUrl(),
    `CREATE ROLE ${BOT_ROLE} LOGIN PASSWORD '${BOT_PASSWORD}' IN ROLE pg_monitor, pg_signal_backend`,
  );
});
// After the fixture's teardown has dropped the database.
after(async () => {
  await stateQuery(serverUrl(), `DROP ROLE IF EXISTS ${BOT_ROLE}`).catch(() => undefined);
});

test("terminating a superuser's session as a non-superuser bot is refused before anyone approves, in plain words", async () => {
  const channel = fresh('C');
  const u = new URL(db.url);
  u.username = BOT_ROLE;
  u.password = BOT_PASSWORD;
  // The bot manages the cluster as a plain role; its state stays in a database it can write.
  const app = await startTestApp(baseEnv(u.toString(), slack, { STATE_DATABASE_URL: db.url }), {
    terminateTimeoutMs: 3_000,
  });
  sessions.defer(() => app.stop());
  const victim = track(await sleepSession(db.url, { seconds: 120 })); // as the superuser
  // The server would refuse the signal whatever anyone approves (only a superuser may signal a superuser's
  // backend): said now, instead of a request that can only end in "permission denied". The server's own
  // refusal after an approval is covered in signal-limits.test.ts (a role made superuser after the request).
  const { text } = await command(slack, app.port, `terminate ${victim.pid} superuser job`, as(REQUESTER, channel));
  assert.match(text, /superuser session: the bot’s role cannot signal it/);
  assert.equal(approvalPosts(slack, channel).length, 0);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.ok(!app.logs.some((l) => /unhandled error|command failed/.test(l)), 'no crash, no bug path');
});

test('a typed terminate of a session the bot role cannot see (no pg_monitor) is refused plainly, not as a crash', async () => {
  const channel = fresh('C');
  const weak = `pgsweak_${randomBytes(4).toString('hex')}`;
  await stateQuery(serverUrl(), `CREATE ROLE ${weak} LOGIN PASSWORD 'weak-password' IN ROLE pg_signal_backend`);
  sessions.defer(() => stateQuery(serverUrl(), `DROP ROLE IF EXISTS ${weak}`));
  const u = new URL(db.url);
  u.username = weak;
  u.password = 'weak-password';
  const app = await startTestApp(baseEnv(u.toString(), slack, { STATE_DATABASE_URL: db.url }));
  sessions.defer(() => app.stop(), { first: true }); // stop before the role is dropped
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const { text } = await command(slack, app.port, `terminate ${victim.pid} hidden`, as(REQUESTER, channel));
  assert.match(text, /cannot see that session/);
  assert.match(text, /pg_monitor/);
  assert.equal(approvalPosts(slack, channel).length, 0);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});

test('with the state database unreachable an approval is refused plainly and nothing is executed', async () => {
  const channel = fresh('C');
  const state = await createTestDatabase('state');
  const app = await startTestApp(baseEnv(db.url, slack, { STATE_DATABASE_URL: state.url }), {
    terminateTimeoutMs: 3_000,
  });
  let down = false;
  const bringBack = async () => {
    if (down) await stateQuery(serverUrl(), `ALTER DATABASE ${state.name} ALLOW_CONNECTIONS true`);
    down = false;
  };
  try {
    const victim = track(await sleepSession(db.url, { seconds: 120 }));
    const { id } = await typedRequest(
      slack,
      app.port,
      `terminate ${victim.pid} state goes away`,
      as(REQUESTER, channel),
    );

    await stateQuery(serverUrl(), `ALTER DATABASE ${state.name} ALLOW_CONNECTIONS false`);
    down = true;
    await stateQuery(serverUrl(), 'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [
      state.name,
    ]);
    const refused = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
    assert.match(await refused.reply(8_000), /could not record that decision.*nothing was executed/);
    assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);

    await bringBack();
    assert.equal((await requestRow(state.url, id)).status, 'pending', 'nothing was recorded either');
    // Once it is back, the same request can be approved.
    await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
    const row = await waitForStatus(state.url, id, ['executed', 'failed']);
    assert.equal(row.status, 'executed');
    assert.equal(await sessionAlive(db.url, victim.pid), false);
  } finally {
    await bringBack();
    await app.stop();
    await state.drop();
  }
});
