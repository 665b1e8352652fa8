// The ports, declared once: what the domain and the watcher ask of a managed cluster, of the durable state
// and of Slack's alert messages, and what the Slack listeners ask of the watcher. Adapters (src/postgres/*,
// src/slack/watch-messages.ts) conform with `satisfies`; the unit tests fake them in memory. Types only.
import type { AuditEntry, AuditEntryInput, ChainVerification } from './audit.js';
import type { Fence } from './lease.js';
import type { Protection } from './policy.js';
import type {
  ApproveCode,
  CreateRequestInput,
  Decision,
  DeliverOptions,
  DeliverResult,
  DenyCode,
  FinishCode,
  MarkExecutingCode,
  WithdrawCode,
} from './state-ports.js';
import type { RefusedBy } from './outcome.js';
import type {
  BlockingRow,
  BulkScope,
  ExecutionResult,
  KillRequest,
  ListFilters,
  RecoveryState,
  ReliefScope,
  ReplicationRow,
  RoleCapabilities,
  SessionRow,
  TargetOutcome,
} from './types.js';
import type { ClearReason, ConnectionRelief, ConnectionUse, Incident, LiveIncident, WatchSnapshot } from './watch.js';

// ---- a managed cluster ----------------------------------------------------------------------------------

export type SignalKind = 'cancel' | 'terminate';

/** The exact session a signal is for: pid + backend_start name it, queryStart (a cancel) names its query. */
export interface SignalTarget {
  pid: number;
  backendStart: string;
  /** When set (a cancel), the query must still be the one that was approved. */
  queryStart: string | null;
  backendType: 'client backend' | 'walsender';
}

export interface SignalGuard extends Protection {
  terminateTimeoutMs: number;
  /** How long a cancel waits for the query to stop before reporting it still running. Default 3000. */
  cancelWaitMs?: number;
}

/** A listing: the rows, and what the header row says of the cluster. */
export interface Listing {
  rows: SessionRow[];
  totalMatched: number;
  /** Sessions of other roles the bot's role is not allowed to see (no pg_read_all_stats). */
  hidden: number;
  /** The cluster's connection use (null only when the header row did not come back). */
  connections?: ConnectionUse | null;
  /** The server (or its pooler) refused a new connection, so the listing came through pgsessions' reserved one. */
  refused?: RefusedBy | null;
  /** The cluster is a standby, with its replay and the processes it depends on; null on a primary. */
  recovery?: RecoveryState | null;
}

/** Everything the app asks of one managed cluster — src/postgres/session-store.ts implements it. */
export interface ManagedClusterPort {
  name: string;
  capabilities(): Promise<RoleCapabilities>;
  list(filters: ListFilters): Promise<Listing>;
  blocking(): Promise<BlockingRow[]>;
  replication(): Promise<ReplicationRow[]>;
  byPid(pid: number): Promise<SessionRow | null>;
  bulkTargets(scope: BulkScope): Promise<SessionRow[]>;
  reliefTargets(scope: ReliefScope): Promise<SessionRow[]>;
  /** Re-checks the identity and signals in one statement; never throws for an expected refusal. */
  signal(kind: SignalKind, target: SignalTarget, guard: SignalGuard): Promise<TargetOutcome>;
  /** Is this exact session (and query, when given) still there? With its state. */
  stillThere(target: SignalTarget): Promise<{ state: string | null } | null>;
}

/** What the read path (reads.ts) needs of a cluster. */
export type ReadClusterPort = Pick<
  ManagedClusterPort,
  'name' | 'capabilities' | 'list' | 'blocking' | 'replication' | 'byPid'
>;

/** What the write path (requests, standing approvals) needs of a cluster. */
export type ClusterPort = Pick<
  ManagedClusterPort,
  'name' | 'byPid' | 'bulkTargets' | 'reliefTargets' | 'signal' | 'stillThere'
>;

// ---- the durable state ----------------------------------------------------------------------------------

/** Requests under the two-person rule. Every change writes its audit entry in the same transaction. */
export interface RequestStorePort {
  createRequest(input: CreateRequestInput): Promise<KillRequest>;
  /** Records the ts of the approval message; false when there is no such request. */
  setMessageTs(id: string, ts: string): Promise<boolean>;
  get(id: string): Promise<KillRequest | null>;
  /** Pending and not yet past expiry, oldest first. */
  listPending(cluster?: string): Promise<KillRequest[]>;
  approve(id: string, approver: string): Promise<Decision<ApproveCode>>;
  deny(id: string, actor: string): Promise<Decision<DenyCode>>;
  withdraw(id: string, actor: string): Promise<Decision<WithdrawCode>>;
  /** Announces, once, that the signal is about to be sent (the durable intent); writes the `executing` entry. */
  markExecuting(id: string): Promise<Decision<MarkExecutingCode>>;
  finish(id: string, status: 'executed' | 'failed', result: ExecutionResult): Promise<Decision<FinishCode>>;
  expireDue(): Promise<KillRequest[]>;
  findInterrupted(olderThanSeconds: number): Promise<KillRequest[]>;
  /** How many requests are in each status. */
  countByStatus(): Promise<Record<string, number>>;
}

/** The append-only, hash-chained audit log. */
export interface AuditLogPort {
  appendAudit(entry: AuditEntryInput): Promise<AuditEntry>;
  readAudit(afterSeq?: number, limit?: number): Promise<AuditEntry[]>;
  verifyAudit(): Promise<ChainVerification>;
}

/** What the request service needs of the state. */
export type StatePort = RequestStorePort & Pick<AuditLogPort, 'appendAudit'>;

/** The queue that carries audit entries to the audit channel, in seq order. */
export interface OutboxPort {
  /** Delivers the head of the outbox, holding its lock while post() runs. */
  deliverNext(post: (entry: AuditEntry) => Promise<void>, options?: DeliverOptions): Promise<DeliverResult>;
  outboxBacklog(): Promise<number>;
}

// ---- watching -------------------------------------------------------------------------------------------

/** One look at a cluster for the watcher — src/postgres/watch-reader.ts. */
export interface WatchReaderPort {
  cluster: string;
  /** connectionsShare: the alert's share of connections, past which the snapshot says who holds them. */
  read(options: { walsenders: boolean; connectionsShare?: number | null }): Promise<WatchSnapshot>;
  /** Wall time and server-side time of the last read, for the benchmark and metrics. */
  lastReadMs(): number;
  close(): Promise<void>;
}

/** An approved request that signalled an incident's root. */
export interface ExecutedOn {
  requestId: string;
  approver: string | null;
  outcome: 'cancelled' | 'terminated';
  /** The query a cancel targeted (a terminate ends the whole session). */
  queryStart: string | null;
}

/** A standing approval that signalled an incident's root, whichever replica executed it. */
export interface RuleExecutedOn {
  ruleId: string;
  outcome: 'cancelled' | 'terminated';
  proposer: string;
  approver: string | null;
}

/** A bulk cancel of a storm's sessions: its outcome, or that it is still signalling. */
export type StormRequest =
  | { executing: true; requestId: string }
  | { executing: false; requestId: string; approver: string | null; cancelled: number; targets: number };

export interface WatchSummaryRow {
  messageTs: string | null;
  body: string;
  postDue: boolean;
  updateDue: boolean;
}

/** The watcher's incidents in the state database — src/postgres/incident-store.ts. */
export interface IncidentStorePort {
  live(cluster: string, updateGapSeconds: number): Promise<LiveIncident[]>;
  get(id: string): Promise<LiveIncident | null>;
  /** The leader's decisions carry its lease's fence: a write under a lease taken over changes nothing. */
  open(incident: Incident, channel: string, fence: Fence): Promise<void>;
  refresh(id: string, incident: Incident, fence: Fence): Promise<void>;
  clear(id: string, reason: ClearReason, fence: Fence): Promise<void>;
  /** Null when another watcher posts it, it is already posted, Slack asked us to wait, or the lease is lost. */
  claimPost(id: string, fence: Fence): Promise<{ version: number } | null>;
  posted(id: string, ts: string, version: number, status: 'open' | 'cleared'): Promise<void>;
  postFailed(id: string, retryAfterSeconds: number): Promise<void>;
  shown(id: string, version: number, status: 'open' | 'cleared'): Promise<void>;
  updateFailed(id: string, retryAfterSeconds: number): Promise<void>;
  snooze(id: string, minutes: number, user: string): Promise<LiveIncident | null>;
  executedOn(cluster: string, pid: number, backendStart: string): Promise<ExecutedOn | null>;
  /** The rule execution that terminated this session, or cancelled this statement (queryStart); null if none. */
  ruleExecutedOn(
    cluster: string,
    pid: number,
    backendStart: string,
    queryStart: string | null,
  ): Promise<RuleExecutedOn | null>;
  /** The bulk cancel that froze any of these storm sessions (same query), if one was approved. */
  stormRequestOn(cluster: string, members: Incident['members']): Promise<StormRequest | null>;
  summary(cluster: string, updateGapSeconds: number): Promise<WatchSummaryRow | null>;
  summaryShown(cluster: string, channel: string, ts: string | null, body: string): Promise<void>;
  summaryFailed(cluster: string, channel: string, retryAfterSeconds: number): Promise<void>;
}

/** What Slack said to a post or an update: its ts, or the Retry-After to honour (null: not rate limited). */
export type Delivered = { ok: true; ts: string } | { ok: false; retryAfterSeconds: number | null; error: string };

/** The alert messages of the watcher — src/slack/watch-messages.ts. */
export interface AlertMessagesPort {
  post(incident: LiveIncident): Promise<Delivered>;
  update(incident: LiveIncident): Promise<Delivered>;
  /** Posts (ts null) or updates the cluster's summary; `body` is what to compare for a change. */
  summary(cluster: string, channel: string, ts: string | null, rest: LiveIncident[]): Promise<Delivered>;
  summaryBody(cluster: string, rest: LiveIncident[]): string;
}

// ---- what a click on an alert asks of the watcher ------------------------------------------------------

export type SnoozeResult = { ok: true; incident: LiveIncident } | { ok: false; message: string };

/** An open query storm as the store has it now: its frozen sessions and what the form shows of them. */
export type StormResult =
  | {
      ok: true;
      cluster: string;
      /** The watch channel the alert is in: the request is posted there. */
      channel: string;
      members: Incident['members'];
      query: string | null;
      applications: string[];
      oldestSeconds: number;
    }
  | { ok: false; message: string };

/** An open connections incident as the store has it now: the application to relieve it from, and where. */
export type ReliefResult =
  | { ok: true; cluster: string; channel: string; relief: ConnectionRelief }
  | { ok: false; message: string };

/** The watcher's alert operations — src/watch/watcher.ts; the Slack listeners call them. */
export interface Watcher {
  /**
   * mayView: the sentence refusing this user the incident's cluster (PGSESSIONS_VIEWERS), or null when they
   * may look.
   */
  snooze(
    incidentId: string,
    minutes: number,
    user: string,
    mayView?: (cluster: string) => Promise<string | null>,
  ): Promise<SnoozeResult>;
  /** The sessions of an open query-storm incident, read from the incident store (never from a payload). */
  storm(incidentId: string): Promise<StormResult>;
  /** The application a connections alert offers to relieve, read from the incident store (never from a payload). */
  relief(incidentId: string): Promise<ReliefResult>;
  stop(): Promise<void>;
}
