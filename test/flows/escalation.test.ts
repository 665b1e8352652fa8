// Escalation end to end (docs/approvals.md "Escalation"), in the production set-up: the owner migrates, the app
// runs as the runtime role, PGSESSIONS_AUDIT_KEY is set. PGSESSIONS_ESCALATE_AFTER=10s and
// PGSESSIONS_ESCALATE_TO=a user group: a request nobody decides reaches the group's members in a direct message
// (tier 1), its thread says so and to whom, `escalated` is audited once; two replicas escalate once; a decision
// before the deadline, or a pending row forged with the runtime password, makes pgsessions message nobody.
// Waits are on what the stand-in receives; a "nothing happened" is checked once a later request's escalation
// (a sentinel asked after it, so due after it) has arrived.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp } from '../helpers/app.js';
import {
  as,
  auditOf,
  click,
  fresh,
  requestRow,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { sleepSession } from '../helpers/sessions.js';
import type { RecordedCall } from '../helpers/slack-api.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { productionRoles } from '../helpers/production-roles.js';

const KEY = randomBytes(32).toString('base64');
const roles = productionRoles('e');
const ONCALL = 'SONCALL';
// The on-call group: two people new to the request, its requester (never asked) and an approver (told already).
const MEMBERS = ['UONCONE', 'UONCTWO', REQUESTER, APPROVER];
const WAIT = { timeoutMs: 40_000 };

let runtimeUrl: string;
const escalationEnv = () => ({
  STATE_DATABASE_URL: runtimeUrl,
  PGSESSIONS_AUDIT_KEY: KEY,
  PGSESSIONS_ESCALATE_AFTER: '10s',
  PGSESSIONS_ESCALATE_TO: ONCALL,
});

const sessions = sessionTracker();
const { db, slack, app } = useTestApp({
  database: 'escal',
  async prepare(database, standIn) {
    standIn.usergroups[ONCALL] = MEMBERS;
    standIn.usergroups.SAPPROVERS = [];
    runtimeUrl = await roles.prepare(database);
  },
  env: escalationEnv,
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});
after(async () => {
  await roles.drop();
});

/** Direct messages to `user` (the stand-in's DM channel is D + user id) about this request (its buttons' value). */
const dmsAbout = (user: string, id: string): RecordedCall[] =>
  slack.callsTo('chat.postMessage').filter((c) => c.params.channel === `D${user}` && textOf(c.params).includes(id));

/** Thread replies under the request's channel message that say it was escalated. */
const escalationReplies = (ts: string | null): RecordedCall[] =>
  slack
    .callsTo('chat.postMessage')
    .filter((c) => ts !== null && c.params.thread_ts === ts && /escalated/.test(String(c.params.text)));

const escalatedAudit = async (id: string) => (await auditOf(db.url, id)).filter((a) => a.event === 'escalated');

const escalationRows = (id: string) =>
  stateQuery<{ tier: number; replica: string; waited: number }>(
    db.url,
    `SELECT e.tier, e.replica, extract(epoch FROM e.escalated_at - r.created_at)::float8 AS waited
     FROM pgsessions.escalations e JOIN pgsessions.requests r ON r.id = e.subject_id
     WHERE e.subject_kind = 'request' AND e.subject_id = $1`,
    [id],
  );

/** A terminate request on a sleeping session of its own, asked by REQUESTER in `channel`. */
async function ask(channel: string, what: string) {
  const session = sessions.track(await sleepSession(db.url, { seconds: 120, application: `escal-${what}` }));
  return typedRequest(slack, app.port, `terminate ${session.pid} ${what}`, as(REQUESTER, channel));
}

/** Waits until the on-call group's first new member is told about the request: its escalation happened. */
const escalationOf = (id: string) =>
  slack.waitFor(() => dmsAbout('UONCONE', id)[0], { ...WAIT, description: `the escalation DM about ${id}` });

test('nobody decides: after 10 s the on-call group is told directly (tier 1), the thread says so, audited once', async () => {
  const channel = fresh('C');
  const { id } = await ask(channel, 'nobody-decides');
  await escalationOf(id);
  const { message_ts: ts } = await requestRow(db.url, id);
  const reply = await slack.waitFor(() => escalationReplies(ts)[0], { ...WAIT, description: 'the thread reply' });

  assert.equal(dmsAbout('UONCTWO', id).length, 1, 'each new member of the group is told once');
  assert.equal(dmsAbout(REQUESTER, id).length, 0, 'the requester is never asked to approve their own request');
  assert.equal(dmsAbout(APPROVER, id).length, 1, 'an approver told when it was asked is not told again');
  const tiers = await stateQuery<{ user_id: string; tier: number }>(
    db.url,
    `SELECT user_id, tier FROM pgsessions.approver_messages WHERE subject_id = $1 ORDER BY user_id`,
    [id],
  );
  assert.deepEqual(
    tiers.filter((t) => t.user_id.startsWith('UONC')),
    [
      { user_id: 'UONCONE', tier: 1 },
      { user_id: 'UONCTWO', tier: 1 },
    ],
  );

  const text = String(reply.params.text);
  assert.match(text, /No decision in 10 s: escalated to /);
  assert.match(text, /<@UONCONE>/);
  assert.match(text, /<@UONCTWO>/);
  assert.match(text, /\(group <!subteam\^SONCALL>\)/);
  assert.equal(reply.params.channel, channel);

  const rows = await escalationRows(id);
  assert.equal(rows.length, 1);
  assert.equal(rows[0]!.tier, 1);
  assert.ok(rows[0]!.waited >= 10, `escalated ${rows[0]!.waited} s after the request: never before the deadline`);
  const audited = await escalatedAudit(id);
  assert.equal(audited.length, 1);
  assert.deepEqual(
    { ...audited[0]!.details, what: undefined },
    {
      subject: 'request',
      id,
      requester: REQUESTER,
      what: undefined,
      tier: 1,
      to: [ONCALL],
      afterSeconds: 10,
    },
  );
  // The channel message was refreshed after the escalation (chat.update of its ts).
  await slack.waitFor(() => slack.callsTo('chat.update').find((c) => c.params.ts === ts && c.at >= reply.at), {
    ...WAIT,
    description: 'the channel message refreshed',
  });
  assert.equal((await requestRow(db.url, id)).status, 'pending', 'escalating decides nothing');
});

test('the tier it escalates to may decide once the escalation is due, and not before', async () => {
  const channel = fresh('C');
  const { id } = await ask(channel, 'tier-decides');
  // UONCONE is in the on-call group, not among the approvers: before the deadline their Approve is refused.
  const early = await click(slack, app.port, ACTION.approve, id, as('UONCONE', `DUONCONE`));
  assert.match(await early.reply(), /Only an approver can do that/);
  assert.equal((await requestRow(db.url, id)).status, 'pending', 'nothing decided before the escalation');
  await escalationOf(id);
  // Told "your approval is asked": now their Approve counts, from the direct message.
  const approved = await click(slack, app.port, ACTION.approve, id, as('UONCONE', `DUONCONE`));
  assert.equal(approved.status, 200);
  const row = await waitForStatus(db.url, id, ['executed', 'failed'], 30_000);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.equal(row.decided_by, 'UONCONE');
});

test('two replicas: the request is escalated once (one claim, one audit entry, one DM each, one thread reply)', async () => {
  const second = await startTestApp({ ...baseEnv(db.url, slack), ...escalationEnv() }, { terminateTimeoutMs: 3_000 });
  sessions.defer(() => second.stop(), { first: true });
  const channel = fresh('C');
  const { id } = await ask(channel, 'two-replicas');
  const sentinel = await ask(channel, 'two-replicas-sentinel');
  await escalationOf(id);
  // Both replicas' timers for the first request fired before the sentinel's deadline.
  await escalationOf(sentinel.id);
  const { message_ts: ts } = await requestRow(db.url, id);
  assert.equal((await escalationRows(id)).length, 1);
  assert.equal((await escalatedAudit(id)).length, 1);
  assert.equal(dmsAbout('UONCONE', id).length, 1);
  assert.equal(dmsAbout('UONCTWO', id).length, 1);
  assert.equal(escalationReplies(ts).length, 1);
});

test('a request approved before the deadline is never escalated: no DM to the tier, no thread reply, no audit', async () => {
  const channel = fresh('C');
  const { id } = await ask(channel, 'approved-in-time');
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal((await waitForStatus(db.url, id, ['executed', 'failed'])).status, 'executed');
  const sentinel = await ask(channel, 'approved-sentinel');
  await escalationOf(sentinel.id);

  const { message_ts: ts } = await requestRow(db.url, id);
  assert.deepEqual(dmsAbout('UONCONE', id), []);
  assert.deepEqual(dmsAbout('UONCTWO', id), []);
  assert.deepEqual(escalationReplies(ts), []);
  assert.deepEqual(await escalatedAudit(id), []);
  assert.deepEqual(await escalationRows(id), []);
});

test('a pending request forged with the runtime password (no valid seal) is never escalated', async () => {
  const channel = fresh('C');
  const real = await ask(channel, 'forgery-template');
  // The attacker copies a real request: its cluster, targets and even its seal (which covers the id).
  const forged = await stateQuery<{ id: string }>(
    runtimeUrl,
    `INSERT INTO pgsessions.requests (cluster, action, targets, reason, requester, channel, expires_at)
     SELECT cluster, action, targets, 'forged', 'UFORGER', channel, now() + interval '10 minutes'
     FROM pgsessions.requests WHERE id = $1
     RETURNING id::text`,
    [real.id],
  );
  const forgedId = forged[0]!.id;
  await stateQuery(
    runtimeUrl,
    'UPDATE pgsessions.requests SET binding = (SELECT binding FROM pgsessions.requests WHERE id = $2) WHERE id = $1',
    [forgedId, real.id],
  );
  const sentinel = await ask(channel, 'forgery-sentinel');
  await escalationOf(real.id);
  await escalationOf(sentinel.id);

  assert.equal((await requestRow(db.url, forgedId)).status, 'pending', 'the forged row still waits');
  assert.deepEqual(await escalationRows(forgedId), []);
  assert.deepEqual(await escalatedAudit(forgedId), []);
  const told = await stateQuery(db.url, 'SELECT 1 FROM pgsessions.approver_messages WHERE subject_id = $1', [forgedId]);
  assert.deepEqual(told, [], 'nobody was direct-messaged about it');
  assert.deepEqual(
    slack.callsTo('chat.postMessage').filter((c) => textOf(c.params).includes(forgedId)),
    [],
    'nothing was posted about it anywhere',
  );
});

test('the runtime role cannot fake an escalation of a decided request, nor rewrite or remove one', async () => {
  const channel = fresh('C');
  const { id } = await ask(channel, 'fence');
  await click(slack, app.port, ACTION.deny, id, as(APPROVER, channel));
  await waitForStatus(db.url, id, ['denied']);
  const attempt = async (sql: string, params: unknown[]) => {
    try {
      await stateQuery(runtimeUrl, sql, params);
      return 'accepted';
    } catch (error) {
      return String((error as { code?: string }).code);
    }
  };
  const insert = `INSERT INTO pgsessions.escalations (subject_kind, subject_id, tier, replica) VALUES ('request', $1, 1, 'x')`;
  assert.equal(await attempt(insert, [id]), '42501', 'only a waiting subject is escalated');
  assert.equal(
    await attempt(`UPDATE pgsessions.escalations SET tier = 2 WHERE subject_id = $1`, [id]),
    '42501',
    'no UPDATE grant',
  );
  assert.equal(await attempt(`DELETE FROM pgsessions.escalations`, []), '42501', 'no DELETE grant');
  assert.deepEqual(await escalationRows(id), []);
});
