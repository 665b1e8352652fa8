// A real crash between a rule's claim and its signal: pgsessions runs as its own process, leads the watcher
// and applies an approved rule; the slow proxy in front of the managed cluster holds the signal statement in
// flight; the process is killed with SIGKILL. The next instance must reconcile the claim — once, as
// interrupted, counted, audited and shown — and never execute that statement again.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { childApps } from '../helpers/child-app.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { activityRow, blockedQuery, longRead } from '../helpers/sessions.js';
import {
  APPROVER,
  assertNoSecrets,
  baseEnv,
  REQUESTER,
  secretsOf,
  startTestApp,
  type TestApp,
} from '../helpers/app.js';
import { sessionTracker, sleep, textOf } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ruleDriver, waitUntil } from '../helpers/rules.js';

const PROPOSER = 'UAPP2';
const CHANNEL = 'COPS02';

let proxy: SlowProxy;
let app: TestApp | undefined;
const sessions = sessionTracker();
const track = sessions.track;

// Each test starts its own app (or child); the cluster is reached through the proxy made in prepare.
const { db, slack } = useTestApp({
  database: 'rulecrash',
  app: false,
  async prepare(database) {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    await c.query('CREATE TABLE orders (id int PRIMARY KEY)');
    await c.end();
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
  },
  async teardown() {
    await children.kill(); // never leave a child behind, whatever failed
    await proxy?.close();
  },
});

const settings = () =>
  watchEnv({
    PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}`,
    PGSESSIONS_VIEWERS: `${REQUESTER},${APPROVER},${PROPOSER}`,
  });

/** The managed cluster through the proxy; the state database direct, so only the signal is held up. */
const childEnv = (port: number) => {
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  return { ...baseEnv(viaProxy.toString(), slack, { ...settings(), STATE_DATABASE_URL: db.url }), PORT: String(port) };
};

const children = childApps(childEnv);
const childLogs = children.logs;

afterEach(async () => {
  await children.kill();
  await app?.stop();
  app = undefined;
  proxy.hold = null;
  await sessions.endAll();
});

type ExecutedDetails = {
  result?: { interrupted?: boolean; message?: string; outcomes?: Array<{ outcome: string }> };
  target?: { pid: number };
};

test('SIGKILL between a rule’s claim and its signal: the next instance reconciles the claim once as interrupted, and never executes that statement again', async () => {
  const { port, env } = await children.start();
  const rules = ruleDriver(
    slack,
    () => port,
    () => db.url,
    CHANNEL,
  );
  // Proposed by one person and approved by another, over signed HTTP to the child.
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:3 deploy window',
    PROPOSER,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);

  // From now on the one statement that cancels waits a minute in the proxy; the watcher's reads pass.
  proxy.hold = { pattern: /pg_cancel_backend/, ms: 60_000 };
  track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN note text',
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));

  const claimed = await waitUntil('the claim, with no outcome, while its signal is held', async () => {
    const rows = await rules.executions(id);
    return rows.length === 1 && rows[0]!.outcome === null && proxy.held > 0 ? rows[0] : undefined;
  });
  assert.equal(claimed.pid, ddl.pid);
  assert.equal((await rules.rule(id)).used, 1, 'the claim reserved its slot');
  await children.kill();
  proxy.hold = null;

  // The held signal died with the process: the DDL still waits, the very same statement.
  const waiting = await activityRow(db.url, ddl.pid);
  assert.equal(waiting?.wait_event_type, 'Lock');
  assert.equal(waiting?.query_start, ddl.queryStart);

  // A new instance, watching the cluster directly, reconciles what the killed one left claimed.
  app = await startTestApp(baseEnv(db.url, slack, settings()), {
    interruptedAfterSeconds: 1,
    terminateTimeoutMs: 3_000,
    watchUpdateGapSeconds: 1,
  });
  const reconciled = await waitUntil('the reconciliation', async () =>
    (await rules.executions(id))[0]?.outcome === 'interrupted' ? true : undefined,
  );
  assert.ok(reconciled);

  const audit = await rules.audit<ExecutedDetails>(id);
  assert.deepEqual(
    audit.map((a) => a.event),
    ['rule_proposed', 'rule_approved', 'rule_executed'],
    'one execution entry, for the reconciliation',
  );
  const executed = audit[2]!.details;
  assert.equal(executed.target?.pid, ddl.pid);
  assert.equal(executed.result?.interrupted, true);
  assert.match(
    executed.result?.message ?? '',
    /interrupted by a restart between claim and outcome: reconciled, not re-run/,
  );
  assert.deepEqual(
    executed.result?.outcomes?.map((o) => o.outcome),
    ['still_running'],
    'what is true now: the statement still runs',
  );
  const rule = await rules.rule(id);
  assert.deepEqual([rule.status, rule.used], ['approved', 1], 'it may have acted: it counts, and the rule goes on');
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) =>
            c.params.ts === rule.message_ts &&
            new RegExp(`1 of 3 used, last at .* pid ${ddl.pid}.*interrupted by a restart`).test(textOf(c.params)),
        ),
    { description: 'the rule message saying the execution was interrupted' },
  );

  // Several more looks of the new leader: the same statement is never claimed again, nor signalled.
  await sleep(4_000);
  const rows = await rules.executions(id);
  assert.deepEqual(
    rows.map((r) => [r.pid, r.outcome]),
    [[ddl.pid, 'interrupted']],
  );
  const still = await activityRow(db.url, ddl.pid);
  assert.equal(still?.wait_event_type, 'Lock', 'the DDL was not cancelled: the lost signal was not sent again');
  assert.equal(still?.query_start, ddl.queryStart);
  assert.deepEqual(
    (await rules.audit<ExecutedDetails>(id)).map((a) => a.event),
    ['rule_proposed', 'rule_approved', 'rule_executed'],
  );
  assertNoSecrets(childLogs, secretsOf(env));
});
