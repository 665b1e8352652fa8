// What pgsessions says at start-up about its own set-up: the audit trail, the Slack token, each cluster's role.
import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import type { Config } from '../config.js';
import { auditKeyId } from '../domain/audit.js';
import { BINDING_OFF } from '../domain/binding.js';
import { describeRole } from '../domain/capabilities.js';
import type { ReadService } from '../domain/read-service.js';
import type { Logger } from '../logger.js';
import type { StateStore } from '../postgres/state-store.js';
import { type ChannelHealth, createChannelHealth } from '../slack/adapters/channel-health.js';
import type { AuditTrust } from '../slack/blocks/help.js';

/**
 * Says at start-up what the audit trail can prove with this setup: whether the chain is keyed, and whether
 * the runtime role could rewrite the audit table. With a key, the switch to keyed hashing is recorded now.
 */
export async function checkAuditTrail(state: StateStore, key: Buffer | null, log: Logger): Promise<AuditTrust> {
  const chain = await state.startChain();
  if (key) {
    log.info({ keyId: auditKeyId(key) }, 'the audit chain is keyed (HMAC-SHA256 with PGSESSIONS_AUDIT_KEY)');
  } else if (chain.lastAlg === 'hmac-sha256') {
    log.error(
      'PGSESSIONS_AUDIT_KEY is not set but the audit chain was keyed: new entries are unkeyed and `npm run audit:verify` will report them as a downgrade; set the key again',
    );
  } else {
    log.warn(
      'PGSESSIONS_AUDIT_KEY is not set: the audit chain is unkeyed, so whoever can write the state database can rewrite it and recompute every hash',
    );
  }
  if (!key) log.warn(BINDING_OFF);
  const powers = await state.powers();
  let runtime: AuditTrust['runtime'];
  if (powers.owns || powers.superuser) {
    runtime = 'owns';
    // Loud, not fatal: the one-role set-up is how many start, and refusing it would stop every such
    // deployment on upgrade. The keyed chain and the audit channel still catch a rewrite; `status` says it too.
    log.error(
      { role: powers.role, superuser: powers.superuser },
      'the runtime role owns the audit table: it could rewrite it (disable its triggers, update, delete). Run the migrations as an owner role and the app as a runtime role: `npm run migrate`, see the README',
    );
  } else if (powers.mayModify) {
    runtime = 'may_modify';
    log.warn(
      { role: powers.role },
      'the runtime role has UPDATE, DELETE or TRUNCATE on the audit table: only its trigger stands in the way; `npm run migrate` grants exactly what is needed',
    );
  } else {
    runtime = 'append_only';
    log.info({ role: powers.role }, 'the runtime role cannot alter the audit log (INSERT and SELECT only)');
  }
  return { keyed: key !== null, runtime };
}

/** Checks the token and returns the installing workspace (null when Slack could not be reached). */
export async function checkSlackToken(client: WebClient, log: Logger): Promise<string | null> {
  try {
    const auth = await client.auth.test();
    log.info({ team: auth.team_id, botUser: auth.user_id }, 'Slack token accepted');
    return auth.team_id ?? null;
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (code === 'invalid_auth' || code === 'not_authed' || code === 'account_inactive' || code === 'token_revoked') {
      throw new Error(`SLACK_BOT_TOKEN was refused by Slack (${code})`);
    }
    log.warn({ err: error }, 'could not reach Slack to check the token; going on');
    return null;
  }
}

/** Says what each cluster's role can and cannot do; a cluster that is down does not stop us. */
export function sayRoles(statuses: Awaited<ReturnType<ReadService['status']>>, log: Logger): void {
  for (const s of statuses) {
    if (!s.reachable || !s.capabilities) {
      log.warn({ cluster: s.name }, 'cluster unreachable at start-up: commands will say so until it is back');
      continue;
    }
    const c = s.capabilities;
    log.info(
      {
        cluster: s.name,
        role: c.role,
        superuser: c.superuser,
        readAllStats: c.readAllStats,
        signalBackend: c.signalBackend,
        server: c.serverVersion,
      },
      'cluster role checked',
    );
    if (c.superuser)
      log.warn(
        { cluster: s.name },
        'the bot role is a superuser: grant pg_monitor and pg_signal_backend to a plain role instead',
      );
    if (!c.readAllStats)
      log.warn(
        { cluster: s.name },
        'no pg_read_all_stats/pg_monitor: other roles\u2019 sessions cannot be seen at all (listings say how many)',
      );
    if (!c.signalBackend)
      log.warn({ cluster: s.name }, 'no pg_signal_backend: only sessions of the bot\u2019s own role can be signalled');
    if (c.reservedConnections === null && !c.superuser)
      log.info(
        { cluster: s.name },
        'reserved connections for the bot (pg_use_reserved_connections) are not available before PostgreSQL 16',
      );
    const { can, cannot } = describeRole(c);
    for (const what of can) log.info({ cluster: s.name, role: c.role }, `the bot role can ${what}`);
    for (const what of cannot) log.info({ cluster: s.name, role: c.role }, `the bot role cannot ${what}`);
  }
}

/** Where pgsessions must be able to post: the audit channel and every watch channel. */
export function channelHealthOf(config: Config, client: WebClient, logger: Logger): ChannelHealth {
  return createChannelHealth(
    client,
    [
      { channel: config.auditChannel, role: 'audit' as const },
      ...Object.values(config.watch).flatMap((w) =>
        w?.channel ? [{ channel: w.channel, role: 'watch' as const }] : [],
      ),
    ],
    logger.child({ module: 'channels' }),
  );
}

/** Says, for each channel pgsessions cannot post in, what to do about it. */
export async function sayChannelTrouble(channels: Pick<ChannelHealth, 'check'>, log: Logger): Promise<void> {
  for (const p of await channels.check())
    log.warn(
      { channel: p.channel, role: p.role, code: p.code },
      `pgsessions cannot post in its ${p.role} channel (${p.code}): invite the bot, unarchive the channel or set another`,
    );
}

/** Whether the state database answers (for /healthz): never throws. */
export async function answers(statePool: Pick<pg.Pool, 'query'>): Promise<boolean> {
  try {
    await statePool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
