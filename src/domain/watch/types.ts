// The words of watching: what one look at a cluster returns (its sessions, their lock waits, connection use,
// walsenders), the incidents found in it, and an incident's life in the state database. Plain data, so that
// standing approvals can evaluate their own thresholds against the same objects (cause, root, counts, ages).

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
  /** pid:backend_start for session incidents; the query id or a hash of the text's fingerprint for storms; else '-'. */
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

/** What "Request terminate of the N idle sessions of app X…" on a connections alert offers. */
export interface ConnectionRelief {
  application: string;
  /** Idle and idle in transaction, as last seen. */
  idle: number;
  active: number;
  /** The server's time of that look: sessions connected later are never part of it. */
  seenAt: string;
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
