// What startPgsessions takes besides the environment, and what it hands back.
import type { Config } from '../config.js';
import type { Logger } from '../logger.js';
import type { ClusterChecksOptions } from './cluster-checks.js';

export interface StartOptions {
  /** A logger to use instead of one built from LOG_LEVEL (tests capture output through it). */
  logger?: Logger;
  /** How often to expire due requests and reconcile interrupted ones. */
  sweepIntervalMs?: number;
  /** Listen on this address only (the playground: 127.0.0.1); default every address. */
  host?: string;
  /** How often PGSESSIONS_RETENTION prunes (default hourly). */
  pruneIntervalMs?: number;
  /** An approved request (or a claimed rule execution) with no outcome after this long is treated as interrupted by a crash. */
  interruptedAfterSeconds?: number;
  outboxIntervalMs?: number;
  /** How long pg_terminate_backend waits for the session to end (PostgreSQL 14+). */
  terminateTimeoutMs?: number;
  bulkCap?: number;
  /** Web API timeout per attempt for the app's own calls (default 10 s in webClientOptions); tests shorten it. */
  slackTimeoutMs?: number;
  /** How long a shared rate-limit bucket is waited for before this replica's own decides (default 500 ms). */
  rateLimitTimeoutMs?: number;
  /** How long /healthz and /metrics reuse what they read from the state database (default 5 s). */
  probeCacheMs?: number;
  /** Seconds between two updates of one alert message (default 30). */
  watchUpdateGapSeconds?: number;
  /** Open alert messages per cluster before one summary lists the rest (default 5). */
  watchMaxOpenMessages?: number;
  /** Query storms: this many sessions of one statement, each running this long (defaults 10 and 10 s). */
  watchStorm?: { sessions: number; seconds: number };
  /** Failed looks in a row before a cluster is called down (default 2). */
  watchDownAfterFailures?: number;
  /** How long an unused pooled connection stays open (default 30 s); tests shorten it to see a full cluster. */
  poolIdleTimeoutMs?: number;
  /** Between two checks of each reserved connection (default 10 s). */
  lifelineHealthIntervalMs?: number;
  /** How often the clusters file is read besides the file watch and SIGHUP (default 5 s). */
  clustersPollMs?: number;
  /** Reload the clusters file on SIGHUP (default true). */
  clustersSighup?: boolean;
  /** Watch the clusters file's directory (default true); tests turn it off to see SIGHUP alone. */
  clustersFileWatch?: boolean;
  /** Seconds a watcher's lease on a cluster lasts unless renewed (default 15): a dead leader's successor waits this long. */
  watchLeaseSeconds?: number;
  /** The start-up check of every cluster: how many at once, how long each, how long start-up waits (cluster-checks.ts). */
  clusterChecks?: ClusterChecksOptions;
}

export interface RunningApp {
  port: number;
  /** The port serving /metrics when METRICS_PORT is set (the bound one, for METRICS_PORT=0); else null. */
  metricsPort: number | null;
  config: Config;
  logger: Logger;
  stop(): Promise<void>;
}
