// The book of leases a replica keeps (src/watch/spread.ts): which clusters it holds, and which of them it took
// as orphans (kept until a replica joins or leaves) rather than as its share (given back when the share moves).
// A lease this replica re-takes after its own renewal came late (a new term, same holder) is not an orphan
// taken: counted as one, a cluster held beyond the share was kept for good — the forged-heartbeat case of
// spread-leases.test.ts, seen to fail when the machine was loaded and a renewal lapsed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createBook } from '../../src/watch/spread.js';
import { createLogger } from '../../src/logger.js';

const BEFORE = 'replica-a\nreplica-b';
const JOINED = 'intruder\nreplica-a\nreplica-b';
const LEFT = 'replica-a';

const book = () => createBook(createLogger('silent'), 900);
const rows = (pairs: Record<string, string>) => Object.entries(pairs).map(([cluster, token]) => ({ cluster, token }));

test('a cluster of its share re-taken after its own lease lapsed is given back once the share moves', () => {
  const b = book();
  b.record(rows({ s02: '1' }), Date.now(), () => true, BEFORE);
  // A replica joins and s02 is its share now; this replica's renewal came late, so the lease is a new term.
  b.record(rows({ s02: '2' }), Date.now(), () => false, JOINED);
  const h = b.toGiveBack('s02', false, JOINED);
  assert.ok(h, 'given back to the replica whose share it is');
  assert.equal(h.fence.token, '2', 'under the term it holds now');
});

test('a cluster taken as an orphan is kept under the same members, renewed late or not, and given back when they change', () => {
  const b = book();
  b.record(rows({ s05: '7' }), Date.now(), () => false, JOINED);
  assert.equal(b.toGiveBack('s05', false, JOINED), null, 'an orphan is kept: its leader does not lead');
  b.record(rows({ s05: '8' }), Date.now(), () => false, JOINED);
  assert.equal(b.toGiveBack('s05', false, JOINED), null, 'still an orphan after a late renewal');
  assert.ok(b.toGiveBack('s05', false, LEFT), 'members changed: given to the replica whose share it is');
});

test('a cluster no longer in the answer is forgotten, and taken again later it is judged afresh', () => {
  const b = book();
  b.record(rows({ s07: '1' }), Date.now(), () => false, JOINED);
  b.record(rows({}), Date.now(), () => false, JOINED);
  assert.equal(b.held.has('s07'), false);
  b.record(rows({ s07: '3' }), Date.now(), () => true, JOINED);
  assert.equal(b.toGiveBack('s07', true, JOINED), null, 'its share now: kept');
  assert.ok(b.toGiveBack('s07', false, LEFT), 'taken as its share, not as an orphan: given back when it moves');
});
