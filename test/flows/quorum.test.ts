// Quorum for kill requests (issue 16, docs/approvals.md "Quorum"), end to end: PGSESSIONS_QUORUM=terminate:2
// globally and a cluster of the clusters file with its own `quorum:`. After every click a look at
// pg_stat_activity, the request row, its approval rows, the audit log and the message in Slack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { APPROVER, REQUESTER } from '../helpers/app.js';
import {
  as,
  auditEvents,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { createTestDatabase, serverUrl } from '../helpers/pg.js';
import { sessionAlive, sleepSession, waitUntilGone } from '../helpers/sessions.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const SECOND = 'UAPP2';
const THIRD = 'UAPP3';
let clustersFile = '';

const sessions = sessionTracker();
const track = sessions.track;
const { db, slack, app } = useTestApp({
  database: 'quorum',
  prepare: async (db) => {
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-quorum-'));
    clustersFile = join(dir, 'clusters.yml');
    await writeFile(
      clustersFile,
      [
        'clusters:',
        '  - name: main',
        `    url: ${db.url}`,
        '  - name: quad',
        `    url: ${db.url}`,
        '    quorum: { terminate: 3 }',
        '',
      ].join('\n'),
    );
  },
  env: (db) => ({
    PGSESSIONS_CLUSTERS: clustersFile,
    STATE_DATABASE_URL: db.url,
    DATABASE_URL: undefined,
    PGSESSIONS_QUORUM: 'terminate:2',
    PGSESSIONS_APPROVERS: `${APPROVER},${SECOND},${THIRD},${REQUESTER}`,
  }),
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});

const approve = async (id: string, user: string, channel: string) =>
  click(slack, app.port, ACTION.approve, id, as(user, channel));

async function approvalRows(id: string): Promise<string[]> {
  const rows = await stateQuery<{ approver: string }>(
    db.url,
    'SELECT approver FROM pgsessions.request_approvals WHERE request_id = $1 ORDER BY approved_at',
    [id],
  );
  return rows.map((r) => r.approver);
}

async function waitForEvents(id: string, event: string, n: number): Promise<string[]> {
  for (let i = 0; i < 400; i++) {
    const events = await auditEvents(db.url, id);
    if (events.filter((e) => e === event).length >= n) return events;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`no ${n} × ${event} for ${id}: ${(await auditEvents(db.url, id)).join(',')}`);
}

const count = (events: string[], event: string) => events.filter((e) => e === event).length;

test('terminate:2: one approval leaves the session running and shows 1 of 2; the same approver and the requester are refused; a second approver executes it once', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'quorum-victim' }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:main runaway batch`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /Needs 2 approvals/);
  assert.equal((await stateQuery(db.url, 'SELECT quorum FROM pgsessions.requests WHERE id = $1', [id]))[0]?.quorum, 2);

  const first = await approve(id, APPROVER, channel);
  assert.equal(first.status, 200);
  await waitForEvents(id, 'approval_recorded', 1);
  await waitForUpdate(slack, db.url, id, new RegExp(`1 of 2 approvals: <@${APPROVER}>`));
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'still in pg_stat_activity');
  const recorded = (
    await stateQuery<{ details: Record<string, unknown> }>(
      db.url,
      "SELECT details FROM pgsessions.audit_log WHERE request_id = $1 AND event = 'approval_recorded'",
      [id],
    )
  )[0]?.details;
  assert.deepEqual(recorded?.approvals, [APPROVER]);
  assert.equal(recorded?.needed, 2);

  const pending = await command(slack, app.port, 'pending', as(SECOND, channel));
  assert.match(textOf(pending.body), /1 of 2 approvals/);

  const again = await approve(id, APPROVER, channel);
  assert.equal(await again.reply(), 'You already approved this request; it needs 1 more approval.');
  const self = await approve(id, REQUESTER, channel);
  assert.match(await self.reply(), /You made this request: a second person has to approve it/);
  assert.deepEqual(await approvalRows(id), [APPROVER], 'counted once; the requester is never counted');
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);

  await approve(id, SECOND, channel);
  await waitForStatus(db.url, id, ['executed']);
  await waitUntilGone(db.url, victim.pid);
  const events = await auditEvents(db.url, id);
  assert.equal(count(events, 'approval_recorded'), 1);
  assert.equal(count(events, 'approved'), 1);
  assert.equal(count(events, 'executed'), 1);
  assert.deepEqual(await approvalRows(id), [APPROVER, SECOND]);
  const approved = await stateQuery<{ details: Record<string, unknown> }>(
    db.url,
    "SELECT details FROM pgsessions.audit_log WHERE request_id = $1 AND event = 'approved'",
    [id],
  );
  assert.equal(approved[0]?.details.approver, SECOND);
  assert.deepEqual(approved[0]?.details.approvals, [APPROVER, SECOND]);
  await waitForUpdate(slack, db.url, id, new RegExp(`Approved by <@${APPROVER}>, <@${SECOND}>`));
  const late = await approve(id, THIRD, channel);
  assert.match(await late.reply(), /already decided/);
});

test('cancel keeps the two-person rule: one approval executes it, no approval row, the message as before', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'quorum-cancel' }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `cancel ${victim.pid} cluster:main long report`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /Waiting for an approver other than the requester/);
  assert.doesNotMatch(textOf(post.params.blocks), /Needs \d approvals/);
  await approve(id, APPROVER, channel);
  await waitForStatus(db.url, id, ['executed']);
  assert.deepEqual(await approvalRows(id), []);
  const events = await auditEvents(db.url, id);
  assert.equal(count(events, 'approval_recorded'), 0);
  assert.equal(count(events, 'executed'), 1);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'a cancel leaves the session');
});

test('a deny after one approval ends the request: nothing is executed, later approvals are refused', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'quorum-deny' }));
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:main maybe`,
    as(REQUESTER, channel),
  );
  await approve(id, APPROVER, channel);
  await waitForEvents(id, 'approval_recorded', 1);
  await click(slack, app.port, ACTION.deny, id, as(SECOND, channel));
  await waitForStatus(db.url, id, ['denied']);
  const after = await approve(id, THIRD, channel);
  assert.match(await after.reply(), /already decided/);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  const events = await auditEvents(db.url, id);
  assert.equal(count(events, 'executing'), 0);
  assert.equal(count(events, 'denied'), 1);
});

test('a cluster’s own quorum from the clusters file: terminate needs 3 there, frozen in the request', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'quorum-quad' }));
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:quad three keys`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /Needs 3 approvals/);
  await approve(id, APPROVER, channel);
  await waitForEvents(id, 'approval_recorded', 1);
  await approve(id, SECOND, channel);
  await waitForEvents(id, 'approval_recorded', 2);
  await waitForUpdate(slack, db.url, id, new RegExp(`2 of 3 approvals: <@${APPROVER}>, <@${SECOND}>`));
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  await approve(id, THIRD, channel);
  await waitForStatus(db.url, id, ['executed']);
  await waitUntilGone(db.url, victim.pid);
  assert.equal(count(await auditEvents(db.url, id), 'executed'), 1);
});

test('a drain needs the terminate quorum: one approval changes nothing on the database, the second drains it', async (t) => {
  const channel = fresh('C');
  const target = await createTestDatabase('qdrain');
  t.after(async () => {
    await stateQuery(db.url, `UPDATE pgsessions.drains SET state = 'ending' WHERE state = 'active'`);
    await stateQuery(db.url, `UPDATE pgsessions.drains SET state = 'ended' WHERE state = 'ending'`);
    await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1`);
    await target.drop();
  });
  const open = async () =>
    (
      await stateQuery<{ allow: boolean; limit: number }>(
        serverUrl(),
        'SELECT datallowconn AS allow, datconnlimit AS limit FROM pg_database WHERE datname = $1',
        [target.name],
      )
    )[0];
  const { id, post } = await typedRequest(
    slack,
    app.port,
    `drain db:${target.name} for:12s cluster:main restore tonight`,
    as(REQUESTER, channel),
  );
  assert.match(textOf(post.params.blocks), /Needs 2 approvals/);
  await approve(id, APPROVER, channel);
  await waitForEvents(id, 'approval_recorded', 1);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.deepEqual(await open(), { allow: true, limit: -1 }, 'nothing changed on the database yet');
  await approve(id, SECOND, channel);
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.notDeepEqual(await open(), { allow: true, limit: -1 }, 'drained');
  assert.equal(count(await auditEvents(db.url, id), 'drained'), 1);
});
