// Issue 15, N2 and N8, played by someone shaping what rules see. A rule without a threshold of its own waits
// for its floor (the alert threshold), whatever lower threshold another active rule makes the watcher detect
// at; a database user who queues sessions on an advisory lock held by a victim does not make a blocking:
// rule kill the victim, unless the rule says `advisory`. Real sessions, the real app over signed HTTP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { activityRow, sleepSession } from '../helpers/sessions.js';
import { APPROVER, REQUESTER } from '../helpers/app.js';
import { sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ruleDriver } from '../helpers/rules.js';
import { useTestApp } from '../helpers/use-test-app.js';

const CHANNEL = 'COPS15';
const sessions = sessionTracker();
const track = sessions.track;
// Alerts on long statements after 30 minutes; lock waits after 30 s.
const { db, slack, app } = useTestApp({
  database: 'rule_thresholds',
  env: watchEnv({ PGSESSIONS_WATCH_ACTIVE: '30m', PGSESSIONS_WATCH_LOCK_WAIT: '30s' }),
  start: { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  revokeRules: true,
  sessions,
  resetSlack: true,
});
const drive = () =>
  ruleDriver(
    slack,
    () => app.port,
    () => db.url,
    CHANNEL,
  );

test("a rule without a threshold is not applied at another rule's running:2s: a 5 s reports query is untouched, and its message says the threshold", async () => {
  const rules = drive();
  const fast = await rules.propose('cancel active app:fast-lane running:2s for:1h max:5 short queries only', REQUESTER);
  assert.match(await rules.approve(fast.id, APPROVER), /Rule approved/);
  const reports = await rules.propose('cancel active app:reports for:1h max:5 runaway reports', REQUESTER);
  assert.match(
    textOf(reports.post.params),
    /running for ≥ 30m \(the alert threshold\)/,
    'the proposal says when it will act',
  );
  assert.match(await rules.approve(reports.id, APPROVER), /Rule approved/);
  const report = track(await sleepSession(db.url, { seconds: 60, application: 'reports' }));
  const other = track(await sleepSession(db.url, { seconds: 60, application: 'fast-lane' }));
  // The fast-lane rule acts at 2 s: proof that the watcher looks at 2 s while both rules are active.
  assert.match(String((await other.finished)?.message), /canceling statement due to user request/);
  const deadline = Date.now() + 6_000;
  while (Date.now() < deadline) {
    const row = await activityRow(db.url, report.pid);
    assert.equal(row?.query_start, report.queryStart, 'the reports query still runs');
    await sleep(250);
  }
  assert.deepEqual(await rules.executions(reports.id), [], 'the rule without a threshold never claimed it');
  const [stored] = await stateQuery<{ floor: number | null }>(
    db.url,
    "SELECT (spec->>'alertFloorSeconds')::int AS floor FROM pgsessions.rules WHERE id = $1",
    [reports.id],
  );
  assert.equal(stored?.floor, 1800, 'the threshold it acts at is kept with the rule');
});

interface AdvisoryQueue {
  victim: { pid: number; client: pg.Client };
  waiters: pg.Client[];
}

/** A victim holding advisory lock 4242 (idle in a transaction), and `n` sessions of another user queued on it. */
async function advisoryQueue(n: number): Promise<AdvisoryQueue> {
  const victim = new pg.Client({ connectionString: db.url, application_name: 'victim-app' });
  await victim.connect();
  victim.on('error', () => undefined);
  await victim.query('BEGIN');
  const { rows } = await victim.query<{ pid: number }>('SELECT pg_backend_pid() AS pid, pg_advisory_xact_lock(4242)');
  const waiters: pg.Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = new pg.Client({ connectionString: db.url, application_name: 'queue-maker' });
    await c.connect();
    c.on('error', () => undefined);
    void c.query('SELECT pg_advisory_lock(4242)').catch(() => undefined);
    waiters.push(c);
  }
  const queue = { victim: { pid: rows[0]!.pid, client: victim }, waiters };
  sessions.track({
    end: async () => {
      const pids = [queue.victim.pid];
      pids.push(
        ...(
          await stateQuery<{ pid: number }>(
            db.url,
            "SELECT pid FROM pg_stat_activity WHERE application_name = 'queue-maker'",
          )
        ).map((r) => r.pid),
      );
      await stateQuery(db.url, 'SELECT pg_terminate_backend(p) FROM unnest($1::int[]) AS p', [
        [...new Set(pids)],
      ]).catch(() => undefined);
      await Promise.all([victim, ...waiters].map((c) => c.end().catch(() => undefined)));
    },
  });
  for (const deadline = Date.now() + 10_000; Date.now() < deadline; await sleep(100)) {
    const [row] = await stateQuery<{ n: number }>(
      db.url,
      "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'queue-maker' AND wait_event_type = 'Lock'",
    );
    if (row?.n === n) return queue;
  }
  throw new Error('the advisory queue did not form');
}

test('sessions queued on an advisory lock do not make a blocking:3 rule terminate the holder; with `advisory` they do', async () => {
  const rules = drive();
  const plain = await rules.propose(
    'terminate root-blocker app:victim-app blocking:3 waiting:1s for:1h max:1 stuck migrations',
    REQUESTER,
  );
  assert.match(await rules.approve(plain.id, APPROVER), /Rule approved/);
  const queue = await advisoryQueue(5);
  // Several looks at 2 s each, well past waiting:1s, with five sessions queued.
  await sleep(6_000);
  assert.ok(await activityRow(db.url, queue.victim.pid), 'the victim is still connected');
  assert.deepEqual(await rules.executions(plain.id), []);

  const optIn = await rules.propose(
    'terminate root-blocker app:victim-app blocking:3 waiting:1s advisory for:1h max:1 stuck migrations',
    REQUESTER,
  );
  assert.match(textOf(optIn.post.params), /counting sessions that wait on advisory locks/);
  assert.match(await rules.approve(optIn.id, APPROVER), /Rule approved/);
  const done = await rules.waitForRule(optIn.id, (r) => r.used === 1, 'the advisory rule to act', 20_000);
  assert.equal(done.used, 1);
  for (const deadline = Date.now() + 10_000; (await activityRow(db.url, queue.victim.pid)) && Date.now() < deadline; )
    await sleep(100);
  assert.equal(await activityRow(db.url, queue.victim.pid), undefined, 'with the opt-in the holder is terminated');
  assert.deepEqual(
    (await rules.executions(optIn.id)).map((e) => e.pid),
    [queue.victim.pid],
  );
});
