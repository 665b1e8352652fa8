// Every setting of the product contract (docs/CONTRACT.md, the README's settings tables), parsed once with
// one zod schema. Bad or missing settings come back as one message naming each problem; secrets are never
// echoed in it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './domain/duration.js';
import { QUERY_TEXT_MODES, withProviderRoles, type QueryTextMode } from './domain/policy.js';
import { DEFAULT_STORM_SECONDS, DEFAULT_STORM_SESSIONS, type WatchThresholds } from './domain/watch.js';

export interface ClusterConfig {
  name: string;
  url: string;
  /** Who may request here; null means the global PGSESSIONS_REQUESTERS rule. */
  requesters: string[] | null;
  /** Who may approve here; null means the global PGSESSIONS_APPROVERS. */
  approvers: string[] | null;
  /** Who may look at sessions here; null means the global PGSESSIONS_VIEWERS. */
  viewers: string[] | null;
}

export interface WatchSettings {
  /** null: this cluster is not watched. */
  channel: string | null;
  intervalSeconds: number;
  thresholds: WatchThresholds;
}

export interface Config {
  slack: {
    botToken: string;
    signingSecret: string | null;
    appToken: string | null;
    apiUrl: string | null;
  };
  port: number;
  clusters: ClusterConfig[];
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
  /** PGSESSIONS_DRAIN_MAX: the longest window a drain may ask for (docs/drain.md). */
  drainMaxSeconds: number;
  /** Watching, by cluster name: the global PGSESSIONS_WATCH_* settings with the cluster's own `watch:` on top. */
  watch: Record<string, WatchSettings>;
}

export interface RateLimit {
  /** Tokens a user starts with and can save up. */
  burst: number;
  /** Tokens given back per second. */
  perSecond: number;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`pgsessions cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

export const AUDIT_KEY_MIN_BYTES = 32;
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const SLACK_PRINCIPAL = /^[UWS][A-Z0-9]{2,}$/;
const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,63}$/;

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

const principals = () =>
  z.array(
    z.string().regex(SLACK_PRINCIPAL, `must list Slack user IDs (U…/W…) or user-group IDs (S…), such as U024BE7LH`),
  );

const postgresUrl = z
  .string()
  .trim()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// connection string');

const clusterFileEntry = z
  .object({
    name: z.string().regex(CLUSTER_NAME, 'cluster name: letters, digits, _ . - (1-63 characters)'),
    url: postgresUrl.optional(),
    /** Name of an environment variable holding the connection string, to keep passwords out of the file. */
    urlEnv: z.string().optional(),
    requesters: principals().optional(),
    approvers: principals().optional(),
    viewers: principals().optional(),
    /** This cluster's own watch settings, same words as PGSESSIONS_WATCH_* (channel, interval, lockWait, …). */
    watch: z
      .object({
        channel: z.string().optional(),
        interval: z.union([z.string(), z.number()]).transform(String).optional(),
        lockWait: z.union([z.string(), z.number()]).transform(String).optional(),
        idleInTransaction: z.union([z.string(), z.number()]).transform(String).optional(),
        active: z.union([z.string(), z.number()]).transform(String).optional(),
        connections: z.string().optional(),
        replicationLag: z.union([z.string(), z.number()]).transform(String).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const clustersFile = z.union([
  z.object({ clusters: z.array(clusterFileEntry).min(1) }).strict(),
  z.array(clusterFileEntry).min(1),
]);

const boolean = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
  .optional()
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

/** `30/1m`: N per duration (N 1-10000, duration 1s-1h), or `off`. */
const rate = (fallback: string) =>
  z
    .string()
    .optional()
    .transform((value, ctx) => {
      const text = (value ?? fallback).trim().toLowerCase();
      if (text === 'off') return null;
      const match = /^(\d{1,5})\/(\w{1,24})$/.exec(text);
      const count = match ? Number(match[1]) : NaN;
      const seconds = match ? parseDuration(match[2]!) : null;
      if (!match || !(count >= 1 && count <= 10_000) || seconds === null || seconds < 1 || seconds > 3_600) {
        ctx.addIssue({
          code: 'custom',
          message: `must be a count per duration such as ${fallback} (1-10000 per 1s-1h), or off`,
        });
        return z.NEVER;
      }
      return { count, perSecond: count / seconds };
    });

const OFF = /^off$/i;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;

/** A watch setting's raw text (the clusters file may hold numbers): parsed below, one message per bad one. */
type WatchRaw = {
  channel?: string;
  interval?: string;
  lockWait?: string;
  idleInTransaction?: string;
  active?: string;
  connections?: string;
  replicationLag?: string;
};

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** `100MB`, `1GB`, `512kB`, or bare bytes. */
export function parseBytes(text: string): number | null {
  const m = /^(\d{1,15})\s*(b|kb|mb|gb|tb)?$/i.exec(text.trim());
  if (!m) return null;
  const value = Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase()]!;
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

function watchSettings(raw: WatchRaw, base: WatchSettings, where: string, problems: string[]): WatchSettings {
  const out: WatchSettings = {
    channel: base.channel,
    intervalSeconds: base.intervalSeconds,
    thresholds: { ...base.thresholds },
  };
  const bad = (name: string, message: string) => problems.push(`${where}${name} ${message}`);
  if (raw.channel !== undefined) {
    if (OFF.test(raw.channel)) out.channel = null;
    else if (CHANNEL_ID.test(raw.channel)) out.channel = raw.channel;
    else bad('PGSESSIONS_WATCH_CHANNEL', 'must be a channel ID such as C0123ABCD (not a #name), or off');
  }
  if (raw.interval !== undefined) {
    const seconds = parseDuration(raw.interval);
    if (seconds === null || seconds < 1 || seconds > 300)
      bad('PGSESSIONS_WATCH_INTERVAL', 'must be a duration between 1s and 5m, such as 10s');
    else out.intervalSeconds = seconds;
  }
  const duration = (value: string | undefined, name: string, set: (v: number | null) => void) => {
    if (value === undefined) return;
    if (OFF.test(value)) return set(null);
    const seconds = parseDuration(value);
    if (seconds === null || seconds < 1) bad(name, 'must be a duration such as 30s, 10m or 1h, or off');
    else set(seconds);
  };
  duration(raw.lockWait, 'PGSESSIONS_WATCH_LOCK_WAIT', (v) => (out.thresholds.lockWaitSeconds = v));
  duration(
    raw.idleInTransaction,
    'PGSESSIONS_WATCH_IDLE_IN_TRANSACTION',
    (v) => (out.thresholds.idleInTransactionSeconds = v),
  );
  duration(raw.active, 'PGSESSIONS_WATCH_ACTIVE', (v) => (out.thresholds.activeSeconds = v));
  if (raw.connections !== undefined) {
    const m = /^(\d{1,3})\s*%$/.exec(raw.connections.trim());
    if (OFF.test(raw.connections)) out.thresholds.connectionsShare = null;
    else if (m && Number(m[1]) >= 1 && Number(m[1]) <= 100) out.thresholds.connectionsShare = Number(m[1]) / 100;
    else bad('PGSESSIONS_WATCH_CONNECTIONS', 'must be a percentage between 1% and 100%, such as 90%, or off');
  }
  if (raw.replicationLag !== undefined) {
    const bytes = OFF.test(raw.replicationLag) ? null : parseBytes(raw.replicationLag);
    if (bytes === null && !OFF.test(raw.replicationLag))
      bad('PGSESSIONS_WATCH_REPLICATION_LAG', 'must be a size in bytes such as 1GB, 512MB or 1048576, or off');
    else out.thresholds.replicationLagBytes = bytes;
  }
  return out;
}

export const DEFAULT_WATCH: WatchSettings = {
  channel: null,
  intervalSeconds: 10,
  thresholds: {
    lockWaitSeconds: 30,
    idleInTransactionSeconds: 600,
    activeSeconds: 1800,
    connectionsShare: 0.9,
    replicationLagBytes: null,
    stormSessions: DEFAULT_STORM_SESSIONS,
    stormSeconds: DEFAULT_STORM_SECONDS,
  },
};

const env = z.object({
  SLACK_BOT_TOKEN: z
    .string({ message: 'is required (the bot token, xoxb-…)' })
    .regex(/^xoxb-\S+$/, 'must be a bot token starting with xoxb-'),
  SLACK_SIGNING_SECRET: z.string().trim().optional(),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-\S+$/, 'must be an app-level token starting with xapp-')
    .optional(),
  SLACK_API_URL: z.url({ protocol: /^https?$/, message: 'must be an http(s) URL' }).optional(),
  PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3000),
  DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_CLUSTERS: z.string().optional(),
  STATE_DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_AUDIT_CHANNEL: z
    .string({ message: 'is required (the channel ID that receives the audit trail, C…)' })
    .regex(/^[CGD][A-Z0-9]{2,}$/, 'must be a channel ID such as C0123ABCD (not a #name)'),
  PGSESSIONS_APPROVERS: list.pipe(principals().min(1, 'is required: at least one approver (U…) or user group (S…)')),
  PGSESSIONS_REQUESTERS: list.pipe(principals()),
  PGSESSIONS_VIEWERS: list.pipe(principals()),
  PGSESSIONS_ALLOWED_TEAMS: list.pipe(
    z.array(z.string().regex(/^[TE][A-Z0-9]{2,}$/, 'must list Slack team IDs (T…) or Enterprise Grid org IDs (E…)')),
  ),
  PGSESSIONS_APPROVAL_TTL: z
    .string()
    .optional()
    .transform((value, ctx) => {
      const seconds = parseDuration(value ?? '15m');
      if (seconds === null || seconds < 60 || seconds > 86_400) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration between 1m and 24h, such as 15m' });
        return z.NEVER;
      }
      return seconds;
    }),
  PGSESSIONS_PROTECTED_ROLES: list,
  PGSESSIONS_PROTECTED_APPS: list,
  PGSESSIONS_QUERY_TEXT: z.enum(QUERY_TEXT_MODES, { message: 'must be full, truncated or none' }).default('truncated'),
  PGSESSIONS_READ_ONLY: boolean,
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be a pino level' })
    .default('info'),
  // A secret: the message never shows it, only what is wrong with it.
  PGSESSIONS_AUDIT_KEY: z
    .string()
    .refine(
      (value) => Buffer.byteLength(value, 'utf8') >= AUDIT_KEY_MIN_BYTES,
      `must be at least ${AUDIT_KEY_MIN_BYTES} bytes (for example the output of \`openssl rand -base64 48\`)`,
    )
    .optional(),
  // Used by `npm run migrate` only: the owner connection that applies migrations and grants the runtime role.
  PGSESSIONS_MIGRATE_DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_RUNTIME_ROLE: z
    .string()
    .regex(ROLE_NAME, 'must be a role name (letters, digits, _ and $; up to 63 characters)')
    .optional(),
  PGSESSIONS_LISTING_RATE: rate('30/1m'),
  PGSESSIONS_LISTING_BURST: z.coerce
    .number({ message: 'must be a whole number from 1 to 10000' })
    .int('must be a whole number from 1 to 10000')
    .min(1, 'must be a whole number from 1 to 10000')
    .max(10_000, 'must be a whole number from 1 to 10000')
    .default(10),
  PGSESSIONS_REQUEST_RATE: rate('20/1m'),
  // Days: incidents and rule executions older than this are pruned (audit entries never are).
  PGSESSIONS_RETENTION: z
    .string()
    .default('30d')
    .transform((value, ctx) => {
      const m = /^(\d{1,4})\s*d$/i.exec(value.trim());
      const days = m ? Number(m[1]) : NaN;
      if (!(days >= 2 && days <= 3650)) {
        ctx.addIssue({ code: 'custom', message: 'must be a number of days such as 30d (2d to 3650d)' });
        return z.NEVER;
      }
      return days * 86_400;
    }),
  METRICS_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).optional(),
  PGSESSIONS_DRAIN_MAX: z
    .string()
    .default('4h')
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === null || seconds < 60 || seconds > 7 * 86_400) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration between 1m and 7d, such as 4h' });
        return z.NEVER;
      }
      return seconds;
    }),
});

/** The settings of the state database and the audit trail, for the CLIs (`npm run migrate`, `npm run audit:verify`). */
export interface StateSettings {
  /** STATE_DATABASE_URL, else DATABASE_URL. */
  stateDatabaseUrl: string | null;
  /** PGSESSIONS_MIGRATE_DATABASE_URL, else the state database URL. */
  migrateDatabaseUrl: string | null;
  runtimeRole: string | null;
  auditKey: string | null;
  auditChannel: string | null;
  slackBotToken: string | null;
  slackApiUrl: string | null;
}

const stateEnv = env
  .pick({
    STATE_DATABASE_URL: true,
    DATABASE_URL: true,
    PGSESSIONS_MIGRATE_DATABASE_URL: true,
    PGSESSIONS_RUNTIME_ROLE: true,
    PGSESSIONS_AUDIT_KEY: true,
    PGSESSIONS_AUDIT_CHANNEL: true,
    SLACK_BOT_TOKEN: true,
    SLACK_API_URL: true,
  })
  .partial();

/** The subset of the one schema the CLIs need; every problem reported at once, no secret echoed. */
export function loadStateSettings(source: NodeJS.ProcessEnv): StateSettings {
  const parsed = stateEnv.safeParse(present(source));
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  const d = parsed.data;
  const state = (d.STATE_DATABASE_URL ?? d.DATABASE_URL)?.trim() ?? null;
  return {
    stateDatabaseUrl: state,
    migrateDatabaseUrl: d.PGSESSIONS_MIGRATE_DATABASE_URL?.trim() ?? state,
    runtimeRole: d.PGSESSIONS_RUNTIME_ROLE ?? null,
    auditKey: d.PGSESSIONS_AUDIT_KEY ?? null,
    auditChannel: d.PGSESSIONS_AUDIT_CHANNEL ?? null,
    slackBotToken: d.SLACK_BOT_TOKEN ?? null,
    slackApiUrl: d.SLACK_API_URL ? (d.SLACK_API_URL.endsWith('/') ? d.SLACK_API_URL : `${d.SLACK_API_URL}/`) : null,
  };
}

/** Treat empty strings as unset, as shells and compose files often pass them. */
function present(source: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value.trim() !== '') out[key] = value;
  }
  return out;
}

function describe(issues: z.core.$ZodIssue[], prefix = ''): string[] {
  return issues.map((issue) => {
    const [key, ...rest] = issue.path.map(String);
    const where =
      rest.length > 0 && /^\d+$/.test(rest[0]!)
        ? ` (entry ${Number(rest[0]) + 1}${rest.length > 1 ? `, ${rest.slice(1).join('.')}` : ''})`
        : rest.length > 0
          ? `.${rest.join('.')}`
          : '';
    return `${prefix}${key ?? '(settings)'}${where} ${issue.message}`;
  });
}

function loadClusters(
  path: string,
  source: Record<string, string>,
  problems: string[],
  watch: WatchSettings,
  watchBy: Record<string, WatchSettings>,
): ClusterConfig[] {
  let raw: unknown;
  try {
    const text = readFileSync(path, 'utf8');
    raw = parseYaml(text);
  } catch (error) {
    problems.push(`PGSESSIONS_CLUSTERS cannot read ${path}: ${(error as Error).message.split('\n')[0]}`);
    return [];
  }
  const parsed = clustersFile.safeParse(raw);
  if (!parsed.success) {
    problems.push(...describe(parsed.error.issues, `PGSESSIONS_CLUSTERS (${path}): `));
    return [];
  }
  const entries = Array.isArray(parsed.data) ? parsed.data : parsed.data.clusters;
  const clusters: ClusterConfig[] = [];
  const seen = new Set<string>();
  for (const entry of entries) {
    if (seen.has(entry.name)) problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} is named twice`);
    seen.add(entry.name);
    const url = entry.url ?? (entry.urlEnv ? source[entry.urlEnv] : undefined);
    if (!url) {
      problems.push(
        `PGSESSIONS_CLUSTERS: cluster ${entry.name} needs url, or urlEnv naming a set environment variable`,
      );
      continue;
    }
    if (!postgresUrl.safeParse(url).success) {
      problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} connection must be a postgres:// connection string`);
      continue;
    }
    const own = entry.watch
      ? watchSettings(entry.watch, watch, `PGSESSIONS_CLUSTERS: cluster ${entry.name} watch: `, problems)
      : watch;
    watchBy[entry.name] = own;
    clusters.push({
      name: entry.name,
      url,
      requesters: entry.requesters ?? null,
      approvers: entry.approvers ?? null,
      viewers: entry.viewers ?? null,
    });
  }
  return clusters;
}

export function loadConfig(source: NodeJS.ProcessEnv): Config {
  const values = present(source);
  const parsed = env.safeParse(values);
  // Keep going past schema problems so that one message names every bad setting, clusters included.
  const problems = parsed.success ? [] : describe(parsed.error.issues);
  const data = parsed.success ? parsed.data : undefined;

  if (!values.SLACK_APP_TOKEN && !values.SLACK_SIGNING_SECRET) {
    problems.push('SLACK_SIGNING_SECRET is required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode instead)');
  }

  const watch = watchSettings(
    {
      channel: values.PGSESSIONS_WATCH_CHANNEL,
      interval: values.PGSESSIONS_WATCH_INTERVAL,
      lockWait: values.PGSESSIONS_WATCH_LOCK_WAIT,
      idleInTransaction: values.PGSESSIONS_WATCH_IDLE_IN_TRANSACTION,
      active: values.PGSESSIONS_WATCH_ACTIVE,
      connections: values.PGSESSIONS_WATCH_CONNECTIONS,
      replicationLag: values.PGSESSIONS_WATCH_REPLICATION_LAG,
    },
    DEFAULT_WATCH,
    '',
    problems,
  );

  const watchBy: Record<string, WatchSettings> = {};
  let clusters: ClusterConfig[] = [];
  if (values.PGSESSIONS_CLUSTERS) {
    clusters = loadClusters(values.PGSESSIONS_CLUSTERS, values, problems, watch, watchBy);
  } else if (values.DATABASE_URL) {
    clusters = [{ name: 'default', url: values.DATABASE_URL.trim(), requesters: null, approvers: null, viewers: null }];
    watchBy.default = watch;
  } else {
    problems.push('DATABASE_URL is required (or PGSESSIONS_CLUSTERS naming a clusters file)');
  }
  const stateDatabaseUrl = values.STATE_DATABASE_URL ?? values.DATABASE_URL;
  if (!stateDatabaseUrl && values.PGSESSIONS_CLUSTERS) {
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

  if (problems.length > 0 || !data || !stateDatabaseUrl) throw new ConfigError(problems);

  return {
    slack: {
      botToken: data.SLACK_BOT_TOKEN,
      signingSecret: data.SLACK_SIGNING_SECRET ?? null,
      appToken: data.SLACK_APP_TOKEN ?? null,
      apiUrl: data.SLACK_API_URL
        ? data.SLACK_API_URL.endsWith('/')
          ? data.SLACK_API_URL
          : `${data.SLACK_API_URL}/`
        : null,
    },
    port: data.PORT,
    clusters,
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
    drainMaxSeconds: data.PGSESSIONS_DRAIN_MAX,
    watch: watchBy,
  };
}

// ---- npm run playground ------------------------------------------------------------------------------------

export interface PlaygroundConfig {
  /** The page's port on 127.0.0.1. */
  port: number;
  /** An existing server to watch instead of the demo incident. */
  databaseUrl: string | null;
  /** Against an existing server, read-only unless PGSESSIONS_READ_ONLY=false says otherwise. */
  readOnly: boolean;
}

const playgroundEnv = z.object({
  PLAYGROUND_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3030),
  DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_READ_ONLY: z
    .enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' })
    .optional(),
});

/**
 * The playground's own settings; the app inside it still reads everything else through loadConfig.
 * STATE_DATABASE_URL and PGSESSIONS_AUDIT_KEY are never read: its state lives in its own embedded server.
 */
export function loadPlaygroundConfig(source: NodeJS.ProcessEnv): PlaygroundConfig {
  const parsed = playgroundEnv.safeParse(present(source));
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  const { PLAYGROUND_PORT: port, DATABASE_URL: databaseUrl, PGSESSIONS_READ_ONLY: readOnly } = parsed.data;
  const explicitlyWritable = readOnly === 'false' || readOnly === '0' || readOnly === 'no';
  const explicitlyReadOnly = readOnly === 'true' || readOnly === '1' || readOnly === 'yes';
  return {
    port,
    databaseUrl: databaseUrl ?? null,
    readOnly: databaseUrl ? !explicitlyWritable : explicitlyReadOnly,
  };
}
