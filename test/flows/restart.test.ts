// Requests live in the state database, not in the process: a pending request survives a restart, and an
// approval that a crash interrupted is reconciled by the next instance, never re-run.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  auditEvents,
  click,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

let app: TestApp | undefined;
const sessions = sessionTracker();
const track = sessions.track;
const start = () => startTestApp(baseEnv(db.url, slack), { terminateTimeoutMs: 3_000 });

// Each test starts its own app; its afterEach stops it before the test's sessions end.
const { db, slack } = useTestApp({ database: 'restart', app: false });
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await sessions.endAll();
});

test('a pending request survives a restart and is approved on the new instance', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  app = await start();
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} before the deploy`,
    as(REQUESTER, channel),
  );
  await app.stop();
  app = await start();
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'terminated' }]);
  assert.equal(await sessionAlive(db.url, victim.pid), false);
  await waitForUpdate(slack, db.url, id, /Approved by <@UAPP>.*terminated/);
});

test('an approval interrupted before its outcome is reconciled at start-up, not executed: the target is left alone', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  app = await start();
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} crash test`, as(REQUESTER, channel));
  await app.stop();
  // As if an instance had recorded the approval and crashed before sending the signal.
  await stateQuery(
    db.url,
    `UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now() - interval '10 minutes' WHERE id = $1`,
    [id, APPROVER],
  );
  app = await start();
  const row = await waitForStatus(db.url, id, ['failed', 'executed'], 5_000);
  assert.equal(row.status, 'failed');
  assert.equal(row.result?.interrupted, true);
  // It says the session is still there and was not signalled again — not "still running after the signal".
  assert.deepEqual(row.result?.outcomes, [
    { pid: victim.pid, outcome: 'still_running', message: 'still running; not signalled again after the interruption' },
  ]);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the target was not signalled');
  const events = await auditEvents(db.url, id);
  assert.ok(!events.includes('executing'), 'it was never executed');
  assert.equal(events.at(-1), 'failed');
  await waitForUpdate(slack, db.url, id, /interrupted by a restart/);

  const again = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.match(await again.reply(), /already decided/);
  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  assert.equal((await requestRow(db.url, id)).status, 'failed');
});

test('an execution interrupted after the signal was announced is reconciled with what is true now', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  app = await start();
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} crash after signal`,
    as(REQUESTER, channel),
  );
  await app.stop();
  // Crashed between the signal and recording its outcome: the session did end.
  await stateQuery(
    db.url,
    `UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now() - interval '10 minutes',
            executing_at = now() - interval '10 minutes' WHERE id = $1`,
    [id, APPROVER],
  );
  await victim.end();
  app = await start();
  const row = await waitForStatus(db.url, id, ['failed', 'executed'], 5_000);
  assert.equal(row.result?.interrupted, true);
  assert.deepEqual(row.result?.outcomes, [
    {
      pid: victim.pid,
      outcome: 'gone',
      message: 'no longer running (the signal may have gone out before the interruption)',
    },
  ]);
});

test('a request approved moments ago on another instance is not reconciled from under it', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120 }));
  app = await start();
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} fresh approval`, as(REQUESTER, channel));
  // Approved (by a slow instance) a second ago: not yet "interrupted" (the default is 60 s).
  await stateQuery(
    db.url,
    `UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now() WHERE id = $1`,
    [id, APPROVER],
  );
  await new Promise((resolve) => setTimeout(resolve, 700));
  assert.equal((await requestRow(db.url, id)).status, 'approved');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
});
