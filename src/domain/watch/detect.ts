// Detection: from one look at a cluster to its incidents, one small detector per cause (detect-*.ts). Pure:
// no Slack, no pg.
import { detectConnections, detectReplicationLag } from './detect-cluster.js';
import { detectLockTrees } from './detect-locks.js';
import { detectSessions } from './detect-sessions.js';
import { detectQueryStorms } from './detect-storms.js';
import { sessionIncident } from './incident.js';
import { lockGraph } from './lock-graph.js';
import type { Incident, WatchSnapshot, WatchThresholds } from './types.js';

/**
 * The incidents in one snapshot, at most one per root session, in this order of precedence: a lock-queue
 * head, a root blocker, a long idle transaction, a long query; then query storms, connection use and
 * replication lag. A session waiting behind a lock is part of its blocker's incident, never its own.
 */
export function detectIncidents(snapshot: WatchSnapshot, t: WatchThresholds): Incident[] {
  const { cluster, sessions } = snapshot;
  const trees = detectLockTrees(cluster, sessions, lockGraph(sessions), t);
  // Sessions already part of an incident; waiters of a root below the threshold are not incidents of their own either.
  const covered = new Set<number>(trees.flatMap((tree) => tree.covers));
  for (const s of sessions) if (s.blockedBy.length > 0) covered.add(s.pid);
  // Query storms, before single long queries: forty-two of the same are one incident, not forty-two.
  const storms = detectQueryStorms(cluster, sessions, covered, t);
  for (const storm of storms) for (const m of storm.members) covered.add(m.pid);
  const connections = detectConnections(snapshot, t);
  return [
    ...trees.map((tree) => tree.incident),
    ...storms,
    ...detectSessions(cluster, sessions, covered, t),
    ...(connections ? [connections] : []),
    ...detectReplicationLag(snapshot, t),
  ];
}

/**
 * What rules are matched against: the incidents of the snapshot, except that a query storm counts as each of
 * its sessions running a long statement (cause `active`) — a rule on one query_id must reach every session
 * running it, however many there are. Detected with the thresholds the active rules need
 * (ruleDetectionThresholds), not the alert thresholds.
 */
export function ruleCandidates(snapshot: WatchSnapshot, t: WatchThresholds): Incident[] {
  const byPid = new Map(snapshot.sessions.map((s) => [s.pid, s]));
  const out: Incident[] = [];
  for (const incident of detectIncidents(snapshot, t)) {
    if (incident.cause !== 'query-storm') {
      out.push(incident);
      continue;
    }
    if (t.activeSeconds === null) continue;
    for (const m of incident.members) {
      const s = byPid.get(m.pid);
      if (!s || (s.queryAgeSeconds ?? 0) < t.activeSeconds) continue;
      out.push(sessionIncident(snapshot.cluster, 'active', s));
    }
  }
  return out;
}
