// Building incidents: their key and subject, the root session they are about, a blank to fill in, and the
// small facts every detector shares (top applications, the fingerprint of a query). Pure.
import { createHash } from 'node:crypto';
import { shapeQueryText, type QueryTextMode } from '../policy.js';
import type { ConnectionRelief, Incident, IncidentCause, LockInfo, RootSession, WatchedSession } from './types.js';

export function incidentKey(cluster: string, cause: IncidentCause, subject: string): string {
  return `${cluster}|${cause}|${subject}`;
}

export const sessionSubject = (s: { pid: number; backendStart: string }): string => `${s.pid}:${s.backendStart}`;

/** What an incident keeps of a session: who it is, what it runs, and how long it has been at it. */
export function rootOf(s: WatchedSession): RootSession {
  const idle = (s.state ?? '').startsWith('idle in transaction');
  return {
    pid: s.pid,
    backendStart: s.backendStart,
    queryStart: s.queryStart,
    xactStart: s.xactStart,
    user: s.user,
    database: s.database,
    application: s.application,
    state: s.state,
    queryId: s.queryId,
    query: s.query,
    ageSeconds: Math.max(0, (idle ? s.xactAgeSeconds : s.queryAgeSeconds) ?? 0),
    waitSeconds: s.waitSeconds,
  };
}

/** An incident with nothing in it but its identity: each detector fills in what its cause says. */
export function blankIncident(cluster: string, cause: IncidentCause, subject: string): Incident {
  return {
    key: incidentKey(cluster, cause, subject),
    cluster,
    cause,
    subject,
    root: null,
    waiting: 0,
    oldestWaitSeconds: 0,
    applications: [],
    lock: null,
    behind: null,
    members: [],
    connections: null,
    lagBytes: null,
    error: null,
  };
}

/** A session's own incident (idle in transaction, a long query, one session of a storm for a rule). */
export function sessionIncident(cluster: string, cause: IncidentCause, s: WatchedSession): Incident {
  const incident = blankIncident(cluster, cause, sessionSubject(s));
  incident.root = rootOf(s);
  return incident;
}

/** The applications of these sessions, most frequent first ('(none)' for a session without one). */
export function topApplications(sessions: WatchedSession[], max = 5): string[] {
  const counts = new Map<string, number>();
  for (const s of sessions) {
    const app = s.application && s.application.length > 0 ? s.application : '(none)';
    counts.set(app, (counts.get(app) ?? 0) + 1);
  }
  return [...counts.entries()]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, max)
    .map(([app]) => app);
}

/** A DDL-strength lock: everything else on the relation queues behind it. */
export const isExclusiveWant = (lock: LockInfo | null): boolean => lock?.mode === 'AccessExclusiveLock';

/** A storm's subject when it has no query id: 32 hex digits of SHA-256 over the fingerprint. */
export function fingerprintHash(query: string): string {
  return createHash('sha256').update(fingerprint(query)).digest('hex').slice(0, 32);
}

/**
 * Query text without its literals, for grouping sessions when the server has no query_id: numbers and
 * quoted strings become `?`, whitespace collapses, case folds.
 */
export function fingerprint(query: string): string {
  return query
    .replace(/'(?:[^']|'')*'/g, '?')
    .replace(/\$\d+/g, '?')
    .replace(/\b\d+(?:\.\d+)?\b/g, '?')
    .replace(/\s+/g, ' ')
    .trim()
    .toLowerCase()
    .slice(0, 500);
}

/** An incident with its sessions' query text shaped per PGSESSIONS_QUERY_TEXT, before it is stored or shown. */
export function shapeIncident(incident: Incident, mode: QueryTextMode): Incident {
  const shape = (r: RootSession | null): RootSession | null =>
    r ? { ...r, query: shapeQueryText(r.query, mode) } : null;
  return { ...incident, root: shape(incident.root), behind: shape(incident.behind) };
}

/**
 * The application a connection storm is relieved from: the one holding the most connections among those
 * with idle sessions (the alert names it first). Null for other incidents, or when nobody idles.
 */
export function reliefOf(incident: Incident): ConnectionRelief | null {
  if (incident.cause !== 'connections' || !incident.seenAt) return null;
  const g = incident.connections?.top?.applications.find((a) => a.idle + a.idleInTransaction > 0);
  return g
    ? { application: g.name, idle: g.idle + g.idleInTransaction, active: g.active, seenAt: incident.seenAt }
    : null;
}

/** The cluster could not be read: one incident, whatever the error, until it answers again. */
export function clusterDownIncident(cluster: string, error: string): Incident {
  const incident = blankIncident(cluster, 'cluster-down', '-');
  incident.error = error;
  return incident;
}
