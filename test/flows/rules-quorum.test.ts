// Quorum for standing approvals (issue 16, docs/approvals.md "Quorum for rules"), end to end: the real app over
// signed requests, its watcher on a 1 s interval, PGSESSIONS_QUORUM=terminate:2. A terminate rule needs two
// approvers besides its proposer: after one approval it does not act (a matching session stays), after the
// second it does; the proposer is refused; the same approver twice counts once; any deny ends the proposal;
// two replicas approving at once approve it exactly once.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { click, command, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { ruleDriver, waitUntil } from '../helpers/rules.js';
import { idleInTransactionLockHolder, sessionAlive, waitUntilGone } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const APPROVER_2 = 'UAPPQ2';
const APPROVER_3 = 'UAPPQ3';
const CHANNEL = 'CQUORUM1';
const sessions = sessionTracker();

// REQUESTER is an approver too: a proposer who may approve is still never counted for their own rule.
const extra = () =>
  watchEnv({
    PGSESSIONS_APPROVERS: `${REQUESTER},${APPROVER},${APPROVER_2},${APPROVER_3}`,
    PGSESSIONS_QUORUM: 'terminate:2',
  });
const START = { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 };

const { db, slack, app } = useTestApp({
  database: 'rulesq',
  async prepare(database) {
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
  },
  env: extra,
  start: START,
  revokeRules: true,
  sessions,
  resetSlack: true,
});
const rules = ruleDriver(
  slack,
  () => app.port,
  () => db.url,
  CHANNEL,
);

let nth = 0;
/** A rule that terminates the idle transactions of its own application (one application per test). */
async function propose(proposer = REQUESTER) {
  const application = `quorum-victim-${++nth}`;
  const { id, post } = await rules.propose(
    `terminate idle-in-transaction app:${application} idle:1s for:1h max:3 stale transactions`,
    proposer,
  );
  return { id, post, application };
}
const approvalRows = (id: string) =>
  stateQuery<{ approver: string }>(
    db.url,
    'SELECT approver FROM pgsessions.rule_approvals WHERE rule_id = $1 ORDER BY approved_at',
    [id],
  );
/** pgsessions_rule_decisions_total by decision, from GET /metrics. */
async function decisions(): Promise<Record<'approval_recorded' | 'approved' | 'refused_self_approval', number>> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const value = (d: string) =>
    Number(new RegExp(`pgsessions_rule_decisions_total\\{decision="${d}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
  return {
    approval_recorded: value('approval_recorded'),
    approved: value('approved'),
    refused_self_approval: value('refused_self_approval'),
  };
}
const events = async (id: string) => (await rules.audit(id)).map((e) => e.event);
/** The rule's message as last shown (its latest chat.update). */
const shown = (ts: string) => {
  const updates = slack.callsTo('chat.update').filter((c) => c.params.ts === ts && !c.fault);
  return textOf(updates.at(-1)?.params);
};

test('a terminate rule under terminate:2 acts only once two people besides its proposer approved it', async () => {
  const { id, post, application } = await propose();
  assert.match(textOf(post.params), /Needs 2 approvals/, 'the proposal says how many approvals it needs');
  const victim = sessions.track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application }),
  );

  const first = await rules.approve(id, APPROVER);
  assert.match(first, /1 of 2 approvals/, first);
  assert.equal((await rules.rule(id)).status, 'proposed', 'one approval of two approves nothing');
  const ts = String((await rules.rule(id)).message_ts);
  await slack.waitFor(() => /1 of 2 approvals: <@UAPP>/.test(shown(ts)), {
    description: 'the progress on the message',
  });
  // Several looks of the watcher (1 s apart) with the session matching: the rule is not active, nothing acts.
  await sleep(3_500);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the matching session is untouched');
  assert.equal((await rules.executions(id)).length, 0, 'no execution was claimed');

  const second = await rules.approve(id, APPROVER_2);
  assert.match(second, /Rule approved/, second);
  const row = await rules.rule(id);
  assert.equal(row.status, 'approved');
  assert.equal(row.approver, APPROVER_2, 'the approval that reached the quorum approved it');
  await waitUntilGone(db.url, victim.pid);
  const outcome = await waitUntil("the execution's outcome", async () => (await rules.executions(id))[0]?.outcome);
  assert.equal(outcome, 'terminated');

  const audit = await rules.audit<{ approvals?: string[]; needed?: number; approvers?: string[] }>(id);
  const recorded = audit.filter((e) => e.event === 'rule_approval_recorded');
  assert.equal(recorded.length, 1, 'the first approval is recorded as progress');
  assert.deepEqual(recorded[0]!.details.approvals, [APPROVER]);
  assert.equal(recorded[0]!.details.needed, 2);
  const approved = audit.filter((e) => e.event === 'rule_approved');
  assert.equal(approved.length, 1);
  assert.deepEqual(approved[0]!.details.approvers, [APPROVER, APPROVER_2], 'the approval names both approvers');
  await slack.waitFor(() => /approved by <@UAPP>, <@UAPPQ2>/.test(shown(ts)), {
    description: 'the approved rule naming all its approvers',
  });
});

test('the proposer is refused, the same approver twice counts once, the list shows the progress, and a deny ends it', async () => {
  const { id } = await propose();
  const before = await decisions();
  const own = await rules.approve(id, REQUESTER);
  assert.match(own, /You proposed this rule/, own);
  assert.match(await rules.approve(id, APPROVER), /1 of 2 approvals/);
  const again = await rules.approve(id, APPROVER);
  assert.match(again, /1 of 2 approvals/, 'a second click by the same approver counts once');
  assert.deepEqual(
    (await approvalRows(id)).map((r) => r.approver),
    [APPROVER],
  );
  assert.equal((await events(id)).filter((e) => e === 'rule_approval_recorded').length, 1);
  assert.equal((await rules.rule(id)).status, 'proposed');
  const after = await decisions();
  assert.equal(
    after.approval_recorded - before.approval_recorded,
    2,
    'both clicks of the approver are counted as such',
  );
  assert.equal(after.approved, before.approved, 'nothing was approved');
  assert.equal(after.refused_self_approval - before.refused_self_approval, 1);

  const listed = await command(slack, app.port, 'rules', { user: APPROVER, channel: CHANNEL });
  assert.match(textOf(listed.body), /Needs 2 approvals/);
  assert.match(textOf(listed.body), /1 of 2 approvals: <@UAPP>/);

  assert.match(await rules.press(ACTION.ruleDeny, id, APPROVER_2), /Rule denied/);
  assert.equal((await rules.rule(id)).status, 'denied', 'any deny ends the proposal, approvals so far or not');
  const late = await rules.approve(id, APPROVER_3);
  assert.match(late, /already decided/, late);
  assert.equal((await approvalRows(id)).length, 1, 'no approval is recorded on an ended proposal');
});

test('two replicas, three approvers clicking at once: the rule is approved exactly once', async () => {
  const other: TestApp = await startTestApp({ ...baseEnv(db.url, slack), ...extra() }, START);
  try {
    const { id } = await propose();
    const clicks = [
      [app.port, APPROVER],
      [other.port, APPROVER_2],
      [app.port, APPROVER_3],
    ] as const;
    const answers = await Promise.all(
      clicks.map(async ([port, user]) => {
        const clicked = await click(slack, port, ACTION.ruleApprove, id, { user, channel: CHANNEL });
        assert.equal(clicked.status, 200);
        return clicked.reply(10_000);
      }),
    );
    assert.equal(answers.filter((a) => /Rule approved/.test(a)).length, 1, answers.join(' | '));
    assert.equal(answers.filter((a) => /1 of 2 approvals/.test(a)).length, 1, answers.join(' | '));
    assert.equal(answers.filter((a) => /already decided/.test(a)).length, 1, answers.join(' | '));
    const row = await rules.rule(id);
    assert.equal(row.status, 'approved');
    const all = await events(id);
    assert.equal(all.filter((e) => e === 'rule_approved').length, 1, 'one rule_approved entry');
    assert.equal(all.filter((e) => e === 'rule_approval_recorded').length, 1);
    assert.equal((await approvalRows(id)).length, 2, 'the third click came after the decision: not recorded');
  } finally {
    await other.stop();
  }
});
