// Builders of what the watcher's domain logic reads (WatchedSession, WatchSnapshot), for the pure tests:
// every field a plausible default, each test overriding only what it is about.
import type { Incident, LiveIncident, WatchedSession, WatchSnapshot } from '../../src/domain/watch.js';

/** A relation lock on public.orders in `mode`, as held or waited for. */
export const relLock = (mode: string) => ({
  locktype: 'relation',
  mode,
  relation: 'public.orders',
  relationOid: 16384,
  transactionId: null,
});

export function snapshot(sessions: WatchedSession[], over: Partial<WatchSnapshot> = {}): WatchSnapshot {
  return {
    cluster: 'main',
    at: '2026-01-01T00:10:00Z',
    sessions,
    connections: { total: sessions.length, available: 97, idle: 0, active: sessions.length, idleInTransaction: 0 },
    walsenders: [],
    ...over,
  };
}

/**
 * A session builder with its own pid counter starting at `firstPid`: each test file gives its own range, so
 * pids stay distinct within a file and a file's pids do not move when another file adds sessions.
 */
export function sessionBuilder(firstPid: number): (over?: Partial<WatchedSession>) => WatchedSession {
  let nextPid = firstPid;
  return (over = {}) => {
    const pid = over.pid ?? nextPid++;
    return {
      pid,
      backendStart: `2026-01-01 00:00:${String(pid % 60).padStart(2, '0')}+00`,
      queryStart: '2026-01-01 00:01:00+00',
      xactStart: '2026-01-01 00:01:00+00',
      user: 'app',
      database: 'shop',
      application: 'puma',
      state: 'active',
      queryId: null,
      query: 'SELECT 1',
      queryAgeSeconds: 1,
      xactAgeSeconds: 1,
      waitEventType: null,
      blockedBy: [],
      waitingFor: null,
      waitSeconds: null,
      holding: [],
      ...over,
    };
  };
}

/** An open incident as the store hands it to the renderer: not yet posted, due for its first post. */
export function liveIncident(incident: Incident, over: Partial<LiveIncident> = {}): LiveIncident {
  return {
    id: '00000000-0000-4000-8000-000000000001',
    key: incident.key,
    cluster: incident.cluster,
    cause: incident.cause,
    status: 'open',
    incident,
    openedAt: '2026-01-01T00:00:00.000000Z',
    clearedAt: null,
    clearReason: null,
    messageTs: null,
    snoozedUntil: null,
    channel: 'CWATCH',
    version: 1,
    shownVersion: 0,
    shownStatus: null,
    snoozedBy: null,
    snoozed: false,
    postDue: true,
    updateDue: true,
    ...over,
  };
}
