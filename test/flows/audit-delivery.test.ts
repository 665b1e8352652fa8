// Every step of a request reaches the audit channel, naming who, what and why; the durable log verifies;
// and an entry Slack refused is delivered later — in order, once — even across a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { createTestDatabase } from '../helpers/pg.js';
import type { RecordedCall } from '../helpers/slack-api.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, AUDIT_CHANNEL, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  click,
  fresh,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { migrate } from '../../src/postgres/migrate.js';
import { useTestApp } from '../helpers/use-test-app.js';

const run = promisify(execFile);

let app: TestApp | undefined;
const sessions = sessionTracker();
const track = sessions.track;
const start = () => startTestApp(baseEnv(db.url, slack), { terminateTimeoutMs: 3_000 });

// The file's own app, which a test restarts: started in ready, stopped in teardown.
const { db, slack } = useTestApp({
  database: 'audit',
  app: false,
  async ready() {
    app = await start();
  },
  sessions,
  async teardown() {
    await app?.stop();
  },
});

/** The audit seq a delivered audit message carries (its context line says `audit #N`). */
function seqOf(call: RecordedCall): number {
  const match = /audit #(\d+)/.exec(textOf(call.params.blocks));
  assert.ok(match, 'an audit message names its entry');
  return Number(match[1]);
}

/** Audit channel posts Slack accepted (no injected fault). */
const delivered = (calls: RecordedCall[]) =>
  calls.filter((c) => c.method === 'chat.postMessage' && c.params.channel === AUDIT_CHANNEL && !c.fault);

async function allSeqs(): Promise<number[]> {
  return (
    await stateQuery<{ seq: number }>(db.url, 'SELECT seq::int AS seq FROM pgsessions.audit_log ORDER BY seq')
  ).map((r) => r.seq);
}

async function backlog(): Promise<number> {
  return (
    await stateQuery<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM pgsessions.outbox WHERE delivered_at IS NULL',
    )
  )[0]!.n;
}

async function auditPostsOf(requestId: string, events: string[]): Promise<Map<string, string>> {
  const found = await slack.waitFor(
    () => {
      const byEvent = new Map<string, string>();
      for (const c of delivered(slack.calls)) {
        if (!String(c.params.text).includes(requestId)) continue;
        const event = /^(\w+) on /.exec(String(c.params.text))?.[1];
        if (event) byEvent.set(event, textOf(c.params.blocks));
      }
      return events.every((e) => byEvent.has(e)) && byEvent;
    },
    { timeoutMs: 10_000, description: `audit posts ${events.join(', ')} for ${requestId}` },
  );
  return found;
}

test('every step of a request is posted to the audit channel naming cluster, pid, user, database, requester, approver, reason and outcome', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'audit-victim' }));
  const executed = await typedRequest(
    slack,
    app!.port,
    `terminate ${victim.pid} audit trail check`,
    as(REQUESTER, channel),
  );
  await click(slack, app!.port, ACTION.approve, executed.id, as(APPROVER, channel));
  await waitForStatus(db.url, executed.id, ['executed']);
  const posts = await auditPostsOf(executed.id, ['requested', 'approved', 'executing', 'executed']);
  for (const [event, text] of posts) {
    for (const part of [
      '`default`',
      `pid ${victim.pid}`,
      'user postgres',
      `db ${db.name}`,
      'audit-victim',
      '<@UREQ>',
      'audit trail check',
    ]) {
      assert.ok(text.includes(part), `${event} names ${part}`);
    }
    if (event !== 'requested') assert.ok(text.includes('<@UAPP>'), `${event} names the approver`);
  }
  assert.match(posts.get('executed')!, /outcome: terminated/);

  const other = track(await sleepSession(db.url, { seconds: 120, application: 'audit-other' }));
  const denied = await typedRequest(slack, app!.port, `terminate ${other.pid} to be denied`, as(REQUESTER, channel));
  await click(slack, app!.port, ACTION.deny, denied.id, as(APPROVER, channel));
  const withdrawn = await typedRequest(slack, app!.port, `cancel ${other.pid} to be withdrawn`, as(REQUESTER, channel));
  await click(slack, app!.port, ACTION.withdraw, withdrawn.id, as(REQUESTER, channel));
  const expired = await typedRequest(slack, app!.port, `terminate ${other.pid} to expire`, as(REQUESTER, channel));
  await stateQuery(db.url, `UPDATE pgsessions.requests SET expires_at = now() - interval '1 second' WHERE id = $1`, [
    expired.id,
  ]);

  for (const [id, event, who, reason] of [
    [denied.id, 'denied', '<@UAPP>', 'to be denied'],
    [withdrawn.id, 'withdrawn', '<@UREQ>', 'to be withdrawn'],
    [expired.id, 'expired', '<@UREQ>', 'to expire'],
  ] as const) {
    const text = (await auditPostsOf(id, [event])).get(event)!;
    for (const part of ['`default`', `pid ${other.pid}`, 'user postgres', `db ${db.name}`, who, reason]) {
      assert.ok(text.includes(part), `${event} names ${part}`);
    }
  }
  assert.equal(await sessionAlive(db.url, other.pid, other.backendStart), true);
});

test('the audit log hash chain verifies, in process and with the verify-audit CLI', async () => {
  const pool = new pg.Pool({ connectionString: db.url, max: 1 });
  try {
    const verdict = await createStateStore(pool).verifyAudit();
    assert.equal(verdict.ok, true);
    assert.ok(verdict.ok && verdict.count >= 4);
  } finally {
    await pool.end();
  }
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'src/cli/verify-audit.ts'], {
    env: { ...process.env, STATE_DATABASE_URL: db.url, DATABASE_URL: '' },
  });
  assert.match(stdout, /audit log intact/);
});

test('the verify-audit CLI exits non-zero when an entry was altered', async () => {
  const tampered = await createTestDatabase('tamper');
  const pool = new pg.Pool({ connectionString: tampered.url, max: 2 });
  try {
    await migrate(pool);
    const store = createStateStore(pool);
    await store.appendAudit({ event: 'refused', actor: 'UREQ', cluster: 'default', details: { why: 'one' } });
    await store.appendAudit({ event: 'refused', actor: 'UAPP', cluster: 'default', details: { why: 'two' } });
    await pool.query('ALTER TABLE pgsessions.audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await pool.query(`UPDATE pgsessions.audit_log SET actor = 'UEVIL' WHERE details->>'why' = 'one'`);
    const result = await run(process.execPath, ['--import', 'tsx', 'src/cli/verify-audit.ts'], {
      env: { ...process.env, STATE_DATABASE_URL: tampered.url, DATABASE_URL: '' },
    }).then(
      () => ({ code: 0, stdout: '' }),
      (error: { code: number; stdout: string }) => error,
    );
    assert.equal(result.code, 1);
    assert.match(result.stdout, /BROKEN at entry #1/);
  } finally {
    await pool.end();
    await tampered.drop();
  }
});

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Every audit entry in the log reached the channel exactly once, in seq order. */
async function assertDeliveredInOrder(calls: RecordedCall[]): Promise<void> {
  const seqs = delivered(calls).map(seqOf);
  assert.deepEqual(seqs, await allSeqs());
}

test('audit entries Slack refused (500, 500, 429) are delivered later, in order, each once', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  // Requests first, so that only audit posts meet the faults (a withdrawal updates its message and posts nothing else).
  const ids: string[] = [];
  for (let i = 0; i < 3; i++)
    ids.push((await typedRequest(slack, app!.port, `terminate ${victim.pid} fault ${i}`, as(REQUESTER, channel))).id);
  await until('the requests to be in the audit channel', async () => (await backlog()) === 0);

  slack.failNext('chat.postMessage', 2, { status: 500 });
  slack.failNext('chat.postMessage', 1, { status: 429, retryAfter: 1 });
  for (const id of ids) await click(slack, app!.port, ACTION.withdraw, id, as(REQUESTER, channel));
  for (const id of ids) await waitForStatus(db.url, id, ['withdrawn']);
  await until('the backlog to drain', async () => (await backlog()) === 0);

  const faulted = slack.calls.filter((c) => c.fault);
  assert.equal(faulted.length, 3, 'all three faults were met');
  assert.ok(faulted.every((c) => c.method === 'chat.postMessage' && c.params.channel === AUDIT_CHANNEL));
  const rateLimited = faulted.find((c) => 'retryAfter' in c.fault!)!;
  const retried = delivered(slack.calls).find((c) => c.at > rateLimited.at)!;
  assert.ok(retried.at - rateLimited.at >= 900, 'the retry waited for Retry-After');
  await assertDeliveredInOrder(slack.calls);
});

test('audit entries still undelivered when the app stops are delivered by the next instance', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  const ids: string[] = [];
  for (let i = 0; i < 2; i++)
    ids.push((await typedRequest(slack, app!.port, `terminate ${victim.pid} outage ${i}`, as(REQUESTER, channel))).id);
  await until('the requests to be in the audit channel', async () => (await backlog()) === 0);

  slack.failNext('chat.postMessage', 1000, { status: 503 });
  for (const id of ids) await click(slack, app!.port, ACTION.withdraw, id, as(REQUESTER, channel));
  for (const id of ids) await waitForStatus(db.url, id, ['withdrawn']);
  await until('a failed delivery to be recorded', async () => {
    const rows = await stateQuery<{ attempts: number }>(
      db.url,
      'SELECT attempts FROM pgsessions.outbox WHERE delivered_at IS NULL ORDER BY audit_seq LIMIT 1',
    );
    return (rows[0]?.attempts ?? 0) >= 1;
  });
  await app!.stop();
  app = undefined;
  assert.equal(await backlog(), 2, 'both withdrawals are waiting in the outbox');

  const before = [...slack.calls];
  slack.reset(); // Slack is back
  app = await start();
  await until('the next instance to deliver the rest', async () => (await backlog()) === 0);
  await assertDeliveredInOrder([...before, ...slack.calls]);
});
