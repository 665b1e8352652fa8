// The cap counts only what acted: a match the server refused to signal (a superuser's DDL, which the bot's
// role may never signal) is audited but gives its slot back, so a rule with max:1 stays active and the next
// real match is executed — and then the rule ends at its cap. Real roles, real sessions, the real app.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { activityRow, blockedQuery, longRead } from '../helpers/sessions.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { buttonsIn, click, command, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/ids.js';

const PROPOSER = 'UAPP2';
const CHANNEL = 'COPS04';

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
/** The bot's role: it sees every session and may signal other roles' — never a superuser's. */
let bot: TestRole;
/** The role the deploy's migrations run as; it owns the table. */
let migrator: TestRole;
const sessions = sessionTracker();
const track = sessions.track;

before(async () => {
  db = await createTestDatabase('rulecap');
  bot = await createRole({ prefix: 'rcapbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
  migrator = await createRole({ prefix: 'rcapmig' });
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await c.query(`ALTER TABLE orders OWNER TO ${migrator.name}`);
  await c.end();
  slack = await startSlackApi();
  app = await startTestApp(
    baseEnv(bot.url(db.url), slack, {
      ...watchEnv({ PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}`, PGSESSIONS_VIEWERS: `${REQUESTER},${APPROVER},${PROPOSER}` }),
      STATE_DATABASE_URL: db.url,
    }),
    { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  );
});
afterEach(async () => {
  await sessions.endAll();
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await bot?.drop();
  await migrator?.drop();
});

const executions = (ruleId: string) =>
  stateQuery<{ pid: number; outcome: string | null }>(db.url, 'SELECT pid, outcome FROM pgsessions.rule_executions WHERE rule_id = $1 ORDER BY claimed_at', [ruleId]);
const ruleRow = async (id: string) =>
  (await stateQuery<{ status: string; used: number; message_ts: string }>(db.url, 'SELECT status, used, message_ts FROM pgsessions.rules WHERE id = $1', [id]))[0]!;

async function waitFor<T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

test('max:1 and a first match the server refuses to signal: the slot is given back, the rule stays active, and the next real match is executed', async () => {
  const reply = await command(slack, app.port, 'allow cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:1 deploy window', { user: PROPOSER, channel: CHANNEL });
  assert.match(reply.text, /Rule proposed/, reply.text);
  const post = await slack.waitFor(
    () => slack.callsTo('chat.postMessage').find((c) => c.params.channel === CHANNEL && buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.ruleApprove)),
    { description: 'the proposal' },
  );
  const id = buttonsIn(post.params.blocks).find((b) => b.action_id === ACTION.ruleApprove)!.value;
  assert.match(await (await click(slack, app.port, ACTION.ruleApprove, id, { user: APPROVER, channel: CHANNEL })).reply(), /Rule approved/);

  track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  // A superuser's DDL: the rule matches it, the server refuses the signal.
  const refused = track(await blockedQuery(db.url, 'orders', { statement: 'ALTER TABLE orders ADD COLUMN a int', application: 'rails-migrate' }));
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  await waitFor('the refused execution', async () => (await executions(id)).some((e) => e.pid === refused.pid && e.outcome === 'permission_denied'));
  const afterRefusal = await ruleRow(id);
  assert.deepEqual([afterRefusal.status, afterRefusal.used], ['approved', 0], 'nothing acted: the slot is back and the rule goes on');
  await slack.waitFor(
    () => slack.callsTo('chat.update').find((c) => c.params.ts === afterRefusal.message_ts && new RegExp(`0 of 1 used, last at .* pid ${refused.pid}.*permission denied: not counted`).test(textOf(c.params))),
    { description: 'the rule message saying the refusal did not count' },
  );
  await sleep(2_500); // more looks: the refused statement is not tried again
  assert.equal((await executions(id)).length, 1);
  assert.equal((await activityRow(db.url, refused.pid))?.wait_event_type, 'Lock', 'the superuser’s DDL still waits');
  const [audit] = await stateQuery<{ details: { result: { outcomes: Array<{ outcome: string }> } } }>(
    db.url,
    "SELECT details FROM pgsessions.audit_log WHERE event = 'rule_executed' AND details->>'rule' = $1",
    [id],
  );
  assert.equal(audit?.details.result.outcomes[0]?.outcome, 'permission_denied', 'the refusal is audited');

  // Its owner gives up on it; the deploy's own DDL comes next and is relieved by the rule.
  await refused.end();
  const ddl = track(await blockedQuery(migrator.url(db.url), 'orders', { statement: 'ALTER TABLE orders ADD COLUMN b int', application: 'rails-migrate' }));
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/);
  const ended = await waitFor('the rule to end at its cap', async () => {
    const row = await ruleRow(id);
    return row.status === 'exhausted' ? row : undefined;
  });
  assert.equal(ended.used, 1);
  assert.deepEqual((await executions(id)).map((e) => [e.pid, e.outcome]), [
    [refused.pid, 'permission_denied'],
    [ddl.pid, 'cancelled'],
  ]);
  const events = await stateQuery<{ event: string }>(db.url, "SELECT event FROM pgsessions.audit_log WHERE details->>'rule' = $1 ORDER BY seq", [id]);
  assert.deepEqual(events.map((e) => e.event), ['rule_proposed', 'rule_approved', 'rule_executed', 'rule_executed', 'rule_ended']);
});
