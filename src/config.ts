// Every setting of the product contract (docs/CONTRACT.md, docs/settings.md), parsed once with one zod
// schema (config/schema.ts). Bad or missing settings come back as one message naming each problem; secrets are
// never echoed in it. The parts: watch settings (config/watch.ts), the clusters file (config/clusters-file.ts),
// the CLIs' subset (config/state.ts) and the playground's own (config/playground.ts).
import { withProviderRoles, type QueryTextMode } from './domain/policy.js';
import { type ClusterConfig, loadClustersFile } from './config/clusters-file.js';
import { ConfigError, describe, env, present } from './config/schema.js';
import { DEFAULT_WATCH, type WatchSettings, watchSettings } from './config/watch.js';
import { globalRouting } from './config/routing.js';
import type { ApprovalRouting } from './domain/routing.js';

export {
  type ClusterConfig,
  type ClustersFileOptions,
  type ClustersFileResult,
  loadClustersFile,
  parseClustersFile,
} from './config/clusters-file.js';
export { loadPlaygroundConfig, type PlaygroundConfig } from './config/playground.js';
export { AUDIT_KEY_MIN_BYTES, ConfigError, SETTING_NAMES } from './config/schema.js';
export { loadStateSettings, type StateSettings } from './config/state.js';
export { DEFAULT_WATCH, parseBytes, type WatchSettings } from './config/watch.js';

export interface Config {
  slack: {
    botToken: string;
    signingSecret: string | null;
    appToken: string | null;
    apiUrl: string | null;
  };
  port: number;
  clusters: ClusterConfig[];
  /** PGSESSIONS_CLUSTERS: the clusters file, reloaded when it changes; null when DATABASE_URL names the one cluster. */
  clustersFile: string | null;
  /** PGSESSIONS_FLEET_TIMEOUT: how long `cluster:*` waits for each cluster. */
  fleetTimeoutMs: number;
  /** PGSESSIONS_DRAIN_MAX: the longest window a drain may ask for (docs/drain.md). */
  drainMaxSeconds: number;
  stateDatabaseUrl: string;
  auditChannel: string;
  approvers: string[];
  /** null: everyone in the workspace may request. */
  requesters: string[] | null;
  /** null: everyone in the workspace may look at listings, blocking, replication, status and pending. */
  viewers: string[] | null;
  /** Team (T…) or Enterprise Grid org (E…) IDs besides the installing workspace whose people may use the app. */
  allowedTeams: string[];
  approvalTtlSeconds: number;
  /** PGSESSIONS_PROTECTED_ROLES after the managed services' own roles (PROVIDER_ROLES). */
  protectedRoles: string[];
  protectedApps: string[];
  queryText: QueryTextMode;
  readOnly: boolean;
  /** PGSESSIONS_AUDIT_KEY (a secret, ≥ 32 bytes): keys the audit hash chain; null leaves it unkeyed. */
  auditKey: string | null;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  /** Per-user token buckets (per replica); null = no limit. */
  rateLimits: {
    /** Listings and other reads: PGSESSIONS_LISTING_RATE, burst PGSESSIONS_LISTING_BURST. */
    listing: RateLimit | null;
    /** Kill requests and refused decisions: PGSESSIONS_REQUEST_RATE (the burst is the count). */
    request: RateLimit | null;
  };
  /** Serve /metrics (and /healthz) on this port instead of PORT; null = on PORT. */
  metricsPort: number | null;
  /** PGSESSIONS_RETENTION: incidents and rule executions older than this are pruned. */
  retentionSeconds: number;
  /** Watching, by cluster name: the global PGSESSIONS_WATCH_* settings with the cluster's own `watch:` on top. */
  watch: Record<string, WatchSettings>;
  /** Quorum, escalation and break-glass everywhere a cluster does not set its own (ClusterConfig.routing). */
  routing: ApprovalRouting;
}

export interface RateLimit {
  /** Tokens a user starts with and can save up. */
  burst: number;
  /** Tokens given back per second. */
  perSecond: number;
}

type Values = Record<string, string>;
type Data = ReturnType<typeof env.parse>;

/** The global PGSESSIONS_WATCH_* settings on top of the defaults. */
function globalWatch(values: Values, problems: string[]): WatchSettings {
  const raw = {
    channel: values.PGSESSIONS_WATCH_CHANNEL,
    interval: values.PGSESSIONS_WATCH_INTERVAL,
    lockWait: values.PGSESSIONS_WATCH_LOCK_WAIT,
    idleInTransaction: values.PGSESSIONS_WATCH_IDLE_IN_TRANSACTION,
    active: values.PGSESSIONS_WATCH_ACTIVE,
    connections: values.PGSESSIONS_WATCH_CONNECTIONS,
    replicationLag: values.PGSESSIONS_WATCH_REPLICATION_LAG,
  };
  return watchSettings(raw, DEFAULT_WATCH, '', problems);
}

/** The managed clusters: the clusters file's, or the one DATABASE_URL names, each with its watch settings. */
function clustersOf(
  values: Values,
  watch: WatchSettings,
  routing: ApprovalRouting,
  problems: string[],
): { clusters: ClusterConfig[]; watch: Record<string, WatchSettings> } {
  if (values.PGSESSIONS_CLUSTERS) {
    const file = loadClustersFile(values.PGSESSIONS_CLUSTERS, values, watch, routing);
    if (file.ok) return { clusters: file.clusters, watch: file.watch };
    problems.push(...file.problems);
    return { clusters: [], watch: file.watch };
  }
  if (values.DATABASE_URL) {
    const url = values.DATABASE_URL.trim();
    return {
      clusters: [{ name: 'default', url, requesters: null, approvers: null, viewers: null }],
      watch: { default: watch },
    };
  }
  problems.push('DATABASE_URL is required (or PGSESSIONS_CLUSTERS naming a clusters file)');
  return { clusters: [], watch: {} };
}

/** What no single setting can say alone: settings that must come with, or differ from, one another. */
function crossChecks(values: Values, watchBy: Record<string, WatchSettings>, problems: string[]): void {
  if (!(values.STATE_DATABASE_URL ?? values.DATABASE_URL) && values.PGSESSIONS_CLUSTERS) {
    problems.push('STATE_DATABASE_URL is required when DATABASE_URL is not set');
  }
  // The audit channel carries audit entries and nothing else: an alert there could pass for one.
  for (const [name, settings] of Object.entries(watchBy)) {
    if (settings.channel !== null && settings.channel === values.PGSESSIONS_AUDIT_CHANNEL) {
      problems.push(
        `PGSESSIONS_WATCH_CHANNEL${values.PGSESSIONS_CLUSTERS ? ` (cluster ${name})` : ''} must differ from PGSESSIONS_AUDIT_CHANNEL: the audit channel carries audit entries only`,
      );
    }
  }
  const metricsPort = Number(values.METRICS_PORT);
  if (values.METRICS_PORT !== undefined && metricsPort !== 0 && metricsPort === Number(values.PORT ?? 3000)) {
    problems.push('METRICS_PORT must differ from PORT (leave it unset to serve /metrics on PORT)');
  }
}

const withSlash = (url: string | undefined) => (url ? (url.endsWith('/') ? url : `${url}/`) : null);

/** The checked settings, in the shape the app uses. */
function toConfig(
  data: Data,
  clusters: ClusterConfig[],
  stateDatabaseUrl: string,
  watch: Record<string, WatchSettings>,
  routing: ApprovalRouting,
): Config {
  return {
    slack: {
      botToken: data.SLACK_BOT_TOKEN,
      signingSecret: data.SLACK_SIGNING_SECRET ?? null,
      appToken: data.SLACK_APP_TOKEN ?? null,
      apiUrl: withSlash(data.SLACK_API_URL),
    },
    port: data.PORT,
    clusters,
    clustersFile: data.PGSESSIONS_CLUSTERS ?? null,
    fleetTimeoutMs: data.PGSESSIONS_FLEET_TIMEOUT,
    drainMaxSeconds: data.PGSESSIONS_DRAIN_MAX,
    stateDatabaseUrl: stateDatabaseUrl.trim(),
    auditChannel: data.PGSESSIONS_AUDIT_CHANNEL,
    approvers: data.PGSESSIONS_APPROVERS,
    requesters: data.PGSESSIONS_REQUESTERS.length > 0 ? data.PGSESSIONS_REQUESTERS : null,
    viewers: data.PGSESSIONS_VIEWERS.length > 0 ? data.PGSESSIONS_VIEWERS : null,
    allowedTeams: data.PGSESSIONS_ALLOWED_TEAMS,
    approvalTtlSeconds: data.PGSESSIONS_APPROVAL_TTL,
    // The managed services' own roles are always protected; the setting adds to them.
    protectedRoles: withProviderRoles(data.PGSESSIONS_PROTECTED_ROLES),
    protectedApps: data.PGSESSIONS_PROTECTED_APPS,
    queryText: data.PGSESSIONS_QUERY_TEXT,
    readOnly: data.PGSESSIONS_READ_ONLY,
    auditKey: data.PGSESSIONS_AUDIT_KEY ?? null,
    logLevel: data.LOG_LEVEL,
    rateLimits: {
      listing: data.PGSESSIONS_LISTING_RATE
        ? { burst: data.PGSESSIONS_LISTING_BURST, perSecond: data.PGSESSIONS_LISTING_RATE.perSecond }
        : null,
      request: data.PGSESSIONS_REQUEST_RATE
        ? { burst: data.PGSESSIONS_REQUEST_RATE.count, perSecond: data.PGSESSIONS_REQUEST_RATE.perSecond }
        : null,
    },
    metricsPort: data.METRICS_PORT ?? null,
    retentionSeconds: data.PGSESSIONS_RETENTION,
    watch,
    routing,
  };
}

export function loadConfig(source: NodeJS.ProcessEnv): Config {
  const values = present(source);
  const parsed = env.safeParse(values);
  // Keep going past schema problems so that one message names every bad setting, clusters included.
  const problems = parsed.success ? [] : describe(parsed.error.issues);
  if (!values.SLACK_APP_TOKEN && !values.SLACK_SIGNING_SECRET) {
    problems.push('SLACK_SIGNING_SECRET is required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode instead)');
  }
  const watch = globalWatch(values, problems);
  const routing = globalRouting(
    {
      quorum: values.PGSESSIONS_QUORUM,
      escalateAfter: values.PGSESSIONS_ESCALATE_AFTER,
      escalateTo: values.PGSESSIONS_ESCALATE_TO,
      breakGlass: values.PGSESSIONS_BREAK_GLASS,
      breakGlassAfter: values.PGSESSIONS_BREAK_GLASS_AFTER,
    },
    problems,
  );
  const managed = clustersOf(values, watch, routing, problems);
  crossChecks(values, managed.watch, problems);
  const stateDatabaseUrl = values.STATE_DATABASE_URL ?? values.DATABASE_URL;
  if (problems.length > 0 || !parsed.success || !stateDatabaseUrl) throw new ConfigError(problems);
  return toConfig(parsed.data, managed.clusters, stateDatabaseUrl, managed.watch, routing);
}
