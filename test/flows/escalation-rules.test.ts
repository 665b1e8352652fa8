// Escalation of a standing-approval proposal (docs/approvals.md "Escalation"): a rule nobody approves within
// PGSESSIONS_ESCALATE_AFTER reaches the on-call group directly (tier 1, never the proposer), its thread says
// so, and `escalated` (subject rule) is audited once. A proposal denied before the deadline is not escalated.
// The request side, replicas and forgery: test/flows/escalation.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER } from '../helpers/app.js';
import { stateQuery, textOf } from '../helpers/approval-flow.js';
import { ruleDriver } from '../helpers/rules.js';
import type { RecordedCall } from '../helpers/slack-api.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { watchEnv } from '../helpers/watch.js';

const CHANNEL = 'COPSESC1';
const PROPOSER = 'UPROPOSER';
const WAIT = { timeoutMs: 40_000 };

const { db, slack, app } = useTestApp({
  database: 'escrule',
  prepare: async (_db, standIn) => {
    standIn.usergroups.SONCALL = ['UONCONE', PROPOSER];
    standIn.usergroups.SAPPROVERS = [];
  },
  env: watchEnv({
    PGSESSIONS_APPROVERS: `${APPROVER},SAPPROVERS`,
    PGSESSIONS_ESCALATE_AFTER: '10s',
    PGSESSIONS_ESCALATE_TO: 'SONCALL',
  }),
  revokeRules: true,
});
const rules = ruleDriver(
  slack,
  () => app.port,
  () => db.url,
  CHANNEL,
);

const dmsAbout = (user: string, id: string): RecordedCall[] =>
  slack.callsTo('chat.postMessage').filter((c) => c.params.channel === `D${user}` && textOf(c.params).includes(id));

const escalatedAudit = (id: string) =>
  stateQuery<{ details: Record<string, unknown> }>(
    db.url,
    `SELECT details FROM pgsessions.audit_log WHERE event = 'escalated' AND details->>'id' = $1`,
    [id],
  );

test('a proposal nobody decides is escalated to the on-call group once; one denied in time is not', async () => {
  const denied = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h denied', PROPOSER);
  assert.match(await rules.press(ACTION.ruleDeny, denied.id, APPROVER), /./);
  await rules.waitForRule(denied.id, (r) => r.status === 'denied', 'the denial');
  const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h undecided', PROPOSER);

  await slack.waitFor(() => dmsAbout('UONCONE', id)[0], { ...WAIT, description: 'the escalation DM' });
  const { message_ts: ts } = await rules.rule(id);
  const reply = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => c.params.thread_ts === ts && /escalated/.test(String(c.params.text))),
    { ...WAIT, description: 'the thread reply' },
  );
  assert.match(String(reply.params.text), /No decision in 10 s: escalated to <@UONCONE> \(group <!subteam\^SONCALL>\)/);
  assert.equal(dmsAbout(PROPOSER, id).length, 0, 'the proposer is never asked to approve their own rule');
  const audited = await escalatedAudit(id);
  assert.equal(audited.length, 1);
  assert.equal(audited[0]!.details.subject, 'rule');
  assert.equal(audited[0]!.details.requester, PROPOSER);
  assert.equal((await rules.rule(id)).status, 'proposed', 'escalating decides nothing');

  // The denied proposal was due first: nothing about it, anywhere.
  assert.deepEqual(dmsAbout('UONCONE', denied.id), []);
  assert.deepEqual(await escalatedAudit(denied.id), []);
});
