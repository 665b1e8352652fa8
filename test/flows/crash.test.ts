// A real crash: pgsessions runs as its own process and is killed with SIGKILL after it has recorded an
// approval and the intent to signal, while the signal itself is held in flight by a slow proxy in front of
// the managed cluster. The next instance must reconcile the request, never run it again.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { childApps } from '../helpers/child-app.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import {
  APPROVER,
  assertNoSecrets,
  baseEnv,
  REQUESTER,
  secretsOf,
  SIGNING_SECRET,
  startTestApp,
  type TestApp,
} from '../helpers/app.js';
import {
  as,
  auditEvents,
  auditOf,
  click,
  fresh,
  requestRow,
  sessionTracker,
  sleep,
  stateQuery,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { FORM_CONTENT_TYPE, postSigned } from '../helpers/slack-requests.js';

let proxy: SlowProxy;
let app: TestApp | undefined;
const sessions = sessionTracker();
const track = sessions.track;

// Each test starts its own app (or child); the cluster is reached through the proxy made in prepare.
const { db, slack } = useTestApp({
  database: 'crash',
  app: false,
  async prepare(database) {
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
  },
  async teardown() {
    await children.kill(); // never leave a child behind, whatever failed
    await proxy?.close();
  },
});

/** The managed cluster through the proxy; the state database direct, so only signals are held up. */
const childEnv = (port: number) => {
  const viaProxy = new URL(db.url);
  viaProxy.port = String(proxy.port);
  return { ...baseEnv(viaProxy.toString(), slack, { STATE_DATABASE_URL: db.url }), PORT: String(port) };
};

const children = childApps(childEnv);
const childLogs = children.logs;

afterEach(async () => {
  await children.kill();
  await app?.stop();
  app = undefined;
  proxy.delayMs = 0;
  await sessions.endAll();
});

/** Approve through the child and wait until the state database holds the approval and the intent to signal. */
async function approveUntilIntent(port: number, id: string, channel: string): Promise<void> {
  const clicked = await click(slack, port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal(clicked.status, 200);
  const deadline = Date.now() + 10_000;
  for (;;) {
    // The audit first, then the status: read the other way round, a status read just before the approval
    // would be paired with an audit read just after it.
    const events = await auditEvents(db.url, id);
    const status = (await requestRow(db.url, id)).status;
    if (events.includes('executing')) {
      assert.equal(status, 'approved', 'the intent is recorded while the request is approved, before any outcome');
      return;
    }
    if (Date.now() > deadline)
      throw new Error(`no executing entry after 10 s; status ${status}, audit ${events.join(',')}`);
    await sleep(10);
  }
}

/** A second instance (in-process) reconciles what the killed one left approved. */
async function reconcileOnNewInstance(id: string): Promise<Awaited<ReturnType<typeof requestRow>>> {
  app = await startTestApp(baseEnv(db.url, slack), { interruptedAfterSeconds: 1, terminateTimeoutMs: 3_000 });
  return waitForStatus(db.url, id, ['failed', 'executed'], 10_000);
}

test('SIGKILL after the signal reached the server but before its outcome was recorded: the next instance reconciles it as gone, and signals nothing again', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'crash-victim' }));
  const bystander = track(await sleepSession(db.url, { seconds: 120, application: 'crash-bystander' }));
  const { port, env } = await children.start();
  const { id } = await typedRequest(slack, port, `terminate ${victim.pid} crash in flight`, as(REQUESTER, channel));

  // Every chunk to and from the managed cluster now takes 2 s: the signal arrives, its answer is held back.
  proxy.delayMs = 2_000;
  await approveUntilIntent(port, id, channel);
  const deadline = Date.now() + 15_000;
  while (await sessionAlive(db.url, victim.pid, victim.backendStart)) {
    if (Date.now() > deadline) throw new Error('the signal never reached the server');
    await sleep(20);
  }
  await children.kill();
  proxy.delayMs = 0;
  assert.equal((await requestRow(db.url, id)).status, 'approved', 'the killed instance recorded no outcome');

  const row = await reconcileOnNewInstance(id);
  assert.equal(row.status, 'failed');
  assert.equal(row.result?.interrupted, true);
  assert.deepEqual(row.result?.outcomes, [
    {
      pid: victim.pid,
      outcome: 'gone',
      message: 'no longer running (the signal may have gone out before the interruption)',
    },
  ]);
  const events = await auditEvents(db.url, id);
  assert.deepEqual(
    events,
    ['requested', 'approved', 'executing', 'failed'],
    'one intent, one outcome: it was not executed twice',
  );
  const failed = (await auditOf(db.url, id)).at(-1)!;
  assert.equal((failed.details.result as { interrupted?: boolean }).interrupted, true);
  await waitForUpdate(slack, db.url, id, /interrupted by a restart/);
  assert.equal(await sessionAlive(db.url, bystander.pid, bystander.backendStart), true, 'nothing else was touched');

  // And a late click on the old message does nothing.
  const again = await click(slack, app!.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await again.reply(), /already decided/);
  assert.deepEqual(await auditEvents(db.url, id), events);
  assertNoSecrets(childLogs, secretsOf(env));
});

test('SIGKILL while the signal is still held in flight: it never reaches the server, the target lives on, and the next instance does not send it', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'crash-survivor' }));
  const { port, env } = await children.start();
  const { id } = await typedRequest(
    slack,
    port,
    `terminate ${victim.pid} crash before the signal`,
    as(REQUESTER, channel),
  );

  proxy.delayMs = 30_000;
  await approveUntilIntent(port, id, channel);
  await children.kill();
  proxy.delayMs = 0;

  const row = await reconcileOnNewInstance(id);
  assert.equal(row.status, 'failed');
  assert.equal(row.result?.interrupted, true);
  assert.deepEqual(row.result?.outcomes, [
    { pid: victim.pid, outcome: 'still_running', message: 'still running; not signalled again after the interruption' },
  ]);
  assert.deepEqual(await auditEvents(db.url, id), ['requested', 'approved', 'executing', 'failed']);
  await waitForUpdate(slack, db.url, id, /interrupted by a restart/);
  // Give a stray re-execution every chance to show itself before looking at the session.
  await sleep(1_500);
  assert.equal(
    await sessionAlive(db.url, victim.pid, victim.backendStart),
    true,
    'the target session is alive, the same backend',
  );
  assert.equal((await requestRow(db.url, id)).status, 'failed');
  const executing = await stateQuery<{ n: number }>(
    db.url,
    `SELECT count(*)::int AS n FROM pgsessions.audit_log WHERE request_id = $1 AND event = 'executing'`,
    [id],
  );
  assert.equal(executing[0]!.n, 1);
  assertNoSecrets(childLogs, secretsOf(env));
});

test('a correctly signed body whose payload is not an object is refused with 400 and the process keeps serving', async () => {
  const { port } = await children.start();
  for (const payload of ['null', '42', '"text"', 'true']) {
    const res = await postSigned(port, SIGNING_SECRET, `payload=${encodeURIComponent(payload)}`, FORM_CONTENT_TYPE, {
      timeoutMs: 5_000,
    });
    assert.equal(res.status, 400, `payload=${payload}`);
    assert.doesNotMatch(res.body, /at .+\.js:\d+/, 'no stack trace to the caller');
  }
  assert.equal(children.current()?.exitCode, null, 'the process is still running');
  assert.equal((await fetch(`http://127.0.0.1:${port}/healthz`)).status, 200);
  assertNoSecrets(childLogs, secretsOf(childEnv(port)));
});
