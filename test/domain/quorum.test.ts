// Quorum on its own (src/domain/quorum.ts, the binding's quorum fields, the message's progress line): a seal
// of quorum 1 is exactly what it was before quorum existed, so older requests still verify; above 1 the
// quorum and the set of approvers (in any order) are bound; an approval row's MAC names its request.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createBinder, type RequestBound } from '../../src/domain/binding.js';
import { canonicalJson } from '../../src/domain/audit.js';
import { alreadyApprovedSentence, approvalsLeft } from '../../src/domain/quorum.js';
import type { KillRequest } from '../../src/domain/types.js';
import { buildApprovalMessage } from '../../src/slack/blocks/request.js';

const request: RequestBound = {
  id: '00000000-0000-4000-8000-000000000001',
  cluster: 'main',
  action: 'terminate',
  requester: 'UREQ',
  targets: [{ pid: 42, backendStart: '2026-01-01T00:00:00.000001Z', queryStart: null, backendType: 'client backend' }],
  escalateAfterSeconds: null,
  createdAt: '2026-01-01T00:00:00.000000Z',
  expiresAt: '2026-01-01T00:15:00.000000Z',
};

test('a quorum-1 seal and binding are byte for byte what they were before quorum existed', () => {
  const unkeyed = createBinder(null);
  // The body as migration 007's code wrote it (quorum: 1 constant, no approvers key).
  const before = (approver: string | null, approvedAt: string | null) =>
    `sha256:${createHash('sha256')
      .update('pgsessions binding v1\n')
      .update(
        canonicalJson({
          kind: 'request',
          id: request.id,
          cluster: request.cluster,
          action: request.action,
          requester: request.requester,
          targets: request.targets,
          escalateAfterSeconds: null,
          createdAt: request.createdAt,
          expiresAt: request.expiresAt,
          quorum: 1,
          approver,
          approvedAt,
        }),
      )
      .digest('hex')}`;
  assert.equal(unkeyed.request(request, null), before(null, null));
  assert.equal(unkeyed.request({ ...request, quorum: 1 }, null), before(null, null));
  const approval = { approver: 'UAPP', approvedAt: '2026-01-01T00:01:00.000000Z', expiresAt: null };
  assert.equal(unkeyed.request({ ...request, quorum: 1 }, approval), before('UAPP', approval.approvedAt));
});

test('above 1 the quorum and the approvers are bound, in any order; an approval MAC names its request', () => {
  const binder = createBinder(randomBytes(32));
  assert.notEqual(binder.request({ ...request, quorum: 2 }, null), binder.request(request, null));
  const at = { approver: 'UB', approvedAt: '2026-01-01T00:01:00.000000Z', expiresAt: null };
  const two = { ...request, quorum: 2 };
  assert.equal(
    binder.request(two, { ...at, approvers: ['UA', 'UB'] }),
    binder.request(two, { ...at, approvers: ['UB', 'UA'] }),
  );
  assert.notEqual(
    binder.request(two, { ...at, approvers: ['UA', 'UB'] }),
    binder.request(two, { ...at, approvers: ['UX', 'UB'] }),
  );
  const row = { requestId: request.id, approver: 'UA', approvedAt: at.approvedAt };
  assert.notEqual(binder.approval(row), binder.approval({ ...row, requestId: '00000000-0000-4000-8000-000000000009' }));
  assert.notEqual(binder.approval(row), binder.approval({ ...row, approver: 'UZ' }));
  assert.notEqual(binder.approval(row), createBinder(randomBytes(32)).approval(row));
});

test('the sentence and the message say how many approvals are still needed', () => {
  const r: KillRequest = {
    ...request,
    targets: [],
    reason: 'runaway',
    channel: 'C1',
    messageTs: null,
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    expiresAt: '2999-01-01T00:00:00.000000Z',
    scope: null,
    result: null,
    quorum: 3,
    approvers: ['UA'],
  };
  assert.equal(approvalsLeft(r), 2);
  assert.equal(alreadyApprovedSentence(r), 'You already approved this request; it needs 2 more approvals.');
  assert.equal(
    alreadyApprovedSentence({ quorum: 2, approvers: ['UA'] }),
    'You already approved this request; it needs 1 more approval.',
  );
  const now = new Date('2026-01-01T00:00:00Z');
  assert.match(JSON.stringify(buildApprovalMessage({ request: r, now }).blocks), /1 of 3 approvals: <@UA>/);
  assert.match(
    JSON.stringify(buildApprovalMessage({ request: { ...r, approvers: [] }, now }).blocks),
    /Needs 3 approvals/,
  );
  const plain = buildApprovalMessage({ request: { ...r, quorum: undefined, approvers: undefined }, now });
  assert.doesNotMatch(JSON.stringify(plain.blocks), /approvals/);
});
