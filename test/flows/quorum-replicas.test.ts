// Quorum across replicas (issue 16 "Exactly once"): two replicas of the real app share one state database;
// different approvers click Approve at the same moment, each on another replica. Every approval is recorded
// once, the request is approved and executed exactly once, with one `executed` audit entry.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { sleepSession, waitUntilGone } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  auditEvents,
  buttonsIn,
  click,
  fresh,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  updatesOf,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const SECOND = 'UAPP2';
const THIRD = 'UAPP3';

let db: TestDatabase;
let slack: SlackApi;
const apps: TestApp[] = [];
const sessions = sessionTracker();

before(async () => {
  [db, slack] = await Promise.all([createTestDatabase('qrepl'), startSlackApi()]);
  const env = baseEnv(db.url, slack, {
    STATE_DATABASE_URL: db.url,
    PGSESSIONS_QUORUM: 'terminate:2,cancel:3',
    PGSESSIONS_APPROVERS: `${APPROVER},${SECOND},${THIRD}`,
  });
  // One after the other: the first migrates the shared state database.
  apps.push(await startTestApp(env, { terminateTimeoutMs: 3_000 }));
  apps.push(await startTestApp(env, { terminateTimeoutMs: 3_000 }));
});
afterEach(async () => {
  await sessions.endAll();
});
after(async () => {
  for (const app of apps.splice(0)) await app.stop().catch(() => undefined);
  await slack?.close();
  await db?.drop();
});

const count = (events: string[], event: string) => events.filter((e) => e === event).length;

async function approvers(id: string): Promise<string[]> {
  const rows = await stateQuery<{ approver: string }>(
    db.url,
    'SELECT approver FROM pgsessions.request_approvals WHERE request_id = $1 ORDER BY approver',
    [id],
  );
  return rows.map((r) => r.approver);
}

/** Everyone clicks at the same moment, each on the replica their index picks. */
async function allAtOnce(id: string, users: string[], channel: string): Promise<void> {
  const clicks = await Promise.all(
    users.map((user, i) => click(slack, apps[i % apps.length]!.port, ACTION.approve, id, as(user, channel))),
  );
  for (const c of clicks) assert.equal(c.status, 200);
}

test('quorum 2: two approvers on two replicas at the same moment, several times over: each approval recorded once, each request executed exactly once', async () => {
  for (let round = 0; round < 4; round++) {
    const channel = fresh('C');
    const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: `qrepl-${round}` }));
    const { id } = await typedRequest(
      slack,
      apps[0]!.port,
      `terminate ${victim.pid} race ${round}`,
      as(REQUESTER, channel),
    );
    await allAtOnce(id, round % 2 === 0 ? [APPROVER, SECOND] : [SECOND, APPROVER], channel);
    await waitForStatus(db.url, id, ['executed']);
    await waitUntilGone(db.url, victim.pid);
    await sleep(300); // anything late would show now
    const events = await auditEvents(db.url, id);
    assert.equal(count(events, 'approval_recorded'), 1, events.join(','));
    assert.equal(count(events, 'approved'), 1, events.join(','));
    assert.equal(count(events, 'executing'), 1, events.join(','));
    assert.equal(count(events, 'executed'), 1, events.join(','));
    assert.equal(count(events, 'tampering_detected'), 0, events.join(','));
    assert.deepEqual(await approvers(id), [APPROVER, SECOND].sort());
    // The message ends as executed, with no Approve button: a late progress update never overwrites it.
    const updates = await updatesOf(slack, db.url, id);
    const last = updates[updates.length - 1];
    assert.ok(last, 'the message was updated');
    assert.ok(!buttonsIn(last.params.blocks).some((b) => b.action_id === ACTION.approve), textOf(last.params));
  }
});

test('quorum 3: three approvers at once across the replicas: two recorded, the third approves, one execution', async () => {
  const channel = fresh('C');
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'qrepl-three' }));
  const { id } = await typedRequest(slack, apps[1]!.port, `cancel ${victim.pid} three at once`, as(REQUESTER, channel));
  await allAtOnce(id, [APPROVER, SECOND, THIRD], channel);
  const row = await waitForStatus(db.url, id, ['executed']);
  assert.equal(row.result?.outcomes[0]?.outcome, 'cancelled', JSON.stringify(row.result));
  await sleep(300);
  const events = await auditEvents(db.url, id);
  assert.equal(count(events, 'approval_recorded'), 2, events.join(','));
  assert.equal(count(events, 'approved'), 1, events.join(','));
  assert.equal(count(events, 'executed'), 1, events.join(','));
  assert.deepEqual(await approvers(id), [APPROVER, SECOND, THIRD].sort());
});
