// Every setting in ../shared/CONTRACT.md, parsed once with one zod schema. Bad or missing settings come back
// as one message naming each problem; secrets are never echoed in it.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { parseDuration } from './domain/duration.js';
import { QUERY_TEXT_MODES, type QueryTextMode } from './domain/policy.js';


export interface ClusterConfig {
  name: string;
  url: string;
  /** Who may request here; null means the global PGSESSIONS_REQUESTERS rule. */
  requesters: string[] | null;
  /** Who may approve here; null means the global PGSESSIONS_APPROVERS. */
  approvers: string[] | null;
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
  approvalTtlSeconds: number;
  protectedRoles: string[];
  protectedApps: string[];
  queryText: QueryTextMode;
  readOnly: boolean;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`pgsessions cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

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
  z.array(z.string().regex(SLACK_PRINCIPAL, `must list Slack user IDs (U…/W…) or user-group IDs (S…), such as U024BE7LH`));

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

const env = z.object({
  SLACK_BOT_TOKEN: z.string({ message: 'is required (the bot token, xoxb-…)' }).regex(/^xoxb-\S+$/, 'must be a bot token starting with xoxb-'),
  SLACK_SIGNING_SECRET: z.string().trim().optional(),
  SLACK_APP_TOKEN: z.string().regex(/^xapp-\S+$/, 'must be an app-level token starting with xapp-').optional(),
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
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { message: 'must be a pino level' }).default('info'),
});

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
    const where = rest.length > 0 && /^\d+$/.test(rest[0]!) ? ` (entry ${Number(rest[0]) + 1}${rest.length > 1 ? `, ${rest.slice(1).join('.')}` : ''})` : rest.length > 0 ? `.${rest.join('.')}` : '';
    return `${prefix}${key ?? '(settings)'}${where} ${issue.message}`;
  });
}

function loadClusters(path: string, source: Record<string, string>, problems: string[]): ClusterConfig[] {
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
      problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} needs url, or urlEnv naming a set environment variable`);
      continue;
    }
    if (!postgresUrl.safeParse(url).success) {
      problems.push(`PGSESSIONS_CLUSTERS: cluster ${entry.name} connection must be a postgres:// connection string`);
      continue;
    }
    clusters.push({ name: entry.name, url, requesters: entry.requesters ?? null, approvers: entry.approvers ?? null });
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

  let clusters: ClusterConfig[] = [];
  if (values.PGSESSIONS_CLUSTERS) {
    clusters = loadClusters(values.PGSESSIONS_CLUSTERS, values, problems);
  } else if (values.DATABASE_URL) {
    clusters = [{ name: 'default', url: values.DATABASE_URL.trim(), requesters: null, approvers: null }];
  } else {
    problems.push('DATABASE_URL is required (or PGSESSIONS_CLUSTERS naming a clusters file)');
  }
  const stateDatabaseUrl = values.STATE_DATABASE_URL ?? values.DATABASE_URL;
  if (!stateDatabaseUrl && values.PGSESSIONS_CLUSTERS) {
    problems.push('STATE_DATABASE_URL is required when DATABASE_URL is not set');
  }

  if (problems.length > 0 || !data || !stateDatabaseUrl) throw new ConfigError(problems);

  return {
    slack: {
      botToken: data.SLACK_BOT_TOKEN,
      signingSecret: data.SLACK_SIGNING_SECRET ?? null,
      appToken: data.SLACK_APP_TOKEN ?? null,
      apiUrl: data.SLACK_API_URL ? (data.SLACK_API_URL.endsWith('/') ? data.SLACK_API_URL : `${data.SLACK_API_URL}/`) : null,
    },
    port: data.PORT,
    clusters,
    stateDatabaseUrl: stateDatabaseUrl.trim(),
    auditChannel: data.PGSESSIONS_AUDIT_CHANNEL,
    approvers: data.PGSESSIONS_APPROVERS,
    requesters: data.PGSESSIONS_REQUESTERS.length > 0 ? data.PGSESSIONS_REQUESTERS : null,
    approvalTtlSeconds: data.PGSESSIONS_APPROVAL_TTL,
    protectedRoles: data.PGSESSIONS_PROTECTED_ROLES,
    protectedApps: data.PGSESSIONS_PROTECTED_APPS,
    queryText: data.PGSESSIONS_QUERY_TEXT,
    readOnly: data.PGSESSIONS_READ_ONLY,
    logLevel: data.LOG_LEVEL,
  };
}

// ---- npm run playground ------------------------------------------------------------------------------------

export interface PlaygroundConfig {
  /** The page's port on 127.0.0.1. */
  port: number;
  /** An existing server to watch instead of the demo incident. */
  databaseUrl: string | null;
  stateDatabaseUrl: string | null;
  /** Against an existing server, read-only unless PGSESSIONS_READ_ONLY=false says otherwise. */
  readOnly: boolean;
}

const playgroundEnv = z.object({
  PLAYGROUND_PORT: z.coerce.number({ message: 'must be a port number' }).int().min(0).max(65535).default(3030),
  DATABASE_URL: postgresUrl.optional(),
  STATE_DATABASE_URL: postgresUrl.optional(),
  PGSESSIONS_READ_ONLY: z.enum(['true', 'false', '1', '0', 'yes', 'no'], { message: 'must be true or false' }).optional(),
});

/** The playground's own settings; the app inside it still reads everything else through loadConfig. */
export function loadPlaygroundConfig(source: NodeJS.ProcessEnv): PlaygroundConfig {
  const parsed = playgroundEnv.safeParse(present(source));
  if (!parsed.success) throw new ConfigError(describe(parsed.error.issues));
  const { PLAYGROUND_PORT: port, DATABASE_URL: databaseUrl, STATE_DATABASE_URL: stateDatabaseUrl, PGSESSIONS_READ_ONLY: readOnly } = parsed.data;
  const explicitlyWritable = readOnly === 'false' || readOnly === '0' || readOnly === 'no';
  const explicitlyReadOnly = readOnly === 'true' || readOnly === '1' || readOnly === 'yes';
  return {
    port,
    databaseUrl: databaseUrl ?? null,
    stateDatabaseUrl: stateDatabaseUrl ?? null,
    readOnly: databaseUrl ? !explicitlyWritable : explicitlyReadOnly,
  };
}
