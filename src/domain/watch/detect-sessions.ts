// One session's own incident: a transaction left idle too long, or a query running too long. A session
// already part of another incident (a lock tree, a storm) is never its own.
import { sessionIncident } from './incident.js';
import type { Incident, WatchedSession, WatchThresholds } from './types.js';

/** Cause `idle-in-transaction`: its transaction has been open, idle, for at least the threshold. */
export function detectIdleInTransaction(cluster: string, s: WatchedSession, t: WatchThresholds): Incident | null {
  const idle = (s.state ?? '').startsWith('idle in transaction');
  if (!idle || t.idleInTransactionSeconds === null || (s.xactAgeSeconds ?? 0) < t.idleInTransactionSeconds) return null;
  return sessionIncident(cluster, 'idle-in-transaction', s);
}

/** Cause `active`: its query has run for at least the threshold. */
export function detectLongQuery(cluster: string, s: WatchedSession, t: WatchThresholds): Incident | null {
  if (s.state !== 'active' || t.activeSeconds === null || (s.queryAgeSeconds ?? 0) < t.activeSeconds) return null;
  return sessionIncident(cluster, 'active', s);
}

/** Each session not `covered`: idle in transaction first, else a long query. */
export function detectSessions(
  cluster: string,
  sessions: WatchedSession[],
  covered: ReadonlySet<number>,
  t: WatchThresholds,
): Incident[] {
  const incidents: Incident[] = [];
  for (const s of sessions) {
    if (covered.has(s.pid)) continue;
    const incident = detectIdleInTransaction(cluster, s, t) ?? detectLongQuery(cluster, s, t);
    if (incident) incidents.push(incident);
  }
  return incidents;
}
