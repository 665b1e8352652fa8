// A rule's quorum on screen (docs/approvals.md "Quorum for rules"): the proposal says how many approvals it
// needs and who approved so far, the approved rule and the list name every approver, and the proposer hears
// who approved it — or, when it expired, how far it got. Pure renderers; a rule of quorum one reads as before.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rule } from '../../src/domain/rules.js';
import { buildRuleMessage, buildRulesList, ruleNotice } from '../../src/slack/blocks/rule.js';

const rule = (over: Partial<Rule> = {}): Rule => ({
  id: '11111111-2222-4333-8444-555555555556',
  cluster: 'prod',
  spec: {
    action: 'terminate',
    cause: 'idle-in-transaction',
    filters: { application: 'reporting' },
    thresholds: { idleSeconds: 900 },
    lifetimeSeconds: 3600,
    maxExecutions: 10,
    dryRun: false,
    reason: 'reporting tool',
  },
  status: 'proposed',
  proposer: 'UPROP',
  approver: null,
  endedBy: null,
  channel: 'COPS',
  messageTs: '1700000000.000100',
  createdAt: '2026-01-01T12:00:00.000000Z',
  proposalExpiresAt: '2026-01-01T12:15:00.000000Z',
  expiresAt: null,
  used: 0,
  last: null,
  quorum: 2,
  approvers: [],
  ...over,
});
const text = (value: unknown) => JSON.stringify(value);

test('a proposal of quorum 2: "Needs 2 approvals", then "1 of 2 approvals: @a", its buttons still there', () => {
  const fresh = text(buildRuleMessage(rule()));
  assert.match(fresh, /waiting for its approvers/);
  assert.match(fresh, /Needs 2 approvals/);
  assert.doesNotMatch(fresh, /of 2 approvals/, 'no progress before anyone approved');
  const one = buildRuleMessage(rule({ approvers: ['UA'] }));
  assert.match(text(one), /1 of 2 approvals: <@UA>/);
  assert.ok(
    one.blocks?.some((b) => b.type === 'actions'),
    'still Approve / Deny / Withdraw',
  );
  assert.match(text(buildRulesList([rule({ approvers: ['UA'] })])), /Needs 2 approvals · 1 of 2 approvals: <@UA>/);
});

test('the approved rule names all its approvers, on its message, in the list and in the proposer’s notice', () => {
  const approved = rule({
    status: 'approved',
    approver: 'UB',
    approvers: ['UA', 'UB'],
    expiresAt: '2026-01-01T13:00:00.000000Z',
  });
  assert.match(text(buildRuleMessage(approved)), /approved by <@UA>, <@UB>/);
  assert.doesNotMatch(text(buildRuleMessage(approved)), /Needs 2 approvals/);
  assert.match(text(buildRulesList([approved])), /approved by <@UA>, <@UB>/);
  assert.match(
    ruleNotice(approved) ?? '',
    /^<@UPROP> your rule was approved by <@UA>, <@UB>: it is active until 13:00 UTC/,
  );
});

test('a proposal that expired short of its quorum says how far it got; quorum one reads as before', () => {
  assert.match(
    ruleNotice(rule({ status: 'expired', approvers: ['UA'] })) ?? '',
    /your proposal expired: it had 1 of 2 approvals: <@UA>, not enough in time/,
  );
  assert.match(ruleNotice(rule({ status: 'expired' })) ?? '', /nobody decided it in time/);
  const single = rule({ quorum: 1, approvers: ['UB'], status: 'approved', approver: 'UB' });
  assert.doesNotMatch(text(buildRuleMessage(single)), /approvals/);
  assert.match(text(buildRuleMessage(single)), /approved by <@UB>/);
});
