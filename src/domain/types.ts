// The shared vocabulary of pgsessions: sessions as PostgreSQL reports them, the filters a user can ask
// for, and the actions a request can carry. No Slack, no pg here.
import type { Trouble } from './outcome.js';

/** A session state as pg_stat_activity spells it. */
export const SESSION_STATES = [
  'active',
  'idle',
  'idle in transaction',
  'idle in transaction (aborted)',
  'fastpath function call',
  'disabled',
] as const;
export type SessionState = (typeof SESSION_STATES)[number];

/**
 * Exactly one backend, as it was seen. Timestamps are the server's own text (UTC, microseconds), never a
 * JavaScript Date, which would drop the microseconds that make the identity exact.
 */
export interface SessionIdentity {
  cluster: string;
  pid: number;
  backendStart: string;
  /** Present for a cancel: the query that was approved, not whatever runs later on the same backend. */
  queryStart: string | null;
}

/** One row of the listing: a client backend (parallel workers folded into their leader). */
export interface SessionRow {
  pid: number;
  user: string | null;
  database: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  backendType: string;
  backendStart: string;
  xactStart: string | null;
  queryStart: string | null;
  /** Seconds the session has been in its current work: since xact_start when idle in transaction, else since query_start. */
  ageSeconds: number;
  /** Seconds since the current query started, or null. */
  queryAgeSeconds: number | null;
  /** Seconds since the transaction started, or null. */
  xactAgeSeconds: number | null;
  waitEventType: string | null;
  waitEvent: string | null;
  blockedBy: number[];
  /** How many sessions wait directly on this one's locks. */
  blocking: number;
  /** How many parallel workers run for this leader. */
  parallelWorkers: number;
  queryId: string | null;
  query: string | null;
  /** Why the bot's role can never signal this backend (the server would refuse), or null/absent when it can. */
  signalBlocker?: SignalBlocker | null;
  /** The lock mode it waits for (blocking tree only; AccessExclusiveLock marks a lock-queue head). */
  wantedLock?: string | null;
}

/** A process a standby depends on (backend_type 'startup': WAL replay, or 'walreceiver'): shown, never signalled. */
export interface RecoveryProcess {
  pid: number;
  backendType: 'startup' | 'walreceiver';
  /** Seconds since the process started. */
  ageSeconds: number | null;
  waitEventType: string | null;
  waitEvent: string | null;
}

/** A watched cluster in recovery (a standby), as its listing header tells it. */
export interface RecoveryState {
  /** pg_is_wal_replay_paused(). */
  paused: boolean;
  /** WAL received but not yet replayed, in bytes; null when nothing is received (no streaming). */
  bytesBehind: number | null;
  /** Seconds since the last replayed transaction committed on the primary; null when none was replayed yet. */
  lastReplaySeconds: number | null;
  /** The WAL receiver's status ('streaming', …; 'unknown' when the role may not read it); null: no WAL receiver. */
  receiver: string | null;
  processes: RecoveryProcess[];
}

/**
 * Why PostgreSQL would refuse the bot's signal to a backend whatever anyone approves: a superuser's backend
 * (the bot is not one), a process without a role, an autovacuum worker (without pg_signal_autovacuum_worker),
 * another role's backend (without pg_signal_backend).
 */
export const SIGNAL_BLOCKERS = ['superuser', 'no_role', 'autovacuum_worker', 'other_role'] as const;
export type SignalBlocker = (typeof SIGNAL_BLOCKERS)[number];

/** A walsender, from pg_stat_replication joined to pg_stat_activity. */
export interface ReplicationRow {
  pid: number;
  user: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  backendStart: string;
  sentLsn: string | null;
  replayLsn: string | null;
  /** Bytes between the current WAL position and what the standby replayed, or null when unknown. */
  lagBytes: number | null;
  replayLagSeconds: number | null;
  syncState: string | null;
  slotName: string | null;
  /** As for sessions: why the bot's role can never signal this walsender, or null/absent when it can. */
  signalBlocker?: SignalBlocker | null;
}

/** A node of the lock-wait tree. */
export interface BlockingRow extends SessionRow {
  /** How many sessions wait on this one, directly or through others. */
  blocksCount: number;
  /** Depth in the tree: 0 for a root blocker. */
  depth: number;
}

export interface ListFilters {
  database?: string;
  user?: string;
  application?: string;
  state?: SessionState;
  minSeconds?: number;
  limit: number;
}

export const ACTIONS = [
  'cancel',
  'terminate',
  'cancel_then_terminate',
  'terminate_walsender',
  'terminate_all',
  'cancel_all',
  // A maintenance drain (docs/drain.md): close a database to new connections for a window, end its sessions.
  'drain',
] as const;
export type Action = (typeof ACTIONS)[number];

/** What the server says about the bot's own role on one cluster, read at start-up. */
export interface RoleCapabilities {
  role: string;
  superuser: boolean;
  readAllStats: boolean;
  signalBackend: boolean;
  /**
   * PostgreSQL 16 and later: whether the role may use the connections reserved by `reserved_connections`
   * (member of pg_use_reserved_connections) and how many there are — what lets it in when the cluster is
   * full. Null before 16, where neither exists.
   */
  reservedConnections: { member: boolean; reserved: number } | null;
  serverVersion: string;
  serverVersionNum: number;
}

/** The session a request targets, frozen when the request was made (query text already shaped by PGSESSIONS_QUERY_TEXT). */
export interface TargetSnapshot {
  pid: number;
  backendStart: string;
  queryStart: string | null;
  xactStart: string | null;
  backendType: string;
  user: string | null;
  database: string | null;
  application: string | null;
  client: string | null;
  state: string | null;
  query: string | null;
}

export const REQUEST_STATUSES = [
  'pending',
  'approved',
  'executed',
  'failed',
  'denied',
  'withdrawn',
  'expired',
] as const;
export type RequestStatus = (typeof REQUEST_STATUSES)[number];

export const TARGET_OUTCOMES = [
  'terminated',
  'cancelled',
  'still_running',
  'gone',
  'permission_denied',
  'refused',
  'error',
] as const;
export type TargetOutcomeCode = (typeof TARGET_OUTCOMES)[number];

export interface TargetOutcome {
  pid: number;
  outcome: TargetOutcomeCode;
  /** The server's own words where it refused or failed. */
  message?: string;
}

export interface ExecutionResult {
  outcomes: TargetOutcome[];
  /** The cluster could not be reached (or refused a connection, see trouble): nothing was signalled. */
  unreachable?: boolean;
  /** What stood in the way when it was not plain unreachability: full, pooler full, busy. */
  trouble?: Trouble;
  /** Set when a restart interrupted the execution and the request was reconciled instead of re-run. */
  interrupted?: boolean;
  message?: string;
  /** A drain's execution: the drain it recorded (its End drain now button) and, once ended, how. */
  drain?: { id: string; database: string; endsAt: string; ended?: string };
}

/** The filters of a terminate-all request, as stored (every field optional in old rows). */
export interface RequestScope {
  database?: string;
  user?: string;
  application?: string;
}

/**
 * A connection storm's relief: the sessions of one application that were connected when the watcher last saw
 * the storm (backend_start ≤ connectedBy), idle or idle in transaction unless includeActive widens it.
 */
export interface ReliefScope {
  application: string;
  connectedBy: string;
  includeActive: boolean;
}

/** What a terminate-all asks for: a database, optionally narrowed by user and application. */
export type BulkScope = RequestScope & { database: string };

/** A cancel/terminate request under the two-person rule, as kept in the state database. */
export interface KillRequest {
  id: string;
  cluster: string;
  action: Action;
  targets: TargetSnapshot[];
  reason: string;
  requester: string;
  channel: string;
  messageTs: string | null;
  status: RequestStatus;
  decidedBy: string | null;
  decidedAt: string | null;
  createdAt: string;
  expiresAt: string;
  /** cancel_then_terminate: seconds to wait after the cancel before terminating. */
  escalateAfterSeconds: number | null;
  /** terminate_all: the filters the frozen list came from. */
  scope: RequestScope | null;
  result: ExecutionResult | null;
  /** Distinct approvers needed, frozen when the request was made (absent: 1). */
  quorum?: number;
  /** Who approved so far, in order (a request with a quorum above 1; absent: none read). */
  approvers?: string[];
}
