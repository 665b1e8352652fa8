// What a new clusters file changes: the clusters added, removed and changed, by name. Pure. A cluster is
// "changed" when anything about it differs (its connection, its rights, its watch settings); the caller
// passes each cluster's fingerprint, so the connection string takes part in the comparison but never in the
// answer, which is audited and logged.

export interface ClusterSetChange {
  added: string[];
  removed: string[];
  changed: string[];
}

/** before/after: each cluster's name and a fingerprint of everything about it. */
export function diffClusterSets(before: Map<string, string>, after: Map<string, string>): ClusterSetChange {
  const added = [...after.keys()].filter((name) => !before.has(name));
  const removed = [...before.keys()].filter((name) => !after.has(name));
  const changed = [...after.keys()].filter((name) => before.has(name) && before.get(name) !== after.get(name));
  return { added: added.sort(), removed: removed.sort(), changed: changed.sort() };
}

export const isNoChange = (change: ClusterSetChange): boolean =>
  change.added.length === 0 && change.removed.length === 0 && change.changed.length === 0;

/** One line for the log and the audit channel: "added eu-4; removed eu-3". */
export function describeClusterChange(change: ClusterSetChange): string {
  const parts = [
    change.added.length > 0 ? `added ${change.added.join(', ')}` : '',
    change.removed.length > 0 ? `removed ${change.removed.join(', ')}` : '',
    change.changed.length > 0 ? `changed ${change.changed.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'no cluster added, removed or changed';
}

/** The sentence on a pending request whose cluster left the clusters file. */
export const clusterRemovedSentence = (cluster: string): string =>
  `This request expired: cluster ${cluster} was removed from the clusters file, so nothing will be signalled there.`;
