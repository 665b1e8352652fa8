// The README's least-privilege setup, exactly: a role with pg_monitor and pg_signal_backend and CREATE on the
// database that holds the state — no superuser. The app starts with it (it creates its own schema), says
// what the role can and cannot do, and a terminate and a cancel of another role's session go through.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { activityRow, sessionAlive, sleepSession, waitUntilGone } from '../helpers/sessions.js';
import { APPROVER, REQUESTER } from '../helpers/app.js';
import { as, click, fresh, sessionTracker, stateQuery, typedRequest, waitForStatus } from '../helpers/approval-flow.js';
import { asSuperuser, createRole, type TestRole } from '../helpers/roles.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

let bot: TestRole;
let victim: TestRole;
const sessions = sessionTracker();
// STATE_DATABASE_URL unset: the state lives in DATABASE_URL, created by the bot's own role.
const { db, slack, app } = useTestApp({
  database: 'lp',
  async prepare(database) {
    // The README's "The database role" section, statement for statement.
    bot = await createRole({ prefix: 'lpbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
    await asSuperuser(`GRANT CREATE ON DATABASE ${database.name} TO ${bot.name}`);
    victim = await createRole({ prefix: 'lpapp' });
  },
  env: (database) => ({ DATABASE_URL: bot.url(database.url) }),
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});
after(async () => {
  // After the database: the bot's role owns the state schema in it.
  await bot?.drop();
  await victim?.drop();
});

/** The start-up log lines (pino JSON) of this run. */
function startupMessages(): Array<Record<string, unknown>> {
  return app.logs.flatMap((line) => {
    try {
      return [JSON.parse(line) as Record<string, unknown>];
    } catch {
      return [];
    }
  });
}

test('the role really is the README’s: no superuser, pg_monitor and pg_signal_backend, and it owns the state schema it created', async () => {
  const [role] = await stateQuery<{ rolsuper: boolean; monitor: boolean; signal: boolean }>(
    db.url,
    `SELECT rolsuper, pg_has_role($1, 'pg_monitor', 'USAGE') AS monitor, pg_has_role($1, 'pg_signal_backend', 'USAGE') AS signal FROM pg_roles WHERE rolname = $1`,
    [bot.name],
  );
  assert.deepEqual(role, { rolsuper: false, monitor: true, signal: true });
  const [schema] = await stateQuery<{ owner: string }>(
    db.url,
    `SELECT nspowner::regrole::text AS owner FROM pg_namespace WHERE nspname = 'pgsessions'`,
  );
  assert.equal(schema?.owner, bot.name);
});

test('start-up says what the role can and cannot do', () => {
  const logs = startupMessages();
  const said = (msg: string) => logs.find((l) => l.msg === msg);
  const checked = said('cluster role checked');
  assert.ok(checked, 'the role check is logged');
  assert.equal(checked.role, bot.name);
  assert.equal(checked.superuser, false);
  assert.equal(checked.readAllStats, true);
  assert.equal(checked.signalBackend, true);
  for (const line of [
    'the bot role can see every session and its query (pg_read_all_stats)',
    'the bot role can cancel and terminate other roles\u2019 sessions (pg_signal_backend)',
    'the bot role cannot cancel or terminate superusers\u2019 sessions or processes without a role: they are listed without buttons',
  ]) {
    const entry = said(line);
    assert.ok(entry, `start-up says: ${line}\n(said: ${logs.map((l) => l.msg).join(' | ')})`);
    assert.equal(entry.cluster, 'default');
  }
  // Nothing it has is reported missing.
  assert.ok(
    !logs.some((l) => /^no pg_(read_all_stats|signal_backend)/.test(String(l.msg))),
    'no warning about a grant it has',
  );
});

test('an approved terminate of another role’s session ends it', async () => {
  const channel = fresh('C');
  const s = sessions.track(await sleepSession(victim.url(db.url), { seconds: 120, application: 'lp-terminate' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${s.pid} least privilege`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.deepEqual(row.result?.outcomes, [{ pid: s.pid, outcome: 'terminated' }]);
  await waitUntilGone(db.url, s.pid);
});

test('an approved cancel of another role’s query stops the query and keeps the session', async () => {
  const channel = fresh('C');
  const s = sessions.track(await sleepSession(victim.url(db.url), { seconds: 120, application: 'lp-cancel' }));
  const { id } = await typedRequest(slack, app.port, `cancel ${s.pid} least privilege`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.deepEqual(row.result?.outcomes, [{ pid: s.pid, outcome: 'cancelled' }]);
  const error = await s.finished;
  assert.match(String(error?.message), /canceling statement due to user request/);
  assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true, 'a cancel leaves the session');
  assert.notEqual((await activityRow(db.url, s.pid))?.state, 'active');
});
