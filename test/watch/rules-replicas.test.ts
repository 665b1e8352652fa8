// Two replicas of the real app (one state database, one managed cluster, both watching) and a stream of
// DDLs that match an approved rule: each statement is executed exactly once and audited once. The leader is
// stopped mid-stream; the other replica takes over, goes on executing once per match, and — reading the
// execution from the state database, not from memory — clears the alert of a statement the first replica
// cancelled as relieved by the rule.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockedQuery, longRead, type BlockedQuery } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { sessionTracker, sleep, textOf } from '../helpers/approval-flow.js';
import { incidents, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { ruleDriver, waitUntil } from '../helpers/rules.js';

const PROPOSER = 'UAPP2';
const CHANNEL = 'COPS03';

let db: TestDatabase;
let slack: SlackApi;
const apps: TestApp[] = [];
const sessions = sessionTracker();
const track = sessions.track;
let column = 0;

const env = () =>
  baseEnv(
    db.url,
    slack,
    watchEnv({
      PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}`,
      PGSESSIONS_VIEWERS: `${REQUESTER},${APPROVER},${PROPOSER}`,
    }),
  );
const start = async () => {
  const app = await startTestApp(env(), { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 });
  apps.push(app);
  return app;
};
const leads = (app: TestApp) => app.logs.some((line) => line.includes('watching this cluster (leader)'));

before(async () => {
  db = await createTestDatabase('rulerepl');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY)');
  await c.end();
  slack = await startSlackApi();
});
afterEach(async () => {
  await sessions.endAll();
});
after(async () => {
  for (const app of apps.splice(0)) await app.stop().catch(() => undefined);
  await slack?.close();
  await db?.drop();
});

/** A rails-migrate DDL queued behind the long read, one reader queued behind it. */
async function queuedDdl(): Promise<BlockedQuery> {
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: `ALTER TABLE orders ADD COLUMN IF NOT EXISTS c${++column} int`,
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  return ddl;
}

async function cancelledOnce(ddl: BlockedQuery): Promise<void> {
  assert.match(String((await ddl.finished)?.message), /canceling statement due to user request/, `pid ${ddl.pid}`);
}

test('two replicas, a stream of matches and a leader stopped mid-stream: one execution and one audit entry per statement, and the alert says the rule relieved it whichever replica clears it', async () => {
  const first = await start();
  const second = await start();
  await waitUntil('one of the two to lead', async () => leads(first) || leads(second));
  const [leader, standby] = leads(first) ? [first, second] : [second, first];
  assert.equal(leads(standby), false, 'exactly one replica watches the cluster');

  const rules = ruleDriver(
    slack,
    () => standby.port,
    () => db.url,
    CHANNEL,
  );
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:20 deploy window',
    PROPOSER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);

  track(await longRead(db.url, 'orders', { seconds: 300, application: 'reporting' }));
  const ddls: BlockedQuery[] = [];
  // The stream, under the first leader.
  for (let n = 0; n < 3; n++) {
    const ddl = await queuedDdl();
    ddls.push(ddl);
    await cancelledOnce(ddl);
  }

  // One more match; the leader is stopped the moment it has claimed it, before its next look.
  const handover = await queuedDdl();
  ddls.push(handover);
  // Polled tightly: the leader must be stopped before its next look.
  await waitUntil(
    'the leader’s claim of the next match',
    async () => (await rules.executions(id)).some((e) => e.pid === handover.pid),
    15_000,
    20,
  );
  await leader.stop();
  apps.splice(apps.indexOf(leader), 1);
  await cancelledOnce(handover);
  // The stopped leader finished that look (claim, signal, then the alert) and never looked again: whatever
  // clears the alert is the other replica, which knows of the execution only through the state database.
  const open = (await incidents(db.url)).find((i) => i.key.includes(`|lock-queue-head|${handover.pid}:`));
  assert.ok(open, 'the stopped leader opened the alert');

  // The other replica takes over and clears it — as relieved by the rule the first one executed.
  await waitUntil('the standby to lead', async () => leads(standby));
  const cleared = await waitUntil('the alert to clear', async () => {
    const row = (await incidents(db.url)).find((i) => i.id === open!.id);
    return row?.status === 'cleared' ? row : undefined;
  });
  assert.equal(cleared.clear_reason?.kind, 'rule', JSON.stringify(cleared.clear_reason));
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) =>
            c.params.channel === WATCH_CHANNEL &&
            c.params.ts === cleared.message_ts &&
            /relieved by standing approval/.test(textOf(c.params)) &&
            textOf(c.params).includes(id),
        ),
    { description: 'the alert saying the rule relieved it' },
  );

  // The stream goes on under the new leader.
  for (let n = 0; n < 2; n++) {
    const ddl = await queuedDdl();
    ddls.push(ddl);
    await cancelledOnce(ddl);
  }
  await sleep(2_500); // more looks of the new leader: nothing executes twice

  const runs = await rules.executions(id);
  assert.deepEqual(
    runs.map((r) => [r.pid, r.outcome]),
    ddls.map((d) => [d.pid, 'cancelled']),
    'exactly one execution per matched statement, none missed',
  );
  const executed = (await rules.audit<{ target: { pid: number } }>(id)).filter((a) => a.event === 'rule_executed');
  assert.deepEqual(
    executed.map((a) => a.details.target.pid),
    ddls.map((d) => d.pid),
    'one rule_executed entry per statement',
  );
  const { used, status } = await rules.rule(id);
  assert.deepEqual({ used, status }, { used: ddls.length, status: 'approved' });
});
