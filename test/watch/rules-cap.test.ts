// The cap counts only what acted: a match the server refused to signal (a superuser's DDL, which the bot's
// role may never signal) is audited but gives its slot back, so a rule with max:1 stays active and the next
// real match is executed — and then the rule ends at its cap. Real roles, real sessions, the real app.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { activityRow, blockedQuery, longRead } from '../helpers/sessions.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { APPROVER, REQUESTER } from '../helpers/app.js';
import { sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ruleDriver, waitUntil, type RuleDriver } from '../helpers/rules.js';
import { useTestApp } from '../helpers/use-test-app.js';

const PROPOSER = 'UAPP2';
const CHANNEL = 'COPS04';

/** The bot's role: it sees every session and may signal other roles' — never a superuser's. */
let bot: TestRole;
/** The role the deploy's migrations run as; it owns the table. */
let migrator: TestRole;
const sessions = sessionTracker();
const track = sessions.track;

const { db, slack, app } = useTestApp({
  database: 'rulecap',
  async prepare(database) {
    bot = await createRole({ prefix: 'rcapbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
    migrator = await createRole({ prefix: 'rcapmig' });
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
    await stateQuery(database.url, `ALTER TABLE orders OWNER TO ${migrator.name}`);
  },
  env: (database) => ({
    DATABASE_URL: bot.url(database.url),
    ...watchEnv({
      PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}`,
      PGSESSIONS_VIEWERS: `${REQUESTER},${APPROVER},${PROPOSER}`,
    }),
    STATE_DATABASE_URL: database.url,
  }),
  start: { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  sessions,
});
after(async () => {
  await bot?.drop();
  await migrator?.drop();
});
const rules: RuleDriver = ruleDriver(
  slack,
  () => app.port,
  () => db.url,
  CHANNEL,
);

test('max:1 and a first match the server refuses to signal: the slot is given back, the rule stays active, and the next real match is executed', async () => {
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:1 deploy window',
    PROPOSER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);

  track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  // A superuser's DDL: the rule matches it, the server refuses the signal.
  const refused = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN a int',
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  await waitUntil('the refused execution', async () =>
    (await rules.executions(id)).some((e) => e.pid === refused.pid && e.outcome === 'permission_denied'),
  );
  const afterRefusal = await rules.rule(id);
  assert.deepEqual(
    [afterRefusal.status, afterRefusal.used],
    ['approved', 0],
    'nothing acted: the slot is back and the rule goes on',
  );
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) =>
            c.params.ts === afterRefusal.message_ts &&
            new RegExp(`0 of 1 used, last at .* pid ${refused.pid}.*permission denied: not counted`).test(
              textOf(c.params),
            ),
        ),
    { description: 'the rule message saying the refusal did not count' },
  );
  await sleep(2_500); // more looks: the refused statement is not tried again
  assert.equal((await rules.executions(id)).length, 1);
  assert.equal((await activityRow(db.url, refused.pid))?.wait_event_type, 'Lock', 'the superuser’s DDL still waits');
  const audit = (await rules.audit<{ result: { outcomes: Array<{ outcome: string }> } }>(id)).find(
    (a) => a.event === 'rule_executed',
  );
  assert.equal(audit?.details.result.outcomes[0]?.outcome, 'permission_denied', 'the refusal is audited');

  // Its owner gives up on it; the deploy's own DDL comes next and is relieved by the rule.
  await refused.end();
  const ddl = track(
    await blockedQuery(migrator.url(db.url), 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN b int',
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/);
  const ended = await waitUntil('the rule to end at its cap', async () => {
    const row = await rules.rule(id);
    return row.status === 'exhausted' ? row : undefined;
  });
  assert.equal(ended.used, 1);
  assert.deepEqual(
    (await rules.executions(id)).map((e) => [e.pid, e.outcome]),
    [
      [refused.pid, 'permission_denied'],
      [ddl.pid, 'cancelled'],
    ],
  );
  const events = await rules.audit(id);
  assert.deepEqual(
    events.map((e) => e.event),
    ['rule_proposed', 'rule_approved', 'rule_executed', 'rule_executed', 'rule_ended'],
  );
});
