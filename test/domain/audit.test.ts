import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GENESIS_HASH,
  canonicalJson,
  chainHash,
  verifyChain,
  type AuditEntry,
  type AuditHashedFields,
} from '../../src/domain/audit.js';

function buildChain(fields: AuditHashedFields[]): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  for (const f of fields) {
    const hash = chainHash(prevHash, f);
    entries.push({ ...f, prevHash, hash });
    prevHash = hash;
  }
  return entries;
}

const sample = (seq: number, details: Record<string, unknown> = { pid: 100 + seq }): AuditHashedFields => ({
  seq,
  at: `2025-01-02T03:04:0${seq}.123456Z`,
  requestId: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c',
  event: 'requested',
  actor: 'U111',
  cluster: 'default',
  details,
});

test('canonicalJson gives the same text whatever the key order, at every level', () => {
  const a = canonicalJson({ b: 1, a: { d: [1, { z: 1, y: 2 }], c: 'x' } });
  const b = canonicalJson({ a: { c: 'x', d: [1, { y: 2, z: 1 }] }, b: 1 });
  assert.equal(a, b);
  assert.equal(a, '{"a":{"c":"x","d":[1,{"y":2,"z":1}]},"b":1}');
});

test('canonicalJson follows JSON.stringify for undefined, non-finite numbers and toJSON', () => {
  assert.equal(canonicalJson({ a: undefined, b: null, c: [undefined, NaN] }), '{"b":null,"c":[null,null]}');
  assert.equal(canonicalJson({ when: new Date('2025-01-01T00:00:00Z') }), '{"when":"2025-01-01T00:00:00.000Z"}');
  assert.equal(canonicalJson('quote " and \n newline'), JSON.stringify('quote " and \n newline'));
});

test('chainHash is a sha256 hex digest that changes with the previous hash and with every field', () => {
  const base = sample(1);
  const hash = chainHash(GENESIS_HASH, base);
  assert.match(hash, /^[0-9a-f]{64}$/);
  assert.equal(chainHash(GENESIS_HASH, { ...base, details: { pid: 101 } }), hash);
  assert.notEqual(chainHash('1'.repeat(64), base), hash);
  const variants: AuditHashedFields[] = [
    { ...base, seq: 2 },
    { ...base, at: '2025-01-02T03:04:01.123457Z' },
    { ...base, requestId: null },
    { ...base, event: 'approved' },
    { ...base, actor: 'U222' },
    { ...base, cluster: 'other' },
    { ...base, details: { pid: 102 } },
  ];
  for (const variant of variants) assert.notEqual(chainHash(GENESIS_HASH, variant), hash);
});

test('verifyChain accepts an intact chain, gaps in seq included', () => {
  const entries = buildChain([sample(1), sample(2), sample(5)]);
  assert.deepEqual(verifyChain(entries), { ok: true, count: 3 });
  assert.deepEqual(verifyChain([]), { ok: true, count: 0 });
});

test('verifyChain reports the first changed entry', () => {
  const entries = buildChain([sample(1), sample(2), sample(3)]);
  const tampered = entries.map((e) => (e.seq === 2 ? { ...e, details: { pid: 999 } } : e));
  const verdict = verifyChain(tampered);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.brokenAtSeq, 2);
});

test('verifyChain reports a removed entry where the link breaks', () => {
  const entries = buildChain([sample(1), sample(2), sample(3)]);
  const verdict = verifyChain([entries[0]!, entries[2]!]);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.brokenAtSeq, 3);
});

test('verifyChain reports reordered entries', () => {
  const entries = buildChain([sample(1), sample(2)]);
  const verdict = verifyChain([entries[1]!, entries[0]!]);
  assert.equal(verdict.ok, false);
});

test('verifyChain continues a chain page by page from a given previous hash', () => {
  const entries = buildChain([sample(1), sample(2), sample(3)]);
  assert.deepEqual(verifyChain(entries.slice(1), entries[0]!.hash), { ok: true, count: 2 });
  assert.equal(verifyChain(entries.slice(1)).ok, false);
});
