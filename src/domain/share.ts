// Who should watch which cluster, given the live replicas and the clusters each of them can watch: pure, so
// every replica that reads the same heartbeat rows computes the same answer without talking to the others.
//
// Rendezvous (highest random weight) hashing with bounded loads: each cluster ranks the replicas that know it
// by hash(cluster, replica), and goes to the best-ranked one that still has room under the fair share
// (floor or ceil of clusters / replicas). Plain rendezvous hashing is fair only on average (3 replicas and 40 clusters
// would give one of them fewer than 8 now and then); the bound makes every share 13 or 14, and the ranking keeps
// most clusters where they were when a replica joins or leaves. Pure: node:crypto only.
import { createHash } from 'node:crypto';

export interface ReplicaView {
  /** The replica's holder name (as in the lease table). */
  holder: string;
  /** The clusters it watches (its clusters file): a cluster is shared only among replicas that know it. */
  clusters: readonly string[];
}

/** The weight of `replica` for `cluster`: the first 8 bytes of a SHA-256, as an unsigned big integer. */
export function rendezvousWeight(cluster: string, replica: string): bigint {
  return createHash('sha256').update(cluster).update('\u0000').update(replica).digest().readBigUInt64BE(0);
}

/**
 * Cluster → the holder that should lead it. Clusters are placed in name order, so the answer depends only on
 * the set of replicas and what they know, never on the order of the rows read. Holders are compared by
 * name, so two replicas with the same name would be one (holders are unique by construction).
 */
export function assignShares(replicas: readonly ReplicaView[]): Map<string, string> {
  const byHolder = new Map<string, Set<string>>();
  for (const r of replicas) {
    const known = byHolder.get(r.holder) ?? new Set<string>();
    for (const c of r.clusters) known.add(c);
    byHolder.set(r.holder, known);
  }
  const holders = [...byHolder.keys()].sort();
  const clusters = [...new Set([...byHolder.values()].flatMap((s) => [...s]))].sort();
  const out = new Map<string, string>();
  if (holders.length === 0) return out;
  // Two passes: every replica first fills up to floor(clusters / replicas) with the clusters ranking it best,
  // then the few left over (fewer than there are replicas) go one each to their best-ranked replica still
  // under the ceiling. Shares then differ by at most one; a cluster nobody has room for (replicas knowing
  // different clusters) goes to its best-ranked replica anyway.
  const floor = Math.floor(clusters.length / holders.length);
  const load = new Map(holders.map((h) => [h, 0]));
  const rankings = new Map(clusters.map((c) => [c, rank(c, holders, byHolder)]));
  const place = (cluster: string, cap: number): boolean => {
    const chosen = rankings.get(cluster)!.find((h) => load.get(h)! < cap);
    if (chosen === undefined) return false;
    out.set(cluster, chosen);
    load.set(chosen, load.get(chosen)! + 1);
    return true;
  };
  const left = clusters.filter((c) => !place(c, floor));
  for (const cluster of left) {
    if (place(cluster, floor + 1)) continue;
    const best = rankings.get(cluster)![0]!;
    out.set(cluster, best);
    load.set(best, load.get(best)! + 1);
  }
  return out;
}

/** The replicas that know `cluster`, best first by rendezvous weight (ties, never seen in practice, by name). */
function rank(cluster: string, holders: readonly string[], byHolder: Map<string, Set<string>>): string[] {
  return holders
    .filter((h) => byHolder.get(h)!.has(cluster))
    .map((h) => ({ h, w: rendezvousWeight(cluster, h) }))
    .sort((a, b) => (a.w === b.w ? (a.h < b.h ? -1 : 1) : a.w > b.w ? -1 : 1))
    .map((r) => r.h);
}

/** The clusters `holder` should lead among the live `replicas` (itself included whether or not it is listed). */
export function shareOf(holder: string, own: readonly string[], replicas: readonly ReplicaView[]): Set<string> {
  const all = replicas.some((r) => r.holder === holder) ? replicas : [...replicas, { holder, clusters: own }];
  const share = new Set<string>();
  for (const [cluster, h] of assignShares(all)) if (h === holder) share.add(cluster);
  return share;
}
