// The audit channel message: what each event's typed details say, and the witness line the verifier reads
// back (sequence number and full hash).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry } from '../../src/domain/audit.js';
import { parseWitness, witnessOfMessage, WITNESS_BLOCK_ID } from '../../src/domain/audit-witness.js';
import { buildAuditMessage } from '../../src/audit/message.js';

const HASH = `${'c0ffee'.repeat(10)}abcd`;
const base = {
  seq: 41,
  at: '2025-06-01T12:00:00.123456Z',
  requestId: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c',
  actor: null,
  cluster: 'prod',
  prevHash: '0'.repeat(64),
  hash: HASH,
};
const target = {
  pid: 4242,
  user: 'app',
  database: 'shop',
  application: 'api',
  backendType: 'client backend',
  backendStart: '2025-06-01T11:00:00Z',
  queryStart: null,
};
const texts = (m: ReturnType<typeof buildAuditMessage>) => JSON.stringify(m.blocks);

test('every audit message carries its seq and full hash, and the witness parses back from the blocks', () => {
  const entry: AuditEntry = {
    ...base,
    hashAlg: 'hmac-sha256',
    event: 'executed',
    details: {
      action: 'terminate',
      reason: 'locks',
      requester: 'UREQ',
      targets: [target],
      approver: 'UAPP',
      result: { outcomes: [{ pid: 4242, outcome: 'terminated' }] },
    },
  };
  const message = buildAuditMessage(entry);
  const context = (message.blocks[1] as { elements: Array<{ text: string }> }).elements[0]!.text;
  assert.deepEqual(parseWitness(context), { seq: 41, alg: 'hmac-sha256', hash: HASH, short: false });
  for (const part of [
    '*executed*',
    'cluster `prod`',
    'requester <@UREQ>',
    'approver <@UAPP>',
    'pid 4242',
    'reason: locks',
    'outcome: terminated',
  ]) {
    assert.ok(texts(message).includes(part), `names ${part}`);
  }
});

test('the refused and chain_keyed events say why, with no request behind them', () => {
  const refused = buildAuditMessage({
    ...base,
    requestId: null,
    hashAlg: 'sha256',
    event: 'refused',
    actor: 'UAPP',
    details: { why: 'read_only' },
  });
  assert.match(texts(refused), /why: read_only/);
  assert.equal(witnessOfMessage(refused.blocks)?.alg, 'sha256');
  const keyed = buildAuditMessage({
    ...base,
    requestId: null,
    hashAlg: 'hmac-sha256',
    event: 'chain_keyed',
    details: { keyId: '0123456789abcdef', alg: 'hmac-sha256' },
  });
  assert.match(texts(keyed), /:key: \*chain_keyed\*/);
  assert.match(texts(keyed), /key id 0123456789abcdef/);
});

test('a look-alike witness in a reason or a query is never read: only the audit_witness block, its whole text', () => {
  const fake = `audit #7 · sha256:${'0'.repeat(64)}`;
  const entry = {
    ...base,
    hashAlg: 'hmac-sha256',
    event: 'requested',
    details: {
      action: 'terminate',
      reason: fake,
      requester: 'UREQ',
      channel: 'CINC',
      targets: [{ ...target, query: `SELECT 1 /* ${fake} */` }],
    },
  } as unknown as AuditEntry;
  const message = buildAuditMessage(entry);
  assert.ok(texts(message).includes(fake), 'the look-alike is in the message');
  assert.equal((message.blocks[1] as { block_id?: string }).block_id, WITNESS_BLOCK_ID);
  assert.deepEqual(witnessOfMessage(message.blocks), { seq: 41, alg: 'hmac-sha256', hash: HASH, short: false });
  // A bot message of any other shape (a listing with a context line someone's text fills) witnesses nothing.
  const listing = [
    { type: 'section', text: { type: 'mrkdwn', text: 'pid 1' } },
    { type: 'context', elements: [{ type: 'mrkdwn', text: `${fake} · 2025-06-01T12:00:00.123456Z · request —` }] },
    { type: 'actions', elements: [] },
  ];
  assert.equal(witnessOfMessage(listing), null);
  // The witness element must be the whole text, not contain it.
  const padded = [{ type: 'context', block_id: WITNESS_BLOCK_ID, elements: [{ type: 'mrkdwn', text: `app ${fake}` }] }];
  assert.equal(witnessOfMessage(padded), null);
  assert.equal(parseWitness(`query ${fake}`), null);
  // Messages posted before the block_id (Slack gave them a random one) still count in the audit message's own shape.
  const legacy = message.blocks.map((b, i) => (i === 1 ? { ...b, block_id: 'x1Y2z' } : b));
  assert.equal(witnessOfMessage(legacy)?.seq, 41);
});
