// Kills that could never work are refused before anyone approves: a cancel of a session running no query,
// sessions the bot's role may not signal (superusers', another role's without pg_signal_backend), and the
// managed services' own roles. Real sessions, the real app over signed HTTP, the real pg_stat_activity after.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import {
  activityRow,
  blockedQuery,
  idleInTransactionLockHolder,
  sessionAlive,
  sleepSession,
  walsender,
} from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  click,
  command,
  fresh,
  sessionTracker,
  sleep,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { allText, ask, killButtons, rowFor } from '../helpers/replies.js';
import { asSuperuser, createRole, type TestRole } from '../helpers/roles.js';
import { viewSubmission } from '../helpers/slack-requests.js';
import { ACTION, encodeModalMetadata, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

let plainApp: TestApp; // the bot with exactly pg_monitor + pg_signal_backend
let bot: TestRole;
let plain: TestRole; // an ordinary application role
const sessions = sessionTracker();
const track = sessions.track;

// The fixture's app is the bot as the suite's superuser: only the query and protection rules apply.
const {
  db,
  slack,
  app: superApp,
} = useTestApp({
  database: 'lim',
  async prepare() {
    bot = await createRole({ prefix: 'limbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
    plain = await createRole({ prefix: 'limapp' });
  },
  start: { terminateTimeoutMs: 3_000 },
  async ready() {
    plainApp = await startTestApp(baseEnv(bot.url(db.url), slack, { STATE_DATABASE_URL: db.url }), {
      terminateTimeoutMs: 3_000,
    });
  },
  sessions,
  async teardown() {
    await plainApp?.stop();
  },
});
// After the fixture's teardown: the roles outlive the database.
after(async () => {
  await bot?.drop();
  await plain?.drop();
});

/** A connection that never ran a query: pg_stat_activity shows it idle with query_start NULL. */
async function neverQueried(url: string, application: string): Promise<{ pid: number; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: url, application_name: application });
  client.on('error', () => undefined);
  await client.connect();
  const pid = (client as unknown as { processID: number }).processID;
  return { pid, end: () => client.end().catch(() => undefined) };
}

// ---- a cancel needs a running query ------------------------------------------------------------------

test('a typed cancel of a session that never ran a query is refused, with escalate: too, and changes nothing', async () => {
  const channel = fresh('C');
  const idle = track(await neverQueried(db.url, 'never-queried'));
  const row = await activityRow(db.url, idle.pid);
  assert.equal(row?.state, 'idle');
  assert.equal(row?.query_start, null, 'the session really never ran a query');
  for (const text of [`cancel ${idle.pid} nothing runs`, `cancel ${idle.pid} escalate:10s nothing runs`]) {
    const { text: reply } = await command(slack, superApp.port, text, as(REQUESTER, channel));
    assert.match(reply, /not running a query.*cancelling does nothing/, `${text} → ${reply}`);
  }
  assert.equal(approvalPosts(slack, channel).length, 0, 'no approval request was posted');
  // Terminating it is still possible: the session itself is there to end.
  await typedRequest(slack, superApp.port, `terminate ${idle.pid} idle connection`, as(REQUESTER, channel));
  assert.equal(await sessionAlive(db.url, idle.pid), true);
});

test('a typed cancel of an idle session that ran a query before is refused too', async () => {
  const channel = fresh('C');
  const client = new pg.Client({ connectionString: db.url, application_name: 'was-busy' });
  client.on('error', () => undefined);
  await client.connect();
  sessions.defer(() => client.end());
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const pid = rows[0]!.pid;
  assert.ok((await activityRow(db.url, pid))?.query_start, 'query_start is set, the session is idle');
  const { text } = await command(slack, superApp.port, `cancel ${pid} old query`, as(REQUESTER, channel));
  assert.match(text, /not running a query/);
  assert.equal(approvalPosts(slack, channel).length, 0);
});

test('a forged Cancel button for an idle session is refused at submission, nothing is requested', async () => {
  const channel = fresh('C');
  const idle = track(await neverQueried(db.url, 'forged-cancel'));
  const row = (await activityRow(db.url, idle.pid))!;
  // What an attacker can sign: a request form for a cancel our listing never offers (no Cancel on idle rows).
  const res = await viewSubmission(superApp.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.request,
    privateMetadata: encodeModalMetadata({
      target: { cluster: 'default', pid: idle.pid, backendStart: row.backend_start, queryStart: null, kind: 'cancel' },
      channel,
    }),
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'forged' } } },
  });
  assert.equal(res.status, 200);
  const told = await slack.waitFor(() => slack.callsTo('chat.postEphemeral').find((c) => c.params.channel === channel));
  assert.match(String(told.params.text), /not running a query/);
  assert.equal(approvalPosts(slack, channel).length, 0);
});

test('a cancel approved after its query finished on its own says nothing was cancelled, and the session lives on', async () => {
  const channel = fresh('C');
  const short = track(await sleepSession(db.url, { seconds: 2, application: 'short-query' }));
  const { id } = await typedRequest(
    slack,
    superApp.port,
    `cancel ${short.pid} will finish anyway`,
    as(REQUESTER, channel),
  );
  assert.equal(await short.finished, null, 'the query ran to its end');
  for (let i = 0; i < 100 && (await activityRow(db.url, short.pid))?.state !== 'idle'; i++) await sleep(50);
  await click(slack, superApp.port, ACTION.approve, id, as(APPROVER, channel));
  const done = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(done.result?.outcomes[0]?.outcome, 'gone', JSON.stringify(done.result));
  assert.match(done.result?.outcomes[0]?.message ?? '', /already finished: nothing was cancelled/);
  assert.equal(await sessionAlive(db.url, short.pid, short.backendStart), true);
});

test('the signal statement itself never cancels without a query identity (defence below the request check)', async () => {
  const { signalQuery } = await import('../../src/postgres/session-sql.js');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'sql-guard' }));
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    const version = Number((await client.query('SHOW server_version_num')).rows[0].server_version_num);
    const q = signalQuery(
      version,
      'cancel',
      { pid: victim.pid, backendStart: victim.backendStart, queryStart: null, backendType: 'client backend' },
      { protectedRoles: [], protectedApps: [], terminateTimeoutMs: 1000 },
    );
    assert.equal((await client.query(q.text, q.values)).rowCount, 0, 'a NULL query_start matches no query');
  } finally {
    await client.end();
  }
  assert.equal((await activityRow(db.url, victim.pid))?.state, 'active', 'the query still runs');
});

// ---- what the bot's role can never signal ---------------------------------------------------------------

test('a superuser session, seen by a bot that is not one, is listed without buttons and says why; typed requests are refused', async () => {
  const channel = fresh('C');
  const su = track(await sleepSession(db.url, { seconds: 120, application: 'su-sleeper' })); // the suite's superuser
  const app = track(await sleepSession(plain.url(db.url), { seconds: 120, application: 'plain-sleeper' }));
  const reply = (await ask(plainApp, slack, `db:${db.name}`)).reply;
  assert.deepEqual(rowFor(reply, su.pid).buttons, [], 'no button that could only end in "permission denied"');
  assert.match(allText(reply), /superuser session: the bot’s role cannot signal it/);
  assert.deepEqual(
    rowFor(reply, app.pid).buttons.map((b) => b.label),
    ['Cancel', 'Terminate'],
    'an ordinary role keeps its buttons',
  );
  for (const text of [
    `terminate ${su.pid} superuser`,
    `cancel ${su.pid} superuser`,
    `cancel ${su.pid} escalate:5s superuser`,
  ]) {
    const { text: answer } = await command(slack, plainApp.port, text, as(REQUESTER, channel));
    assert.match(
      answer,
      /would refuse this whatever anyone approves, so nothing was requested — superuser session/,
      `${text} → ${answer}`,
    );
  }
  assert.equal(approvalPosts(slack, channel).length, 0);
  assert.equal(await sessionAlive(db.url, su.pid, su.backendStart), true);
});

test('a superuser lock holder in `blocking` and a superuser walsender in `replication` get no buttons either, and say why', async () => {
  const table = `lim_${Date.now()}`;
  const owner = new pg.Client({ connectionString: db.url });
  await owner.connect();
  await owner.query(`CREATE TABLE ${table} (id int)`);
  await owner.end();
  const ws = track(await walsender(db.url, { application: `su-standby-${Date.now()}` })); // before any xid is held
  const holder = track(await idleInTransactionLockHolder(db.url, table));
  track(await blockedQuery(db.url, table));
  const blocking = (await ask(plainApp, slack, 'blocking')).reply;
  assert.deepEqual(rowFor(blocking, holder.pid).buttons, []);
  assert.match(allText(blocking), /superuser session: the bot’s role cannot signal it/);
  const replication = (await ask(plainApp, slack, 'replication')).reply;
  const text = allText(replication);
  assert.ok(text.includes(ws.applicationName), text);
  assert.deepEqual(killButtons(replication), [], 'no End walsender button for a superuser walsender');
  assert.match(text, /superuser session: the bot’s role cannot signal it/);
});

test('a role that was made superuser after the request is refused by the server: reported as permission denied, decided by SQLSTATE', async () => {
  const channel = fresh('C');
  const victim = await createRole({ prefix: 'limvictim' });
  sessions.defer(() => victim.drop());
  const s = track(await sleepSession(victim.url(db.url), { seconds: 120, application: 'promoted' }));
  const { id } = await typedRequest(slack, plainApp.port, `terminate ${s.pid} promoted later`, as(REQUESTER, channel));
  await asSuperuser(`ALTER ROLE ${victim.name} SUPERUSER`);
  await click(slack, plainApp.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'failed');
  assert.equal(row.result?.outcomes[0]?.outcome, 'permission_denied');
  // The server's own words, then what would help — read from the catalogs, not from those words.
  assert.match(row.result?.outcomes[0]?.message ?? '', /permission denied|must be a superuser/);
  assert.match(row.result?.outcomes[0]?.message ?? '', /a superuser’s session can only be signalled by a superuser/);
  assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true);
});

test('without pg_signal_backend, another role’s session gets no buttons and says the grant it needs; a typed request is refused', async () => {
  const channel = fresh('C');
  const watcher = await createRole({ prefix: 'limwatch', memberOf: ['pg_monitor'] });
  const app = await startTestApp(baseEnv(watcher.url(db.url), slack, { STATE_DATABASE_URL: db.url }));
  sessions.defer(() => watcher.drop());
  sessions.defer(() => app.stop(), { first: true });
  const other = track(await sleepSession(plain.url(db.url), { seconds: 120, application: 'other-role' }));
  const reply = (await ask(app, slack, 'app:other-role')).reply;
  assert.deepEqual(rowFor(reply, other.pid).buttons, []);
  assert.match(
    allText(reply),
    /another role’s session: the bot’s role cannot signal it \(it needs pg_signal_backend\)/,
  );
  const { text } = await command(slack, app.port, `terminate ${other.pid} no grant`, as(REQUESTER, channel));
  assert.match(text, /would refuse this whatever anyone approves, so nothing was requested — another role’s session/);
  assert.equal(approvalPosts(slack, channel).length, 0);
});

// ---- managed services' own roles -------------------------------------------------------------------------

test('a session of a managed service’s role (cloudsqladmin) gets no buttons and a typed terminate is refused, without any setting', async () => {
  const channel = fresh('C');
  const provider = await createRole({ name: 'cloudsqladmin' });
  sessions.defer(() => provider.drop());
  const s = track(await sleepSession(provider.url(db.url), { seconds: 120, application: 'provider-maintenance' }));
  const reply = (await ask(superApp, slack, 'app:provider-maintenance')).reply;
  assert.deepEqual(rowFor(reply, s.pid).buttons, []);
  const { text } = await command(slack, superApp.port, `terminate ${s.pid} provider`, as(REQUESTER, channel));
  assert.match(text, /protected role/);
  assert.equal(approvalPosts(slack, channel).length, 0);
  assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true);
});
