// The audit channel message: what each event's typed details say, and the witness line the verifier reads
// back (sequence number and full hash).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry } from '../../src/domain/audit.js';
import { parseWitness } from '../../src/domain/audit-witness.js';
import { buildAuditMessage } from '../../src/slack/blocks/audit.js';

const HASH = 'c0ffee'.repeat(10) + 'abcd';
const base = { seq: 41, at: '2025-06-01T12:00:00.123456Z', requestId: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c', actor: null, cluster: 'prod', prevHash: '0'.repeat(64), hash: HASH };
const target = { pid: 4242, user: 'app', database: 'shop', application: 'api', backendType: 'client backend', backendStart: '2025-06-01T11:00:00Z', queryStart: null };
const texts = (m: ReturnType<typeof buildAuditMessage>) => JSON.stringify(m.blocks);

test('every audit message carries its seq and full hash, and the witness parses back from the blocks', () => {
  const entry: AuditEntry = {
    ...base,
    hashAlg: 'hmac-sha256',
    event: 'executed',
    details: { action: 'terminate', reason: 'locks', requester: 'UREQ', targets: [target], approver: 'UAPP', result: { outcomes: [{ pid: 4242, outcome: 'terminated' }] } },
  };
  const message = buildAuditMessage(entry);
  const context = (message.blocks[1] as { elements: Array<{ text: string }> }).elements[0]!.text;
  assert.deepEqual(parseWitness(context), { seq: 41, alg: 'hmac-sha256', hash: HASH, short: false });
  for (const part of ['*executed*', 'cluster `prod`', 'requester <@UREQ>', 'approver <@UAPP>', 'pid 4242', 'reason: locks', 'outcome: terminated']) {
    assert.ok(texts(message).includes(part), `names ${part}`);
  }
});

test('the refused and chain_keyed events say why, with no request behind them', () => {
  const refused = buildAuditMessage({ ...base, requestId: null, hashAlg: 'sha256', event: 'refused', actor: 'UAPP', details: { why: 'read_only' } });
  assert.match(texts(refused), /why: read_only/);
  assert.equal(parseWitness(texts(refused))?.alg, 'sha256');
  const keyed = buildAuditMessage({ ...base, requestId: null, hashAlg: 'hmac-sha256', event: 'chain_keyed', details: { keyId: '0123456789abcdef', alg: 'hmac-sha256' } });
  assert.match(texts(keyed), /:key: \*chain_keyed\*/);
  assert.match(texts(keyed), /key id 0123456789abcdef/);
});
