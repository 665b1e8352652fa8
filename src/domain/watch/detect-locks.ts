// Lock trees: for each root blocker whose waiters have waited long enough, one incident — about the
// lock-queue head when a DDL-strength wait queues the others behind it, about the root blocker otherwise.
import { blankIncident, isExclusiveWant, rootOf, sessionSubject, topApplications } from './incident.js';
import { oldestWait, type LockGraph } from './lock-graph.js';
import type { Incident, LockInfo, WatchedSession, WatchThresholds } from './types.js';

/** An incident of a lock tree, and the sessions it accounts for (its root and everyone waiting on it). */
export interface LockTreeIncident {
  incident: Incident;
  covers: number[];
}

export function detectLockTrees(
  cluster: string,
  sessions: WatchedSession[],
  graph: LockGraph,
  t: WatchThresholds,
): LockTreeIncident[] {
  if (t.lockWaitSeconds === null) return [];
  const out: LockTreeIncident[] = [];
  for (const r of sessions.filter(graph.isRoot)) {
    const waiters = graph.allWaitersOf(r.pid);
    if (oldestWait(waiters) < t.lockWaitSeconds) continue;
    const head = queueHead(graph, r);
    const incident = head ? lockQueueHeadIncident(cluster, graph, r, head) : rootBlockerIncident(cluster, graph, r);
    out.push({ incident, covers: [r.pid, ...waiters.map((w) => w.pid)] });
  }
  return out;
}

/** The lock-queue head: a direct waiter of the root wanting AccessExclusiveLock that others queue behind. */
function queueHead(graph: LockGraph, r: WatchedSession): WatchedSession | undefined {
  return graph
    .waitersOf(r.pid)
    .filter((w) => isExclusiveWant(w.waitingFor) && graph.waitersOf(w.pid).length > 0)
    .sort(
      (a, b) =>
        graph.allWaitersOf(b.pid).length - graph.allWaitersOf(a.pid).length ||
        (b.waitSeconds ?? 0) - (a.waitSeconds ?? 0),
    )[0];
}

/** Cause `lock-queue-head`: the head is the root of the incident, the session it waits behind is `behind`. */
export function lockQueueHeadIncident(
  cluster: string,
  graph: LockGraph,
  r: WatchedSession,
  head: WatchedSession,
): Incident {
  const behindHead = graph.allWaitersOf(head.pid);
  const incident = blankIncident(cluster, 'lock-queue-head', sessionSubject(head));
  incident.root = rootOf(head);
  incident.behind = rootOf(r);
  incident.waiting = behindHead.length;
  incident.oldestWaitSeconds = oldestWait([head, ...behindHead]);
  const lockBehind = graph.allWaitersOf(head.pid, false);
  incident.lockWaits = { waiting: lockBehind.length, oldestWaitSeconds: oldestWait([head, ...lockBehind]) };
  incident.applications = topApplications(behindHead);
  incident.lock = head.waitingFor;
  return incident;
}

/** Cause `root-blocker`: the session everyone waits on, with the lock it holds that they want. */
export function rootBlockerIncident(cluster: string, graph: LockGraph, r: WatchedSession): Incident {
  const waiters = graph.allWaitersOf(r.pid);
  const incident = blankIncident(cluster, 'root-blocker', sessionSubject(r));
  incident.root = rootOf(r);
  incident.waiting = waiters.length;
  incident.oldestWaitSeconds = oldestWait(waiters);
  const lockWaiters = graph.allWaitersOf(r.pid, false);
  incident.lockWaits = { waiting: lockWaiters.length, oldestWaitSeconds: oldestWait(lockWaiters) };
  incident.applications = topApplications(waiters);
  const wanted = graph.waitersOf(r.pid).find((w) => w.waitingFor !== null)?.waitingFor ?? null;
  incident.lock = lockOf(r, wanted);
  return incident;
}

/** The lock the holder has on what is wanted (else its first granted lock, else what is wanted). */
function lockOf(holder: WatchedSession, wanted: LockInfo | null): LockInfo | null {
  return (
    holder.holding.find((l) => wanted !== null && l.relationOid !== null && l.relationOid === wanted.relationOid) ??
    holder.holding[0] ??
    wanted
  );
}
