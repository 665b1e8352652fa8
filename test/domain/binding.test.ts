// The binding (src/domain/binding.ts) and the chain's head and verification after a junk row, on their own:
// every field an approval authorises changes the binding; without the key it cannot be made; a junk row
// neither becomes the head of the chain nor hides the breaks after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createBinder, sameBinding, type RequestBound, type RuleBound } from '../../src/domain/binding.js';
import {
  chainHash,
  chainHead,
  GENESIS_HASH,
  verifyChain,
  type AuditEntry,
  type AuditHashedFields,
} from '../../src/domain/audit.js';
import type { RuleSpec } from '../../src/domain/rules.js';

const KEY = randomBytes(32);
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
const spec: RuleSpec = {
  action: 'cancel',
  cause: 'active',
  filters: { application: 'report' },
  thresholds: { runningSeconds: 5 },
  lifetimeSeconds: 3600,
  maxExecutions: 5,
  dryRun: false,
  reason: 'runaway',
};
const rule: RuleBound = {
  id: '00000000-0000-4000-8000-000000000002',
  cluster: 'main',
  spec,
  proposer: 'UPRO',
  createdAt: '2026-01-01T00:00:00.000000Z',
};
const approval = { approver: 'UAPP', approvedAt: '2026-01-01T00:01:00.000000Z', expiresAt: null };
const ruleApproval = {
  approver: 'UAPP',
  approvedAt: '2026-01-01T00:01:00.000000Z',
  expiresAt: '2026-01-01T01:01:00.000000Z',
};

test('a request binding changes with every field it authorises, and the seal differs from the approval', () => {
  const b = createBinder(KEY);
  const bound = b.request(request, approval);
  assert.notEqual(b.request(request, null), bound);
  const variants: RequestBound[] = [
    { ...request, targets: [{ ...request.targets[0]!, pid: 43 }] },
    { ...request, targets: [{ ...request.targets[0]!, backendStart: '2026-01-01T00:00:00.000002Z' }] },
    {
      ...request,
      targets: [...request.targets, { pid: 7, backendStart: 'x', queryStart: null, backendType: 'client backend' }],
    },
    { ...request, action: 'terminate_all' },
    { ...request, cluster: 'other' },
    { ...request, requester: 'UOTHER' },
    { ...request, expiresAt: '2036-01-01T00:15:00.000000Z' },
    { ...request, id: '00000000-0000-4000-8000-000000000009' },
  ];
  for (const v of variants) assert.notEqual(b.request(v, approval), bound, JSON.stringify(v));
  assert.notEqual(b.request(request, { ...approval, approver: 'UEVIL' }), bound);
  assert.notEqual(b.request(request, { ...approval, approvedAt: '2026-01-01T00:02:00.000000Z' }), bound);
  assert.equal(b.request(structuredClone(request), { ...approval }), bound, 'the same values give the same binding');
});

test('a rule binding covers its full definition, approver, approval time and expiry', () => {
  const b = createBinder(KEY);
  const bound = b.rule(rule, ruleApproval);
  assert.notEqual(b.rule({ ...rule, spec: { ...spec, filters: { database: 'prod' } } }, ruleApproval), bound);
  assert.notEqual(b.rule({ ...rule, spec: { ...spec, maxExecutions: 1000 } }, ruleApproval), bound);
  assert.notEqual(b.rule({ ...rule, proposer: 'UINVENTED' }, ruleApproval), bound);
  assert.notEqual(b.rule(rule, { ...ruleApproval, expiresAt: '2036-01-01T01:01:00.000000Z' }), bound);
  assert.notEqual(b.rule(rule, { ...ruleApproval, approver: 'UINVENTED' }), bound);
  assert.notEqual(b.rule(rule, null), bound);
});

test('without the key the binding cannot be made: unkeyed, or under another key, it does not match', () => {
  const keyed = createBinder(KEY).request(request, approval);
  assert.match(keyed, /^hmac-sha256:[0-9a-f]{16}:[0-9a-f]{64}$/);
  assert.equal(sameBinding(createBinder(null).request(request, approval), keyed), false);
  assert.equal(sameBinding(createBinder(randomBytes(32)).request(request, approval), keyed), false);
  assert.equal(sameBinding(keyed, keyed), true);
  assert.equal(sameBinding(null, keyed), false);
  assert.equal(sameBinding('', keyed), false);
  assert.equal(createBinder(null).keyed, false);
});

function entry(
  seq: number,
  prevHash: string,
  key: Uint8Array | null,
  event: AuditHashedFields['event'] = 'refused',
): AuditEntry {
  const fields = {
    seq,
    at: '2026-01-01T00:00:00.000000Z',
    requestId: null,
    event,
    actor: null,
    cluster: null,
    details: { why: `e${seq}` },
  } as AuditHashedFields;
  return {
    ...fields,
    prevHash,
    hash: chainHash(prevHash, fields, key),
    hashAlg: key ? 'hmac-sha256' : 'sha256',
  } as AuditEntry;
}

test('a junk row never becomes the head of the chain; verification reports it, goes on, and finds the chain linked after it', () => {
  const a = entry(1, GENESIS_HASH, KEY);
  const b = entry(2, a.hash, KEY);
  const junk = { ...entry(3, b.hash, KEY), hash: 'ab'.repeat(32) };
  const unkeyedJunk = entry(4, b.hash, null);
  assert.equal(
    chainHead([unkeyedJunk, junk, b, a], KEY),
    b,
    'skips both: the head is the newest entry that holds under the key',
  );
  const c = entry(5, b.hash, KEY);
  const d = entry(6, c.hash, KEY);
  const late = { ...entry(9_000_000_000_000_000_000, d.hash, KEY), hash: 'cd'.repeat(32) };
  const verdict = verifyChain([a, b, junk, unkeyedJunk, c, d, late], GENESIS_HASH, KEY);
  assert.equal(verdict.ok, false);
  assert.deepEqual(
    !verdict.ok && verdict.breaks.map((x) => x.seq),
    [3, 4, 9_000_000_000_000_000_000],
    'every junk row, and nothing the app wrote after them',
  );
  // An entry that holds but does not link (one deleted before it) is reported, and the check goes on from it.
  const gap = verifyChain([a, c, d], GENESIS_HASH, KEY);
  assert.deepEqual(!gap.ok && gap.breaks.map((x) => [x.seq, x.reason]), [
    [5, 'prev_hash does not match the hash of the entry before it'],
  ]);
});
