// What the watcher is given: the clusters it watches and its ports. What it answers (the Watcher and the
// results of its alert operations) is a port too, declared in src/domain/ports.ts. Types only.
import type { WatchSettings } from '../config.js';
import type { AuditEntryInput } from '../domain/audit.js';
import type { Fence } from '../domain/lease.js';
import type { QueryTextMode } from '../domain/policy.js';
import type { AlertMessagesPort, IncidentStorePort, WatchReaderPort } from '../domain/ports.js';
import type { RuleExecution } from '../domain/rule-service.js';
import type { RuleSpec } from '../domain/rules.js';
import type { Incident } from '../domain/watch.js';
import type { Logger } from '../logger.js';
import type { Leadership } from './leadership.js';

export type { ReliefResult, SnoozeResult, StormResult, Watcher } from '../domain/ports.js';

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
    /** Every cluster with an active rule, in one read (the replica's poll for rules approved elsewhere). */
    activeClusters(): Promise<Set<string>>;
  };
  /** Called after each look of a cluster this replica leads (metrics, benchmarks). */
  onLook?: (cluster: string, readMs: number) => void;
}

/** What the parts of the watcher share: its deps, and what it remembers between looks. */
export interface WatchContext {
  deps: WatcherDeps;
  /** Failed looks in a row, per cluster. */
  failures: Map<string, number>;
  /** Clusters with an approved rule: looked at at least every RULE_LOOK_SECONDS. */
  ruled: Set<string>;
  /** When the replica's rule poll last saw an active rule on each cluster (Date.now() at the poll's start). */
  ruleSeenAt: Map<string, number>;
}
