import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ACTION,
  INPUT,
  MAX_BUTTON_VALUE,
  VIEW,
  decodeModalMetadata,
  decodeTarget,
  encodeModalMetadata,
  encodeTarget,
  type ButtonTarget,
} from '../../src/slack/blocks/ids.js';

const target: ButtonTarget = {
  cluster: 'prod-eu',
  pid: 2_147_483_647,
  backendStart: '2026-11-25 14:36:10.123456+00',
  queryStart: '2026-11-25 14:40:00.000001+00',
  kind: 'cancel',
};

test('action, view and input ids are distinct and within Slack’s 255 characters', () => {
  const ids = [...Object.values(ACTION), ...Object.values(VIEW), ...Object.values(INPUT)];
  assert.equal(new Set(ids).size, ids.length);
  for (const id of ids) assert.ok(id.length > 0 && id.length <= 255, id);
  assert.equal(ACTION.cancel, 'pgs_cancel');
  assert.equal(VIEW.request, 'pgs_request_modal');
});

test('timestamps round-trip byte for byte through encodeTarget and decodeTarget', () => {
  for (const t of [
    target,
    { ...target, queryStart: null, kind: 'terminate_walsender' as const },
    {
      ...target,
      backendStart: '2026-11-25 14:36:10+05:30',
      queryStart: '2026-11-25 14:36:10.1+00',
      kind: 'terminate' as const,
    },
    { ...target, cluster: 'ünïcode cluster "quoted"', backendStart: 'opaque \\ text\u00e9' },
  ]) {
    const value = encodeTarget(t);
    assert.ok(value.length <= MAX_BUTTON_VALUE);
    const decoded = decodeTarget(value);
    assert.deepEqual(decoded, t);
    assert.equal(decoded?.backendStart, t.backendStart);
    assert.equal(decoded?.queryStart, t.queryStart);
  }
});

test('an encoded target with the longest allowed fields stays within the button value limit', () => {
  const value = encodeTarget({
    cluster: '"'.repeat(63),
    pid: 2_147_483_647,
    backendStart: '\u0001'.repeat(64),
    queryStart: '\u0001'.repeat(64),
    kind: 'terminate_walsender',
  });
  assert.ok(value.length <= MAX_BUTTON_VALUE, String(value.length));
});

test('encodeTarget refuses a target no decoder would accept', () => {
  assert.throws(() => encodeTarget({ ...target, pid: 0 }));
  assert.throws(() => encodeTarget({ ...target, cluster: '' }));
  assert.throws(() => encodeTarget({ ...target, cluster: 'c'.repeat(64) }));
  assert.throws(() => encodeTarget({ ...target, kind: 'nuke' as ButtonTarget['kind'] }));
});

test('decodeTarget returns null on junk, oversized or wrong-shape values', () => {
  const good = JSON.parse(encodeTarget(target)) as Record<string, unknown>;
  const bad: string[] = [
    '',
    'not json',
    '{',
    'null',
    '42',
    '"string"',
    '[]',
    '{}',
    JSON.stringify({ ...good, p: -1 }),
    JSON.stringify({ ...good, p: 1.5 }),
    JSON.stringify({ ...good, p: '123' }),
    JSON.stringify({ ...good, p: 2_147_483_648 }),
    JSON.stringify({ ...good, k: 'drop_database' }),
    JSON.stringify({ ...good, b: '' }),
    JSON.stringify({ ...good, b: 'x'.repeat(65) }),
    JSON.stringify({ ...good, q: 5 }),
    JSON.stringify({ ...good, c: '' }),
    JSON.stringify({ ...good, extra: true }),
    JSON.stringify({ cluster: 'prod', pid: 1, backendStart: 'x', queryStart: null, kind: 'cancel' }),
    JSON.stringify({ ...good, pad: 'x'.repeat(3000) }),
    ' '.repeat(2001),
  ];
  for (const value of bad) assert.equal(decodeTarget(value), null, value.slice(0, 80));
  const { q: _q, ...missingQ } = good;
  assert.equal(decodeTarget(JSON.stringify(missingQ)), null);
});

test('modal metadata round-trips the target and channel and rejects anything else', () => {
  const encoded = encodeModalMetadata({ target, channel: 'C0123456' });
  assert.ok(encoded.length <= 3000);
  assert.deepEqual(decodeModalMetadata(encoded), { target, channel: 'C0123456' });
  assert.equal(decodeModalMetadata('{"target":{},"channel":"C1"}'), null);
  assert.equal(decodeModalMetadata('junk'), null);
  assert.equal(decodeModalMetadata(''), null);
});
