// Who leads which cluster (src/domain/share.ts): every cluster has exactly one leader among the replicas that
// know it, every share is within the fair cap whatever the replica names, the answer does not depend on the
// order the heartbeat rows were read in, and a replica joining or leaving moves a bounded number of clusters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { assignShares, shareOf, type ReplicaView } from '../../src/domain/share.js';

const names = (n: number, prefix = 'c') => Array.from({ length: n }, (_, i) => `${prefix}${i}`);
const replicasOf = (holders: string[], clusters: string[]): ReplicaView[] =>
  holders.map((holder) => ({ holder, clusters }));

function loads(assignment: Map<string, string>): Map<string, number> {
  const out = new Map<string, number>();
  for (const h of assignment.values()) out.set(h, (out.get(h) ?? 0) + 1);
  return out;
}

test('3 replicas and 40 clusters: each leads 13 or 14, every cluster exactly once', () => {
  const clusters = names(40);
  const assignment = assignShares(replicasOf(['host-a:1:1f2e', 'host-b:7:9a0c', 'host-c:3:44d1'], clusters));
  assert.deepEqual([...assignment.keys()].sort(), [...clusters].sort());
  assert.deepEqual([...loads(assignment).values()].sort(), [13, 13, 14]);
});

test('any replica names, 1..7 replicas, 0..250 clusters: shares differ by one at most', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(fc.string({ minLength: 1, maxLength: 12 }), { minLength: 1, maxLength: 7 }),
      fc.integer({ min: 0, max: 250 }),
      (holders, n) => {
        const assignment = assignShares(replicasOf(holders, names(n)));
        assert.equal(assignment.size, n);
        const floor = Math.floor(n / holders.length);
        for (const h of holders) {
          const load = loads(assignment).get(h) ?? 0;
          assert.ok(load === floor || load === floor + 1, `${h}: ${load} of ${n}`);
        }
      },
    ),
    { numRuns: 200 },
  );
});

test('the same answer whatever order the rows come in, and shareOf agrees with it', () => {
  const rows = replicasOf(['r1', 'r2', 'r3', 'r4'], names(57));
  const a = assignShares(rows);
  const b = assignShares([...rows].reverse());
  assert.deepEqual([...a.entries()].sort(), [...b.entries()].sort());
  for (const r of rows) {
    const share = shareOf(r.holder, r.clusters, [...rows].reverse());
    assert.deepEqual(
      [...share].sort(),
      [...a]
        .filter(([, h]) => h === r.holder)
        .map(([c]) => c)
        .sort(),
    );
  }
});

test('a replica not yet in the heartbeat rows counts itself: it never waits for its own row to take a share', () => {
  const rows = replicasOf(['r1', 'r2'], names(30));
  const share = shareOf('r3', names(30), rows);
  assert.ok(share.size >= 9 && share.size <= 10, `r3 would lead ${share.size}`);
});

test('a cluster goes only to a replica that knows it (a clusters file not yet reloaded everywhere)', () => {
  const assignment = assignShares([
    { holder: 'r1', clusters: ['a', 'b', 'only-1'] },
    { holder: 'r2', clusters: ['a', 'b'] },
    { holder: 'r3', clusters: ['a', 'b', 'only-3'] },
  ]);
  assert.equal(assignment.get('only-1'), 'r1');
  assert.equal(assignment.get('only-3'), 'r3');
  assert.equal(assignment.size, 4);
});

test('a third replica joining takes about a third, and most clusters stay where they were', () => {
  const clusters = names(200);
  const before = assignShares(replicasOf(['r1', 'r2'], clusters));
  const after = assignShares(replicasOf(['r1', 'r2', 'r3'], clusters));
  const moved = clusters.filter((c) => before.get(c) !== after.get(c));
  const toNewcomer = moved.filter((c) => after.get(c) === 'r3');
  assert.equal(toNewcomer.length, loads(after).get('r3'));
  assert.ok(toNewcomer.length >= 66, `the newcomer leads ${toNewcomer.length}`);
  // Bounded loads shuffle a few between the old two; plain modulo hashing would move about two thirds.
  assert.ok(moved.length <= 110, `${moved.length} of 200 moved`);
  // One leaving: its clusters go to the others, and the others keep most of their own.
  const without = assignShares(replicasOf(['r1', 'r3'], clusters));
  const keptByR1 = clusters.filter((c) => after.get(c) === 'r1' && without.get(c) === 'r1').length;
  assert.ok(keptByR1 >= (loads(after).get('r1') ?? 0) * 0.7, `r1 kept ${keptByR1}`);
});
