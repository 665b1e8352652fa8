// Incidents of the cluster as a whole: connection use past its share, and walsenders lagging behind.
import { blankIncident, sessionSubject } from './incident.js';
import type { Incident, WalsenderLag, WatchSnapshot, WatchThresholds } from './types.js';

/** Cause `connections`: more client connections than the share of those available. */
export function detectConnections(snapshot: WatchSnapshot, t: WatchThresholds): Incident | null {
  const c = snapshot.connections;
  if (t.connectionsShare === null || c.available <= 0 || c.total <= c.available * t.connectionsShare) return null;
  const incident = blankIncident(snapshot.cluster, 'connections', '-');
  incident.connections = c;
  incident.seenAt = snapshot.at;
  incident.applications = (c.top?.applications ?? []).map((g) => g.name);
  return incident;
}

/** Cause `replication-lag`: one incident per walsender further behind than the threshold. */
export function detectReplicationLag(snapshot: WatchSnapshot, t: WatchThresholds): Incident[] {
  const limit = t.replicationLagBytes;
  if (limit === null) return [];
  return snapshot.walsenders
    .filter((w) => w.lagBytes !== null && w.lagBytes > limit)
    .map((w) => lagIncident(snapshot.cluster, w));
}

function lagIncident(cluster: string, w: WalsenderLag): Incident {
  const incident = blankIncident(cluster, 'replication-lag', sessionSubject(w));
  incident.lagBytes = w.lagBytes;
  incident.applications = w.application ? [w.application] : [];
  incident.root = {
    pid: w.pid,
    backendStart: w.backendStart,
    queryStart: null,
    xactStart: null,
    user: null,
    database: null,
    application: w.application,
    state: 'streaming',
    queryId: null,
    query: null,
    ageSeconds: 0,
    waitSeconds: null,
  };
  return incident;
}
