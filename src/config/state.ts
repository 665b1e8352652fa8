// The subset of the settings the CLIs need (`npm run migrate`, `npm run audit:verify`): the state database,
// the migration owner and the runtime role, the audit key and channel.
import { ConfigError, describe, env, present } from './schema.js';

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
