// Watching: from one look at a cluster (its sessions, their lock waits, connection use, walsenders) to the
// incidents worth an alert. Pure: no Slack, no pg. Incidents are plain data so that standing approvals can
// later evaluate their own thresholds against the same objects (cause, root session, counts and ages).
import { createHash } from 'node:crypto';
import { shapeQueryText, type QueryTextMode } from './policy.js';

/** Why an alert exists. Rules (standing approvals) match on these words. */
export const INCIDENT_CAUSES = [
  'lock-queue-head',
  'root-blocker',
  'idle-in-transaction',
  'active',
  'query-storm',
  'connections',
  'replication-lag',
  'cluster-down',
] as const;
export type IncidentCause = (typeof INCIDENT_CAUSES)[number];

/** Thresholds for one cluster; null switches that check off (`off`). */
export interface WatchThresholds {
  lockWaitSeconds: number | null;
  idleInTransactionSeconds: number | null;
  activeSeconds: number | null;
  /** Share of max_connections (minus reserved), 0–1. */
  connectionsShare: number | null;
  replicationLagBytes: number | null;
  /** A query storm: at least this many sessions running the same statement… */
  stormSessions: number;
  /** …each for at least this long. */
  stormSeconds: number;
}

export const DEFAULT_STORM_SESSIONS = 10;
export const DEFAULT_STORM_SECONDS = 10;

/** A lock as pg_locks names it: the mode, and the relation's name where it could be resolved (the OID otherwise). */
export interface LockInfo {
  locktype: string;
  mode: string;
  /** Qualified name when the relation lives in the watcher's own database; null otherwise. */
  relation: string | null;
  relationOid: number | null;
  transactionId: string | null;
}

/** Who a session is and what it runs: what the watcher reads of it and what an incident keeps of its root. */
export interface SessionFacts {
  pid: number;
  backendStart: string;
  queryStart: string | null;
  xactStart: string | null;
  user: string | null;
  database: string | null;
  application: string | null;
  state: string | null;
  queryId: string | null;
  query: string | null;
}

/** One client backend as the watcher saw it. Ages in seconds as measured by the server's clock. */
export interface WatchedSession extends SessionFacts {
  queryAgeSeconds: number | null;
  xactAgeSeconds: number | null;
  waitEventType: string | null;
  blockedBy: number[];
  /** The lock it waits for (only for sessions in a lock wait). */
  waitingFor: LockInfo | null;
  /** Seconds since the lock wait began (pg_locks.waitstart, else query start). */
  waitSeconds: number | null;
  /** Granted locks on what its waiters want (only for sessions others wait on). */
  holding: LockInfo[];
}

export interface ConnectionUse {
  total: number;
  /** max_connections minus superuser_reserved_connections (and reserved_connections on 16+). */
  available: number;
  idle: number;
  active: number;
  idleInTransaction: number;
  /** Past the alert's share: the largest groups of client sessions (the bot's own left out), largest first. */
  top?: { applications: ConnectionGroup[]; users: ConnectionGroup[]; clients: ConnectionGroup[] };
}

/** Client sessions sharing one application name, user or client address ('' when it has none), by state. */
export interface ConnectionGroup {
  name: string;
  total: number;
  idle: number;
  idleInTransaction: number;
  active: number;
}

export interface WalsenderLag {
  pid: number;
  backendStart: string;
  application: string | null;
  lagBytes: number | null;
}

/** Everything one catalog read returns. */
export interface WatchSnapshot {
  cluster: string;
  /** The server's now(), ISO text. */
  at: string;
  /** Client sessions worth judging: every one that is not idle, and any that others wait on. */
  sessions: WatchedSession[];
  connections: ConnectionUse;
  walsenders: WalsenderLag[];
}

/** The session an incident is about (pid + backend_start make it exact), with what rules will compare. */
export interface RootSession extends SessionFacts {
  /** Seconds in the current work: the transaction's age when idle in transaction, else the query's. */
  ageSeconds: number;
  /** Seconds it has itself waited on a lock (the lock-queue head), else null. */
  waitSeconds: number | null;
}

export interface Incident {
  /** cluster|cause|subject — the identity of the cause, stable across looks. */
  key: string;
  cluster: string;
  cause: IncidentCause;
  /** pid:backend_start for session incidents; the query id or a hash of the text's fingerprint for storms; '-' otherwise. */
  subject: string;
  root: RootSession | null;
  /** Sessions waiting on the root, directly or through others. */
  waiting: number;
  /** Longest lock wait among them, seconds. */
  oldestWaitSeconds: number;
  /**
   * The same two, counting only waits on relation, tuple and transaction locks — not sessions waiting on an
   * advisory lock (or queued behind one), which any database user can create. Rules count these unless they
   * say `advisory`. Absent in incidents not built by detectIncidents.
   */
  lockWaits?: { waiting: number; oldestWaitSeconds: number };
  /** Applications of the waiting (or storming) sessions, most frequent first. */
  applications: string[];
  /** The lock the root holds that others want. */
  lock: LockInfo | null;
  /** Lock-queue head: the session it waits behind. */
  behind: RootSession | null;
  /** Query storm: the sessions it is made of, frozen (pid, backend_start, query_start). */
  members: Array<{ pid: number; backendStart: string; queryStart: string | null }>;
  connections: ConnectionUse | null;
  /**
   * connections: the server's time of the look this incident was last seen in. A relief ends only sessions
   * connected by then (see reliefOf), never one that arrived later.
   */
  seenAt?: string;
  lagBytes: number | null;
  /** cluster-down: what failed. */
  error: string | null;
}

export function incidentKey(cluster: string, cause: IncidentCause, subject: string): string {
  return `${cluster}|${cause}|${subject}`;
}

export const sessionSubject = (s: { pid: number; backendStart: string }): string => `${s.pid}:${s.backendStart}`;

function root(s: WatchedSession): RootSession {
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

function blank(cluster: string, cause: IncidentCause, subject: string): Incident {
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

function topApplications(sessions: WatchedSession[], max = 5): string[] {
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

/**
 * Query text without its literals, for grouping sessions when the server has no query_id: numbers and
 * quoted strings become `?`, whitespace collapses, case folds.
 */
/** A storm's subject when it has no query id: 32 hex digits of SHA-256 over the fingerprint. */
export function fingerprintHash(query: string): string {
  return createHash('sha256').update(fingerprint(query)).digest('hex').slice(0, 32);
}

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

/** An incident with its sessions' query text shaped per PGSESSIONS_QUERY_TEXT, before it is stored, posted or previewed. */
export function shapeIncident(incident: Incident, mode: QueryTextMode): Incident {
  const shape = (r: RootSession | null): RootSession | null =>
    r ? { ...r, query: shapeQueryText(r.query, mode) } : null;
  return { ...incident, root: shape(incident.root), behind: shape(incident.behind) };
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
      const single = blank(snapshot.cluster, 'active', sessionSubject(s));
      single.root = root(s);
      out.push(single);
    }
  }
  return out;
}

/**
 * The incidents in one snapshot, at most one per root session, in this order of precedence: a lock-queue
 * head, a root blocker, a long idle transaction, a long query; then query storms, connection use and
 * replication lag. A session waiting behind a lock is part of its blocker's incident, never its own.
 */
export function detectIncidents(snapshot: WatchSnapshot, t: WatchThresholds): Incident[] {
  const { cluster, sessions } = snapshot;
  const byPid = new Map(sessions.map((s) => [s.pid, s]));
  const waitersOf = new Map<number, WatchedSession[]>();
  for (const s of sessions) {
    for (const b of s.blockedBy) {
      if (!byPid.has(b)) continue;
      if (!waitersOf.has(b)) waitersOf.set(b, []);
      waitersOf.get(b)!.push(s);
    }
  }
  const advisory = (s: WatchedSession): boolean => s.waitingFor?.locktype === 'advisory';
  /** Everyone waiting on pid, directly or through others; without advisory waits (nor what queues behind them) when asked. */
  const allWaitersOf = (pid: number, withAdvisory = true): WatchedSession[] => {
    const seen = new Set<number>([pid]);
    const out: WatchedSession[] = [];
    const stack = [...(waitersOf.get(pid) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next.pid) || (!withAdvisory && advisory(next))) continue;
      seen.add(next.pid);
      out.push(next);
      stack.push(...(waitersOf.get(next.pid) ?? []));
    }
    return out;
  };
  const oldestWait = (list: WatchedSession[]) => list.reduce((m, s) => Math.max(m, s.waitSeconds ?? 0), 0);

  const incidents: Incident[] = [];
  const covered = new Set<number>(); // sessions already part of an incident

  // Lock trees. A root blocks others and waits on nobody we can see (a deadlock cycle resolves itself).
  if (t.lockWaitSeconds !== null) {
    const roots = sessions.filter(
      (s) => (waitersOf.get(s.pid)?.length ?? 0) > 0 && !s.blockedBy.some((b) => byPid.has(b)),
    );
    for (const r of roots) {
      const waiters = allWaitersOf(r.pid);
      const oldest = oldestWait(waiters);
      if (oldest < t.lockWaitSeconds) continue;
      // The lock-queue head: a direct waiter wanting AccessExclusiveLock that others queue behind.
      const head = (waitersOf.get(r.pid) ?? [])
        .filter((w) => isExclusiveWant(w.waitingFor) && (waitersOf.get(w.pid)?.length ?? 0) > 0)
        .sort(
          (a, b) =>
            allWaitersOf(b.pid).length - allWaitersOf(a.pid).length || (b.waitSeconds ?? 0) - (a.waitSeconds ?? 0),
        )[0];
      const lockOf = (holder: WatchedSession, wanted: LockInfo | null): LockInfo | null =>
        holder.holding.find((l) => wanted !== null && l.relationOid !== null && l.relationOid === wanted.relationOid) ??
        holder.holding[0] ??
        wanted;
      if (head) {
        const behindHead = allWaitersOf(head.pid);
        const incident = blank(cluster, 'lock-queue-head', sessionSubject(head));
        incident.root = root(head);
        incident.behind = root(r);
        incident.waiting = behindHead.length;
        incident.oldestWaitSeconds = oldestWait([head, ...behindHead]);
        const lockBehind = allWaitersOf(head.pid, false);
        incident.lockWaits = { waiting: lockBehind.length, oldestWaitSeconds: oldestWait([head, ...lockBehind]) };
        incident.applications = topApplications(behindHead);
        incident.lock = head.waitingFor;
        incidents.push(incident);
      } else {
        const incident = blank(cluster, 'root-blocker', sessionSubject(r));
        incident.root = root(r);
        incident.waiting = waiters.length;
        incident.oldestWaitSeconds = oldest;
        const lockWaiters = allWaitersOf(r.pid, false);
        incident.lockWaits = { waiting: lockWaiters.length, oldestWaitSeconds: oldestWait(lockWaiters) };
        incident.applications = topApplications(waiters);
        const direct = waitersOf.get(r.pid) ?? [];
        incident.lock = lockOf(r, direct.find((w) => w.waitingFor !== null)?.waitingFor ?? null);
        incidents.push(incident);
      }
      covered.add(r.pid);
      for (const w of waiters) covered.add(w.pid);
    }
  }
  // Waiters of a root below the threshold are not incidents of their own either.
  for (const s of sessions) if (s.blockedBy.length > 0) covered.add(s.pid);

  // Query storms, before single long queries: forty-two of the same are one incident, not forty-two.
  const groups = new Map<string, WatchedSession[]>();
  for (const s of sessions) {
    if (covered.has(s.pid) || s.state !== 'active' || s.query === null) continue;
    if ((s.queryAgeSeconds ?? 0) < t.stormSeconds) continue;
    // The key reaches logs and the state database: a hash of the fingerprint, never its identifiers or comments.
    const subject = s.queryId && s.queryId !== '0' ? `q${s.queryId}` : `t${fingerprintHash(s.query)}`;
    if (!groups.has(subject)) groups.set(subject, []);
    groups.get(subject)!.push(s);
  }
  for (const [subject, members] of groups) {
    if (members.length < t.stormSessions) continue;
    members.sort((a, b) => (b.queryAgeSeconds ?? 0) - (a.queryAgeSeconds ?? 0) || a.pid - b.pid);
    const incident = blank(cluster, 'query-storm', subject);
    incident.root = root(members[0]!);
    incident.members = members.map((m) => ({ pid: m.pid, backendStart: m.backendStart, queryStart: m.queryStart }));
    incident.applications = topApplications(members);
    incidents.push(incident);
    for (const m of members) covered.add(m.pid);
  }

  for (const s of sessions) {
    if (covered.has(s.pid)) continue;
    const state = s.state ?? '';
    if (
      state.startsWith('idle in transaction') &&
      t.idleInTransactionSeconds !== null &&
      (s.xactAgeSeconds ?? 0) >= t.idleInTransactionSeconds
    ) {
      const incident = blank(cluster, 'idle-in-transaction', sessionSubject(s));
      incident.root = root(s);
      incidents.push(incident);
    } else if (state === 'active' && t.activeSeconds !== null && (s.queryAgeSeconds ?? 0) >= t.activeSeconds) {
      const incident = blank(cluster, 'active', sessionSubject(s));
      incident.root = root(s);
      incidents.push(incident);
    }
  }

  const c = snapshot.connections;
  if (t.connectionsShare !== null && c.available > 0 && c.total > c.available * t.connectionsShare) {
    const incident = blank(cluster, 'connections', '-');
    incident.connections = c;
    incident.seenAt = snapshot.at;
    incident.applications = (c.top?.applications ?? []).map((g) => g.name);
    incidents.push(incident);
  }

  if (t.replicationLagBytes !== null) {
    for (const w of snapshot.walsenders) {
      if (w.lagBytes === null || w.lagBytes <= t.replicationLagBytes) continue;
      const incident = blank(cluster, 'replication-lag', sessionSubject(w));
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
      incidents.push(incident);
    }
  }
  return incidents;
}

/** What "Request terminate of the N idle sessions of app X…" on a connections alert offers. */
export interface ConnectionRelief {
  application: string;
  /** Idle and idle in transaction, as last seen. */
  idle: number;
  active: number;
  /** The server's time of that look: sessions connected later are never part of it. */
  seenAt: string;
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
  const incident = blank(cluster, 'cluster-down', '-');
  incident.error = error;
  return incident;
}

// ---- an incident's life ---------------------------------------------------------------------------------

/** Why an incident ended. */
export type ClearReason =
  | {
      kind: 'request';
      requestId: string;
      action: 'cancelled' | 'terminated';
      approver: string | null;
      /** A bulk cancel of a query storm: how many of its frozen sessions it cancelled. */
      counts?: { done: number; of: number };
    }
  /** A standing approval (src/domain/rules.ts) signalled its root. */
  | { kind: 'rule'; ruleId: string; action: 'cancelled' | 'terminated'; proposer: string; approver: string | null }
  | { kind: 'ended' }
  | { kind: 'resolved' }
  | { kind: 'back' };

/** An incident as the state database keeps it. */
export interface IncidentRecord {
  id: string;
  key: string;
  cluster: string;
  cause: IncidentCause;
  status: 'open' | 'cleared';
  incident: Incident;
  openedAt: string;
  clearedAt: string | null;
  clearReason: ClearReason | null;
  messageTs: string | null;
  snoozedUntil: string | null;
}

/** An incident with the state of its alert message. */
export interface LiveIncident extends IncidentRecord {
  channel: string;
  /** Changes so far; the message shows shownVersion. */
  version: number;
  shownVersion: number;
  shownStatus: 'open' | 'cleared' | null;
  snoozedBy: string | null;
  /** Snoozed right now. */
  snoozed: boolean;
  /** Slack may be called for it now (Retry-After has passed). */
  postDue: boolean;
  /** The last update is older than the gap between updates. */
  updateDue: boolean;
}

/** A cleared incident that comes back within this long reopens its message instead of posting a new one. */
export const REOPEN_WITHIN_SECONDS = 300;

export interface WatchPlan {
  /** Detected and not open: insert (or reopen, when cleared recently). */
  open: Incident[];
  /** Open and detected again: refresh the details. */
  refresh: Array<{ record: IncidentRecord; incident: Incident }>;
  /** Open and not detected any more. */
  clear: IncidentRecord[];
}

/** Compares what the watcher sees now with what is open. */
export function planIncidents(open: IncidentRecord[], detected: Incident[]): WatchPlan {
  const openByKey = new Map(open.map((r) => [r.key, r]));
  const seen = new Set<string>();
  const plan: WatchPlan = { open: [], refresh: [], clear: [] };
  for (const incident of detected) {
    if (seen.has(incident.key)) continue;
    seen.add(incident.key);
    const record = openByKey.get(incident.key);
    if (record) plan.refresh.push({ record, incident });
    else plan.open.push(incident);
  }
  for (const record of open) if (!seen.has(record.key)) plan.clear.push(record);
  return plan;
}

/**
 * Why an incident that is no longer seen ended: an approved request that signalled its root (for a query
 * storm, a bulk cancel that cancelled some of its sessions, with how many); else the root session left
 * (ended by itself); else it dropped below the threshold.
 */
export function clearReasonFor(
  record: IncidentRecord,
  snapshot: WatchSnapshot | null,
  executed: {
    requestId: string;
    outcome: 'cancelled' | 'terminated';
    approver: string | null;
    counts?: { done: number; of: number };
  } | null,
): ClearReason {
  if (record.cause === 'cluster-down') return { kind: 'back' };
  if (executed) {
    const reason: ClearReason = {
      kind: 'request',
      requestId: executed.requestId,
      action: executed.outcome,
      approver: executed.approver,
    };
    return executed.counts ? { ...reason, counts: executed.counts } : reason;
  }
  const r = record.incident.root;
  if (r && snapshot && record.cause !== 'query-storm' && record.cause !== 'replication-lag') {
    // Still the same work: the same transaction for an idle one, the same query otherwise.
    const idle = (r.state ?? '').startsWith('idle in transaction');
    const still = snapshot.sessions.some(
      (s) =>
        s.pid === r.pid &&
        s.backendStart === r.backendStart &&
        (idle ? s.xactStart === r.xactStart : s.queryStart === r.queryStart),
    );
    return still ? { kind: 'resolved' } : { kind: 'ended' };
  }
  return { kind: 'resolved' };
}

// ---- what to say in Slack --------------------------------------------------------------------------------

export type DeliveryStep =
  | { kind: 'post'; incident: LiveIncident }
  | { kind: 'update'; incident: LiveIncident }
  /** Cleared before it was ever posted (or while summarised): nothing to show, mark it settled. */
  | { kind: 'settle'; incident: LiveIncident };

/**
 * What the watcher posts or updates now: one message per incident up to `cap` open messages per cluster
 * (the rest go into one summary), an update at most every gap unless the incident cleared or reopened,
 * nothing for a snoozed incident but its clearing, nothing before Slack's Retry-After.
 */
export function planDelivery(live: LiveIncident[], cap: number): { steps: DeliveryStep[]; summarised: LiveIncident[] } {
  const steps: DeliveryStep[] = [];
  const summarised: LiveIncident[] = [];
  let posted = live.filter((r) => r.status === 'open' && r.messageTs !== null).length;
  for (const r of live) {
    if (r.messageTs === null) {
      if (r.status === 'cleared') {
        steps.push({ kind: 'settle', incident: r });
        continue;
      }
      if (r.snoozed) continue;
      if (posted >= cap) {
        summarised.push(r);
        continue;
      }
      posted += 1; // its slot is taken even while Slack asks us to wait
      if (r.postDue) steps.push({ kind: 'post', incident: r });
      continue;
    }
    if (r.shownVersion >= r.version) continue;
    const statusChanged = r.shownStatus !== r.status;
    if (!r.postDue) continue;
    if (r.status === 'open' && r.snoozed && !statusChanged) continue;
    if (!statusChanged && !r.updateDue) continue;
    steps.push({ kind: 'update', incident: r });
  }
  return { steps, summarised };
}
