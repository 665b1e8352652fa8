// Standing approvals raced, end to end: the real app over signed HTTP, its watcher on a 1 s interval, real
// idle-in-transaction sessions matched by a terminate rule one after another. The managed cluster is reached
// through a slow proxy so that each signal is in flight for a few hundred ms — long enough for a Revoke to
// land while one is out. What must hold: nothing claimed after the revoke committed, nothing still running
// when its acknowledgement arrives, nothing claimed at or after a rule's expiry, and every other session left
// alone. Also here: the proposer is told in the rule's thread, and a burst of executions updates the rule's
// message a few times, not once per execution.
import { after, afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import type { RecordedCall } from '../helpers/slack-api.js';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { idleInTransactionLockHolder, type LockHolder } from '../helpers/sessions.js';
import { APPROVER } from '../helpers/app.js';
import { click, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ruleDriver, waitUntil, type RuleDriver } from '../helpers/rules.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const PROPOSER = 'UPROP1';
const CHANNEL = 'CRACE01';
/** Each chunk to and from the managed cluster waits this long: a signal's round trip takes twice that. */
const SIGNAL_DELAY_MS = 250;

let proxy: SlowProxy;
const sessions = sessionTracker();
const track = sessions.track;

/** The managed cluster through the proxy (so signals and looks are slow when it is told to be); the state database direct. */
const { db, slack, app } = useTestApp({
  database: 'rraces',
  async prepare(database) {
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
  },
  env: (database) => {
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    return {
      DATABASE_URL: viaProxy.toString(),
      STATE_DATABASE_URL: database.url,
      ...watchEnv({ PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: '1s', PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}` }),
    };
  },
  start: { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  revokeRules: true,
  sessions,
  resetSlack: true,
});
const rules: RuleDriver = ruleDriver(
  slack,
  () => app.port,
  () => db.url,
  CHANNEL,
);
afterEach(() => {
  proxy.delayMs = 0;
});
after(async () => {
  await proxy?.close();
});

// ---- reading back --------------------------------------------------------------------------------------

/** Thread replies under the rule's message. */
const threadReplies = (ts: string): RecordedCall[] =>
  slack.callsTo('chat.postMessage').filter((c) => c.params.thread_ts === ts && !c.fault);
const messageUpdates = (ts: string): RecordedCall[] =>
  slack.callsTo('chat.update').filter((c) => c.params.ts === ts && !c.fault);

/** The waits here are longer than the driver's default: the proxy slows every look down. */
const until = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 20_000, everyMs = 50) =>
  waitUntil(what, probe, timeoutMs, everyMs);

/**
 * Waits for at least `looks` more looks of the watcher: the incident of a session nobody touched is
 * refreshed (its version counts up) at most once per look, so `looks` more versions mean at least that many.
 */
async function waitForLooks(pid: number, looks: number): Promise<void> {
  const version = async () =>
    (
      await stateQuery<{ version: number }>(
        db.url,
        "SELECT version FROM pgsessions.incidents WHERE status = 'open' AND (incident->'root'->>'pid')::int = $1",
        [pid],
      )
    )[0]?.version;
  const start = await until(`an open incident for pid ${pid}`, version);
  await until(
    `${looks} more looks (incident of pid ${pid} refreshed)`,
    async () => ((await version()) ?? 0) >= start + looks,
    30_000,
    200,
  );
}

// ---- driving -------------------------------------------------------------------------------------------

async function propose(text: string): Promise<{ id: string; ts: string }> {
  const { id } = await rules.propose(text, PROPOSER);
  const ts = await until('the proposal ts', async () => (await rules.rule(id)).message_ts);
  return { id, ts };
}

async function approve(id: string): Promise<void> {
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
}

/** n sessions of `application` idle in a transaction, opened side by side. */
async function idleSessions(application: string, n: number): Promise<LockHolder[]> {
  const opened = await Promise.all(
    Array.from({ length: n }, () =>
      idleInTransactionLockHolder(db.url, 'pg_class', { statement: 'SELECT 1', application }),
    ),
  );
  return opened.map(track);
}

/** Of the sessions given, those still in pg_stat_activity (same pid and backend start), in one read. */
async function alive(holders: LockHolder[]): Promise<LockHolder[]> {
  const rows = await stateQuery<{ pid: number }>(
    db.url,
    'SELECT a.pid FROM pg_stat_activity a JOIN unnest($1::int[], $2::timestamptz[]) AS t(pid, started) ON a.pid = t.pid AND a.backend_start = t.started',
    [holders.map((h) => h.pid), holders.map((h) => h.backendStart)],
  );
  return holders.filter((h) => rows.some((r) => r.pid === h.pid));
}
const gone = async (holders: LockHolder[]) => {
  const up = await alive(holders);
  return holders.filter((h) => !up.includes(h));
};

// ---- the races -----------------------------------------------------------------------------------------

test('Revoke racing a stream of matches: nothing claimed after it, nothing still running when it is acknowledged, everything else untouched', async (t) => {
  const holders = await idleSessions('race-revoke', 24);
  const ours = new Set(holders.map((h) => h.pid));
  const { id, ts } = await propose('terminate idle-in-transaction app:race-revoke idle:1s for:1h max:100 revoke race');
  // From now on every round trip to the managed cluster is slow: each terminate is in flight ≥ 2 × 250 ms.
  proxy.delayMs = SIGNAL_DELAY_MS;
  await approve(id);

  // The first execution is done and the next one is out: press Revoke now. (One connection, polled tightly:
  // the click must land while that signal is still in flight.)
  const watching = new pg.Client({ connectionString: db.url });
  await watching.connect();
  try {
    await until(
      'one execution finished and the next one in flight',
      async () => {
        const { rows } = await watching.query<{ done: boolean; out: boolean }>(
          'SELECT bool_or(outcome IS NOT NULL) AS done, bool_or(outcome IS NULL) AS out FROM pgsessions.rule_executions WHERE rule_id = $1',
          [id],
        );
        return rows[0]?.done === true && rows[0]?.out === true;
      },
      30_000,
      2,
    );
  } finally {
    await watching.end();
  }
  const clicked = await click(slack, app.port, ACTION.ruleRevoke, id, { user: APPROVER, channel: CHANNEL });
  assert.equal(clicked.status, 200, 'Bolt acknowledges the click at once');
  const reply = await slack.waitFor(() => slack.responsesTo(clicked.responseId)[0], {
    timeoutMs: 20_000,
    description: 'the revoke answer',
  });
  const ackAt = reply.at;
  const answer = String((reply.body as { text?: unknown }).text ?? '');
  proxy.delayMs = 0;

  const rule = await rules.rule(id);
  assert.equal(rule.status, 'revoked');
  const runs = await rules.executions(id);
  assert.ok(runs.length >= 2, `at least two executions: ${JSON.stringify(runs)}`);
  for (const r of runs) {
    assert.ok(ours.has(r.pid), `only sessions of the rule's application: pid ${r.pid}`);
    assert.ok(
      r.claimed_ms < rule.ended_ms!,
      `pid ${r.pid} was claimed before the revoke committed (${r.claimed_ms} < ${rule.ended_ms})`,
    );
    assert.ok(
      r.finished_ms !== null && r.finished_ms < ackAt,
      `pid ${r.pid} finished (${r.finished_ms}) before the revoke was acknowledged (${ackAt})`,
    );
  }
  // The race was real: at least one signal was still out when the revoke committed.
  const inFlight = runs.filter((r) => r.finished_ms! >= rule.ended_ms!);
  assert.ok(
    inFlight.length >= 1,
    `a signal was in flight when the revoke landed: ${JSON.stringify(runs)} ended ${rule.ended_ms}`,
  );
  t.diagnostic(
    `revoke committed → acknowledged in ${Math.round(ackAt - rule.ended_ms!)} ms; ${runs.length} executions, ${inFlight.length} in flight at the revoke`,
  );
  // The answer says so, with the outcome.
  assert.match(answer, /^Rule revoked: it executes no more \(audited\)\./);
  for (const r of inFlight)
    assert.match(
      answer,
      new RegExp(`begun before the revoke finished: .*pid ${r.pid} ${r.outcome!.replace(/_/g, ' ')}`),
    );
  // The message said "revoked" only after that, once.
  const updates = messageUpdates(ts).filter((c) => /Standing approval revoked/.test(textOf(c.params)));
  assert.ok(updates.length >= 1, 'the rule message shows it revoked');
  for (const u of updates)
    assert.ok(
      u.at >= Math.max(...runs.map((r) => r.finished_ms!)),
      'the message said revoked only once every execution had finished',
    );

  // No execution after the acknowledgement, however many looks later; every session not executed is alive.
  const survivors = holders.filter((h) => !runs.some((r) => r.pid === h.pid));
  assert.ok(survivors.length > 0, 'the revoke came before the stream ran out');
  await waitForLooks(survivors[0]!.pid, 3);
  assert.equal((await rules.executions(id)).length, runs.length, 'nothing executed after the acknowledgement');
  assert.deepEqual(
    (await alive(survivors)).map((h) => h.pid),
    survivors.map((h) => h.pid),
    'every session never executed is alive',
  );
  const terminated = runs.filter((r) => r.outcome === 'terminated');
  assert.equal((await gone(holders)).length, terminated.length, 'the sessions gone are exactly the ones terminated');

  const audit = await rules.audit(id);
  assert.equal(audit.filter((a) => a.event === 'rule_revoked').length, 1);
  assert.equal(audit.filter((a) => a.event === 'rule_executed').length, runs.length, 'each execution audited');
  // The proposer hears it in the thread: approved (by whom, until when), then revoked (by whom).
  const replies = await slack.waitFor(() => (threadReplies(ts).length >= 2 ? threadReplies(ts) : undefined), {
    description: 'the thread replies',
  });
  assert.match(
    textOf(replies[0]!.params),
    new RegExp(`<@${PROPOSER}> your rule was approved by <@${APPROVER}>: it is active until \\d\\d:\\d\\d UTC`),
  );
  assert.match(
    textOf(replies[1]!.params),
    new RegExp(
      `<@${PROPOSER}> your rule was revoked by <@${APPROVER}>: it executed ${runs.length} of at most 100 times`,
    ),
  );
  assert.equal(threadReplies(ts).length, 2, 'not one reply per execution');
});

test('a rule that expires under a steady stream of matches: nothing claimed at or after its expiry, it ends as expired once, later matches untouched', async () => {
  const holders: LockHolder[] = await idleSessions('race-expiry', 3);
  const { id, ts } = await propose('terminate idle-in-transaction app:race-expiry idle:1s for:3s max:1000 expiry race');
  await approve(id);
  const { expires_ms: expiresAt } = await rules.rule(id);
  assert.ok(expiresAt);
  // A new matching session every ~250 ms until 2.5 s after the expiry.
  while (Date.now() < expiresAt + 2_500) {
    holders.push(...(await idleSessions('race-expiry', 1)));
    await sleep(250);
  }
  await until('the rule to expire', async () => (await rules.rule(id)).status === 'expired');
  // Sessions made after the expiry have been idle ≥ 1 s over several looks by now.
  const last = holders.at(-1)!;
  await waitForLooks(last.pid, 3);

  const runs = await rules.executions(id);
  assert.ok(runs.length >= 3, `the stream was matched while the rule lived: ${runs.length} executions`);
  for (const r of runs)
    assert.ok(r.claimed_ms < expiresAt, `pid ${r.pid} claimed at ${r.claimed_ms}, before the expiry ${expiresAt}`);
  const executed = new Set(runs.map((r) => r.pid));
  const untouched = holders.filter((h) => !executed.has(h.pid));
  assert.ok(untouched.length >= 3, `matches after the expiry: ${untouched.length}`);
  assert.deepEqual(
    (await alive(untouched)).map((h) => h.pid),
    untouched.map((h) => h.pid),
    'every session never executed is alive',
  );
  assert.equal((await gone(holders)).length, runs.filter((r) => r.outcome === 'terminated').length);

  const ended = (await rules.audit(id)).filter((a) => a.event === 'rule_ended');
  assert.equal(ended.length, 1, 'audited once');
  assert.equal(ended[0]!.details.why, 'expired');
  await slack.waitFor(() => messageUpdates(ts).find((c) => /its time is up/.test(textOf(c.params))), {
    description: 'the message says it ended',
  });
  const told = await slack.waitFor(() => threadReplies(ts).find((c) => /time is up/.test(textOf(c.params))), {
    description: 'the proposer told it expired',
  });
  assert.match(
    textOf(told.params),
    new RegExp(`<@${PROPOSER}> your rule's time is up .*it executed ${runs.length} of at most 1000 times`),
  );
});

test('a burst of twenty executions in one look updates the rule message a few times, the last with the final count', async (t) => {
  const holders = await idleSessions('race-burst', 20);
  const { id, ts } = await propose('terminate idle-in-transaction app:race-burst idle:1s for:1h max:20 burst');
  await approve(id);
  await until('the rule to reach its cap', async () => (await rules.rule(id)).status === 'exhausted');
  assert.equal((await gone(holders)).length, 20);
  await slack.waitFor(() => messageUpdates(ts).find((c) => /20 of 20 used/.test(textOf(c.params))), {
    description: 'the final count on the message',
  });
  await sleep(2_500); // any update still held back is due within the 2 s gap
  const updates = messageUpdates(ts);
  assert.ok(updates.length >= 2, 'approved, then executions shown');
  assert.ok(updates.length <= 5, `far fewer updates than executions: ${updates.length} for 20`);
  t.diagnostic(`${updates.length} chat.update calls of the rule message for 20 executions (approval included)`);
  const lastText = textOf(updates.at(-1)!.params);
  assert.match(lastText, /20 of 20 used/);
  assert.match(lastText, /its cap is reached/);
  // The proposer hears it once in the thread.
  const told = await slack.waitFor(() => threadReplies(ts).find((c) => /reached its cap/.test(textOf(c.params))), {
    description: 'the cap notice',
  });
  assert.match(textOf(told.params), new RegExp(`<@${PROPOSER}> your rule reached its cap: it executed 20 of 20 times`));
  assert.equal(threadReplies(ts).filter((c) => /reached its cap/.test(textOf(c.params))).length, 1);
});

test('the proposer is told in the thread when a rule is denied, and when a proposal expires undecided; a failed thread post blocks nothing', async () => {
  const denied = await propose('terminate idle-in-transaction app:notice-a idle:1s for:1h denied one');
  slack.handle('chat.postMessage', (params) =>
    params.thread_ts === denied.ts ? { ok: false, error: 'channel_not_found' } : undefined,
  );
  assert.match(
    await rules.press(ACTION.ruleDeny, denied.id, APPROVER),
    /Rule denied/,
    'a thread post that fails does not change the answer',
  );
  assert.equal((await rules.rule(denied.id)).status, 'denied');
  await until('the failure to be logged', async () =>
    app.logs.some((l) => l.includes('could not tell the proposer in the thread')),
  );

  const again = await propose('terminate idle-in-transaction app:notice-b idle:1s for:1h denied two');
  assert.match(await rules.press(ACTION.ruleDeny, again.id, APPROVER), /Rule denied/);
  const told = await slack.waitFor(() => threadReplies(again.ts)[0], { description: 'the denial in the thread' });
  assert.match(textOf(told.params), new RegExp(`<@${PROPOSER}> your rule was denied by <@${APPROVER}>`));
  assert.equal(told.params.channel, CHANNEL);

  const undecided = await propose('terminate idle-in-transaction app:notice-c idle:1s for:1h nobody decides');
  await stateQuery(db.url, 'UPDATE pgsessions.rules SET proposal_expires_at = now() WHERE id = $1', [undecided.id]);
  const expired = await slack.waitFor(() => threadReplies(undecided.ts)[0], {
    description: 'the expired proposal in the thread',
  });
  assert.match(textOf(expired.params), new RegExp(`<@${PROPOSER}> your proposal expired: nobody decided it in time`));
  assert.equal((await rules.rule(undecided.id)).status, 'expired');
});

test('a revoke that commits while a claim holds the rule row is stamped after that claim committed, and says honestly what did not finish in time', async () => {
  // The store-level reason "claimed before the revoke committed" can be read off the timestamps above.
  const { id } = await propose('terminate idle-in-transaction app:stamp idle:1s for:1h stamps');
  await approve(id);
  const claimer = new pg.Client({ connectionString: db.url });
  await claimer.connect();
  try {
    await claimer.query('BEGIN');
    await claimer.query(
      "INSERT INTO pgsessions.rule_executions (rule_id, pid, backend_start, query_start, dry_run, target) VALUES ($1, 1, now(), '-infinity', false, '{}')",
      [id],
    );
    await claimer.query("UPDATE pgsessions.rules SET used = used + 1 WHERE id = $1 AND status = 'approved'", [id]);
    const revoking = click(slack, app.port, ACTION.ruleRevoke, id, { user: APPROVER, channel: CHANNEL });
    await sleep(500); // the revoke waits on the row
    await claimer.query('COMMIT');
    const committedAt = Date.now();
    // The claim above never gets an outcome (nothing signals it): the answer says so after the bounded wait.
    const answer = await (await revoking).reply(20_000);
    assert.match(
      answer,
      /^Rule revoked: it executes no more \(audited\)\.\n1 execution begun before the revoke had not finished when this answer was sent: pid 1 — its outcome is not known yet/,
    );
    const rule = await rules.rule(id);
    assert.equal(rule.status, 'revoked');
    const [run] = await rules.executions(id);
    assert.ok(run && run.claimed_ms < rule.ended_ms!, 'the claim is before the revoke');
    assert.ok(
      rule.ended_ms! >= committedAt - 50,
      `ended_at (${rule.ended_ms}) is when the revoke got the row, not when its transaction began`,
    );
  } finally {
    await claimer.end();
  }
});
