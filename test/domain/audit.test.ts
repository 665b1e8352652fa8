import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  GENESIS_HASH,
  auditKeyId,
  canonicalJson,
  chainHash,
  verifyChain,
  type AuditEntry,
  type AuditHashedFields,
} from '../../src/domain/audit.js';
import { parseWitness, witnessText } from '../../src/domain/audit-witness.js';

const KEY = Buffer.from('k'.repeat(40));

/** Entries hashed unkeyed up to (not including) keyedFrom, keyed with `key` from there on. */
function buildChain(fields: AuditHashedFields[], key: Uint8Array | null = null, keyedFrom = 0): AuditEntry[] {
  const entries: AuditEntry[] = [];
  let prevHash = GENESIS_HASH;
  fields.forEach((f, i) => {
    const k = key && i >= keyedFrom ? key : null;
    const hash = chainHash(prevHash, f, k);
    entries.push({ ...f, prevHash, hash, hashAlg: k ? 'hmac-sha256' : 'sha256' });
    prevHash = hash;
  });
  return entries;
}

/** Unkeyed entries chained after prevHash, as someone without the key would write them. */
function extend(prevHash: string, fields: AuditHashedFields[]): AuditEntry[] {
  const out: AuditEntry[] = [];
  for (const f of fields) {
    const hash = chainHash(prevHash, f);
    out.push({ ...f, prevHash, hash, hashAlg: 'sha256' });
    prevHash = hash;
  }
  return out;
}

const sample = (seq: number, why = `pid ${100 + seq}`): Extract<AuditHashedFields, { event: 'refused' }> => ({
  seq,
  at: `2025-01-02T03:04:0${seq}.123456Z`,
  requestId: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c',
  event: 'refused',
  actor: 'U111',
  cluster: 'default',
  details: { why },
});

const keyedMark = (seq: number, key: Uint8Array = KEY): AuditHashedFields => ({
  seq,
  at: `2025-01-02T03:04:0${seq}.123456Z`,
  requestId: null,
  event: 'chain_keyed',
  actor: null,
  cluster: null,
  details: { keyId: auditKeyId(key), alg: 'hmac-sha256' },
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
  assert.equal(chainHash(GENESIS_HASH, { ...base, details: { why: 'pid 101' } }), hash);
  assert.notEqual(chainHash('1'.repeat(64), base), hash);
  const variants: AuditHashedFields[] = [
    { ...base, seq: 2 },
    { ...base, at: '2025-01-02T03:04:01.123457Z' },
    { ...base, requestId: null },
    { ...base, event: 'denied' } as unknown as AuditHashedFields,
    { ...base, actor: 'U222' },
    { ...base, cluster: 'other' },
    { ...base, details: { why: 'pid 102' } },
  ];
  for (const variant of variants) assert.notEqual(chainHash(GENESIS_HASH, variant), hash);
});

test('verifyChain accepts an intact chain, gaps in seq included', () => {
  const entries = buildChain([sample(1), sample(2), sample(5)]);
  assert.deepEqual(verifyChain(entries), { ok: true, count: 3, keyedFromSeq: null, uncheckedKeyed: 0 });
  assert.deepEqual(verifyChain([]), { ok: true, count: 0, keyedFromSeq: null, uncheckedKeyed: 0 });
});

test('verifyChain reports the first changed entry', () => {
  const entries = buildChain([sample(1), sample(2), sample(3)]);
  const tampered = entries.map((e) => (e.seq === 2 ? ({ ...e, details: { why: 'pid 999' } } as AuditEntry) : e));
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
  assert.deepEqual(verifyChain(entries.slice(1), entries[0]!.hash), {
    ok: true,
    count: 2,
    keyedFromSeq: null,
    uncheckedKeyed: 0,
  });
  assert.equal(verifyChain(entries.slice(1)).ok, false);
});

test('a keyed hash is an HMAC: the same entry hashes differently without the key or under another key', () => {
  const base = sample(1);
  const keyed = chainHash(GENESIS_HASH, base, KEY);
  assert.match(keyed, /^[0-9a-f]{64}$/);
  assert.notEqual(keyed, chainHash(GENESIS_HASH, base));
  assert.notEqual(keyed, chainHash(GENESIS_HASH, base, Buffer.from('x'.repeat(40))));
});

test('an unkeyed prefix followed by keyed entries verifies with the key, and says where keying began', () => {
  const entries = buildChain([sample(1), sample(2), keyedMark(3), sample(4)], KEY, 2);
  assert.deepEqual(verifyChain(entries, GENESIS_HASH, KEY), { ok: true, count: 4, keyedFromSeq: 3, uncheckedKeyed: 0 });
  // Without the key the links still check, but the keyed entries cannot be: the verdict says how many.
  assert.deepEqual(verifyChain(entries), { ok: true, count: 4, keyedFromSeq: 3, uncheckedKeyed: 2 });
});

test('with the key, a keyed entry recomputed by someone without it is caught', () => {
  const entries = buildChain([keyedMark(1), sample(2), sample(3)], KEY);
  // The attacker rewrites entry 2 and recomputes the chain from there as best they can: unkeyed.
  const forged = [entries[0]!, ...extend(entries[0]!.hash, [sample(2, 'nothing to see'), sample(3)])];
  assert.equal(verifyChain(entries, GENESIS_HASH, KEY).ok, true);
  const verdict = verifyChain(forged, GENESIS_HASH, KEY);
  assert.equal(!verdict.ok && verdict.brokenAtSeq, 2);
  assert.match(!verdict.ok ? verdict.reason : '', /unkeyed entry after keyed hashing began at #1/);
  // …or passes it off as keyed with a guessed key: the HMAC does not match.
  const guessed = buildChain([keyedMark(1), sample(2, 'nothing to see'), sample(3)], Buffer.from('g'.repeat(40)));
  guessed[0] = entries[0]!;
  const verdict2 = verifyChain(guessed, GENESIS_HASH, KEY);
  assert.equal(verdict2.ok, false);
});

test('a downgrade that rewrites every keyed entry as unkeyed is caught when the key is given', () => {
  const downgraded = buildChain([sample(1), sample(2), sample(3, 'rewritten')]);
  assert.equal(verifyChain(downgraded).ok, true, 'without the key it looks like an unkeyed chain');
  const verdict = verifyChain(downgraded, GENESIS_HASH, KEY);
  assert.equal(verdict.ok, false);
  assert.match(!verdict.ok ? verdict.reason : '', /no entry is keyed/);
});

test('moving the start of keyed hashing later breaks the first keyed entry that is kept', () => {
  const entries = buildChain([sample(1), keyedMark(2), sample(3), sample(4)], KEY, 1);
  // Rewrite entry 3 unkeyed and keep 4 keyed: 4's HMAC covers 3's original hash.
  const rewritten = [entries[0]!, entries[1]!, ...extend(entries[1]!.hash, [sample(3, 'changed')])];
  const verdict = verifyChain([...rewritten, entries[3]!], GENESIS_HASH, KEY);
  assert.equal(verdict.ok, false);
  assert.equal(!verdict.ok && verdict.brokenAtSeq, 3);
});

test('entries keyed with another key are named as such', () => {
  const other = Buffer.from('o'.repeat(40));
  const entries = buildChain([keyedMark(1, other), sample(2)], other);
  const verdict = verifyChain(entries, GENESIS_HASH, KEY);
  assert.match(!verdict.ok ? verdict.reason : '', /another key/);
});

test('the witness line carries seq and full hash and parses back; older short witnesses parse too', () => {
  const hash = 'ab'.repeat(32);
  const line = `${witnessText({ seq: 41, hashAlg: 'hmac-sha256', hash })} · 2025-01-02T03:04:05.000000Z · request —`;
  assert.deepEqual(parseWitness(line), { seq: 41, alg: 'hmac-sha256', hash, short: false });
  assert.deepEqual(parseWitness(witnessText({ seq: 7, hashAlg: 'sha256', hash })), {
    seq: 7,
    alg: 'sha256',
    hash,
    short: false,
  });
  assert.deepEqual(parseWitness('audit #12 · 2025-01-02T03:04:05Z · request — · hash `0123456789abcdef`'), {
    seq: 12,
    alg: null,
    hash: '0123456789abcdef',
    short: true,
  });
  assert.equal(parseWitness('someone said audit #5 once'), null);
});
