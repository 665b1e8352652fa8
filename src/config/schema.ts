// The settings schema (zod), shared by every loader: the environment's names and what each accepts, the
// error that names every problem at once, and the two helpers that read an environment and word its issues.
// Secrets are never echoed in a message.
import { z } from 'zod';
import { parseDuration } from '../domain/duration.js';
import { QUERY_TEXT_MODES } from '../domain/policy.js';
import { ConfigError } from '../domain/errors.js';

export { ConfigError };

export const AUDIT_KEY_MIN_BYTES = 32;
const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;
const SLACK_PRINCIPAL = /^[UWS][A-Z0-9]{2,}$/;
export const CLUSTER_NAME = /^[A-Za-z0-9_.-]{1,63}$/;

const list = z
  .string()
  .optional()
  .transform((value) =>
    (value ?? '')
      .split(',')
      .map((item) => item.trim())
      .filter((item) => item.length > 0),
  );

export const principals = () =>
  z.array(
    z.string().regex(SLACK_PRINCIPAL, `must list Slack user IDs (U…/W…) or user-group IDs (S…), such as U024BE7LH`),
  );

export const postgresUrl = z
  .string()
  .trim()
  .refine((value) => /^postgres(ql)?:\/\//.test(value), 'must be a postgres:// or postgresql:// connection string');

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

export const env = z.object({
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
  // How long `cluster:*` waits for each cluster before naming it as not answering.
  PGSESSIONS_FLEET_TIMEOUT: z
    .string()
    .default('2s')
    .transform((value, ctx) => {
      const seconds = parseDuration(value);
      if (seconds === null || seconds < 1 || seconds > 30) {
        ctx.addIssue({ code: 'custom', message: 'must be a duration from 1s to 30s, such as 2s' });
        return z.NEVER;
      }
      return seconds * 1000;
    }),
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
  // Approval routing (src/config/routing.ts checks the words; docs/approvals.md says what each does).
  PGSESSIONS_QUORUM: z.string().optional(),
  PGSESSIONS_ESCALATE_AFTER: z.string().optional(),
  PGSESSIONS_ESCALATE_TO: z.string().optional(),
  PGSESSIONS_BREAK_GLASS: z.string().optional(),
  PGSESSIONS_BREAK_GLASS_AFTER: z.string().optional(),
});

/** Every setting the schema knows, by name: deployment examples are checked against it (test/deploy.test.ts). */
export const SETTING_NAMES: readonly string[] = Object.keys(env.shape);

/** Treat empty strings as unset, as shells and compose files often pass them. */
export function present(source: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value !== undefined && value.trim() !== '') out[key] = value;
  }
  return out;
}

export function describe(issues: z.core.$ZodIssue[], prefix = ''): string[] {
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
