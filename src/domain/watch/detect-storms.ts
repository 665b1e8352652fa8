// Query storms: many sessions running the same statement for a while are one incident, not forty-two.
import { blankIncident, fingerprintHash, rootOf, topApplications } from './incident.js';
import type { Incident, WatchedSession, WatchThresholds } from './types.js';

/** The statement a session runs, as a storm's subject: its query id, else a hash of its fingerprint. */
function stormSubject(queryId: string | null, query: string): string {
  // The key reaches logs and the state database: a hash of the fingerprint, never its identifiers or comments.
  return queryId && queryId !== '0' ? `q${queryId}` : `t${fingerprintHash(query)}`;
}

/** Cause `query-storm`: among sessions not already part of an incident (`covered`), one per statement. */
export function detectQueryStorms(
  cluster: string,
  sessions: WatchedSession[],
  covered: ReadonlySet<number>,
  t: WatchThresholds,
): Incident[] {
  const groups = new Map<string, WatchedSession[]>();
  for (const s of sessions) {
    if (covered.has(s.pid) || s.state !== 'active' || s.query === null) continue;
    if ((s.queryAgeSeconds ?? 0) < t.stormSeconds) continue;
    const subject = stormSubject(s.queryId, s.query);
    if (!groups.has(subject)) groups.set(subject, []);
    groups.get(subject)!.push(s);
  }
  const incidents: Incident[] = [];
  for (const [subject, members] of groups) {
    if (members.length < t.stormSessions) continue;
    members.sort((a, b) => (b.queryAgeSeconds ?? 0) - (a.queryAgeSeconds ?? 0) || a.pid - b.pid);
    const incident = blankIncident(cluster, 'query-storm', subject);
    incident.root = rootOf(members[0]!);
    incident.members = members.map((m) => ({ pid: m.pid, backendStart: m.backendStart, queryStart: m.queryStart }));
    incident.applications = topApplications(members);
    incidents.push(incident);
  }
  return incidents;
}
