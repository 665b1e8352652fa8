// What the watcher is given and what it answers: the clusters it watches, its ports, and the results of the
// alert operations (snooze, the storm and relief forms). Types only.
import type { WatchSettings } from '../config.js';
import type { AuditEntryInput } from '../domain/audit.js';
import type { Fence } from '../domain/lease.js';
import type { QueryTextMode } from '../domain/policy.js';
import type { AlertMessagesPort, IncidentStorePort, WatchReaderPort } from '../domain/ports.js';
import type { RuleExecution } from '../domain/rules-service.js';
import type { RuleSpec } from '../domain/rules.js';
import type { ConnectionRelief, Incident, LiveIncident } from '../domain/watch.js';
import type { Logger } from '../logger.js';
import type { Leadership } from './leadership.js';

export interface WatchedCluster {
  name: string;
  reader: WatchReaderPort;
  settings: WatchSettings & { channel: string };
}

export interface WatcherDeps {
  clusters: WatchedCluster[];
  store: IncidentStorePort;
  messages: AlertMessagesPort;
  leadership: Leadership;
  audit(entry: AuditEntryInput): Promise<unknown>;
  queryText: QueryTextMode;
  logger: Logger;
  /** Seconds between two updates of one message (30 in production). */
  updateGapSeconds: number;
  /** Open alert messages per cluster before the rest go into one summary. */
  maxOpenMessages: number;
  /** Failed looks in a row before the cluster is an incident (one blip is not). */
  downAfterFailures: number;
  /** Standing approvals: applied to what each look detects, before anything is stored or posted. */
  rules?: {
    /** `candidates` detects again on the same snapshot with the thresholds the active rules need. */
    apply(
      cluster: string,
      candidates: (specs: readonly RuleSpec[]) => Incident[],
      fence: Fence,
    ): Promise<RuleExecution[]>;
    anyActive(cluster: string): Promise<boolean>;
  };
  /** Called after each look of a cluster this replica leads (metrics, benchmarks). */
  onLook?: (cluster: string, readMs: number) => void;
}

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

export interface Watcher {
  /** mayView: the sentence refusing this user the incident's cluster (PGSESSIONS_VIEWERS), or null when they may look. */
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

/** What the parts of the watcher share: its deps, and what it remembers between looks. */
export interface WatchContext {
  deps: WatcherDeps;
  /** Failed looks in a row, per cluster. */
  failures: Map<string, number>;
  /** Clusters with an approved rule: looked at at least every RULE_LOOK_SECONDS. */
  ruled: Set<string>;
}
