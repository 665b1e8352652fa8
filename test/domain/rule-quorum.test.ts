// Quorum for rules on its own (src/domain/rule-quorum.ts, the rule part of src/domain/binding.ts): a rule of
// quorum one is sealed and bound exactly as before quorums existed (its stored MACs still verify); above one the
// quorum is in the seal and the approval covers the set of approvers, whatever their order; each approval row's
// MAC names its rule. And how the progress reads.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createBinder, type RuleBound } from '../../src/domain/binding.js';
import { canonicalJson } from '../../src/domain/audit.js';
import { approvalAnswer, approvedBy, quorumLines } from '../../src/domain/rule-quorum.js';
import type { Rule, RuleSpec } from '../../src/domain/rules.js';

const spec: RuleSpec = {
  action: 'terminate',
  cause: 'idle-in-transaction',
  filters: { application: 'etl' },
  thresholds: { idleSeconds: 60 },
  lifetimeSeconds: 3600,
  maxExecutions: 5,
  dryRun: false,
  reason: 'stale',
};
const bound: RuleBound = {
  id: '00000000-0000-4000-8000-000000000009',
  cluster: 'main',
  spec,
  proposer: 'UPROP',
  createdAt: '2026-01-01T00:00:00.000000Z',
};
const approval = {
  approver: 'UB',
  approvedAt: '2026-01-01T00:01:00.000000Z',
  expiresAt: '2026-01-01T01:01:00.000000Z',
};

test('quorum one: the seal and the approval are the ones made before quorums existed', () => {
  const binder = createBinder(null);
  // The body as the binding was computed before migration 016 (unkeyed: plain SHA-256 over the same text).
  const before = (a: typeof approval | null) =>
    `sha256:${createHash('sha256')
      .update('pgsessions binding v1\n')
      .update(
        canonicalJson({
          kind: 'rule',
          id: bound.id,
          cluster: bound.cluster,
          spec,
          proposer: bound.proposer,
          createdAt: bound.createdAt,
          quorum: 1,
          approver: a?.approver ?? null,
          approvedAt: a?.approvedAt ?? null,
          expiresAt: a?.expiresAt ?? null,
        }),
      )
      .digest('hex')}`;
  for (const r of [bound, { ...bound, quorum: 1 }]) {
    assert.equal(binder.rule(r, null), before(null));
    assert.equal(binder.rule(r, { ...approval, approvers: ['UA', 'UB'] }), before(approval));
  }
});

test('above one: the quorum is sealed, and the approval covers the approvers as a set', () => {
  const binder = createBinder(randomBytes(32));
  const two = { ...bound, quorum: 2 };
  assert.notEqual(binder.rule(two, null), binder.rule(bound, null), 'lowering the quorum breaks the seal');
  assert.notEqual(binder.rule(two, null), binder.rule({ ...bound, quorum: 3 }, null));
  const ab = binder.rule(two, { ...approval, approvers: ['UA', 'UB'] });
  assert.equal(
    binder.rule(two, { ...approval, approvers: ['UB', 'UA'] }),
    ab,
    'the order of approvals does not matter',
  );
  assert.notEqual(
    binder.rule(two, { ...approval, approvers: ['UB', 'UC'] }),
    ab,
    'another approver set does not match',
  );
  assert.notEqual(binder.rule(two, { ...approval, approvers: ['UB'] }), ab);
});

test('an approval row’s MAC names its rule, approver and time, and needs the key', () => {
  const key = randomBytes(32);
  const binder = createBinder(key);
  const a = { ruleId: bound.id, approver: 'UA', approvedAt: approval.approvedAt };
  const mac = binder.ruleApproval(a);
  assert.equal(createBinder(key).ruleApproval(a), mac);
  assert.notEqual(binder.ruleApproval({ ...a, ruleId: '00000000-0000-4000-8000-00000000000a' }), mac);
  assert.notEqual(binder.ruleApproval({ ...a, approver: 'UX' }), mac);
  assert.notEqual(binder.ruleApproval({ ...a, approvedAt: '2026-01-01T00:02:00.000000Z' }), mac);
  assert.notEqual(createBinder(randomBytes(32)).ruleApproval(a), mac, 'another key');
  assert.notEqual(createBinder(null).ruleApproval(a), mac, 'no key');
});

const rule = (over: Partial<Rule>): Rule => ({
  ...bound,
  status: 'proposed',
  approver: null,
  endedBy: null,
  channel: 'C1',
  messageTs: null,
  proposalExpiresAt: '2026-01-01T00:10:00.000000Z',
  expiresAt: null,
  used: 0,
  last: null,
  ...over,
});
const mention = (u: string) => `<@${u}>`;

test('how the progress reads: needs, k of n with who, all approvers once approved; nothing at quorum one', () => {
  assert.deepEqual(quorumLines(rule({ quorum: 2, approvers: [] }), mention), ['Needs 2 approvals']);
  assert.deepEqual(quorumLines(rule({ quorum: 3, approvers: ['UA', 'UB'] }), mention), [
    'Needs 3 approvals',
    '2 of 3 approvals: <@UA>, <@UB>',
  ]);
  assert.deepEqual(quorumLines(rule({ approvers: ['UA'] }), mention), [], 'quorum one reads as before');
  const approved = rule({ status: 'approved', quorum: 2, approver: 'UB', approvers: ['UA', 'UB'] });
  assert.deepEqual(approvedBy(approved), ['UA', 'UB']);
  assert.deepEqual(approvedBy(rule({ status: 'approved', approver: 'UB', approvers: ['UB'] })), ['UB']);
  assert.equal(approvalAnswer(approved), null, 'a final approval is answered as before');
  assert.match(approvalAnswer(rule({ quorum: 2, approvers: ['UA'] })) ?? '', /1 of 2 approvals.*1 more needed/);
});
