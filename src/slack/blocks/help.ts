// `/pgsessions help` (and `status`): the usage, and per cluster what the bot's role can and cannot do.
// Also the reply to a command that did not parse.

import type { KnownBlock } from '@slack/types';
import { BINDING_OFF } from '../../domain/binding.js';
import { USAGE } from '../../domain/command.js';
import type { RoleCapabilities } from '../../domain/types.js';
import { reservedConnectionsLine } from '../../domain/capabilities.js';
import { LIMITS, escapeTruncate, inlineText, safeText, truncate, type RenderedMessage } from './mrkdwn.js';

export interface HelpCluster {
  name: string;
  capabilities: RoleCapabilities | null;
  reachable: boolean;
  /** Why not reachable, when it is something else than no answer. */
  trouble?: 'unreachable' | 'slow' | 'full' | 'pooler_full';
}

/** What the audit trail can prove with this setup (found at start-up). */
export interface AuditTrust {
  /** PGSESSIONS_AUDIT_KEY is set: entries are HMAC-SHA256, not plain SHA-256. */
  keyed: boolean;
  /** What the runtime role may do to the audit table: own it, modify it (only a trigger in the way), or only append. */
  runtime: 'owns' | 'may_modify' | 'append_only';
}

export interface HelpInput {
  clusters: HelpCluster[];
  readOnly: boolean;
  audit?: AuditTrust;
}

/** The audit trail in plain words, one line each. */
export function describeAuditTrust(a: AuditTrust): string[] {
  return [
    a.keyed
      ? ':lock: The audit chain is *keyed* (HMAC-SHA256, `PGSESSIONS_AUDIT_KEY`): the database role alone cannot forge a consistent chain.'
      : ':warning: The audit chain is *unkeyed* (no `PGSESSIONS_AUDIT_KEY`): whoever can write the state database can rewrite it and recompute every hash.',
    a.keyed
      ? ':lock: Every approval is *bound* to the key: an approval or rule written into the state database without it is refused and audited.'
      : `:warning: ${BINDING_OFF}`,
    a.runtime === 'owns'
      ? ':warning: The bot’s state role *owns* the audit table: it could rewrite it. Run the migrations as an owner role (`npm run migrate`).'
      : a.runtime === 'may_modify'
        ? ':warning: The bot’s state role may update or delete audit entries (only a trigger stops it).'
        : ':white_check_mark: The bot’s state role can only append to the audit log.',
  ];
}

/** What the role can and cannot do, one line each, plain words. */
export function describeCapabilities(c: RoleCapabilities): string[] {
  const lines: string[] = [];
  if (c.superuser) {
    lines.push(
      ':warning: The role is a *superuser*: it should not be. Grant `pg_monitor` and `pg_signal_backend` to a plain role instead.',
    );
    return lines;
  }
  lines.push(
    c.readAllStats
      ? ':white_check_mark: Sees every session’s query text (`pg_read_all_stats`).'
      : ':x: No `pg_read_all_stats` (or `pg_monitor`): sessions of other roles are not listed at all, and their query text is hidden.',
  );
  lines.push(
    c.signalBackend
      ? ':white_check_mark: Can cancel and terminate other roles’ sessions, except superusers’ (`pg_signal_backend`).'
      : ':x: No `pg_signal_backend`: cannot cancel or terminate sessions of other roles.',
  );
  const reserved = reservedConnectionsLine(c);
  // Advice, not a failure: pgsessions keeps a connection of its own open (the lifeline) for a full cluster;
  // reserved connections are what lets it in when that one is lost too.
  if (reserved)
    lines.push(
      `${reserved.can ? ':white_check_mark: Can' : ':information_source: Cannot'} ${reserved.text.replace(/pg_use_reserved_connections|reserved_connections = \d+/g, (m) => `\`${m}\``)}.`,
    );
  return lines;
}

const UNREACHABLE_STATUS = {
  unreachable: ':red_circle: unreachable right now.',
  full: ':red_circle: full: max_connections reached (53300), and pgsessions\u2019 reserved connection to it is lost too.',
  pooler_full:
    ':red_circle: its connection pooler is full (max_client_conn), and pgsessions\u2019 reserved connection through it is lost too.',
  slow: ':large_yellow_circle: too busy to answer right now.',
} as const;

function clusterText(cluster: HelpCluster): string {
  const title = `*${inlineText(cluster.name, 200)}*`;
  if (!cluster.reachable) return `${title} — ${UNREACHABLE_STATUS[cluster.trouble ?? 'unreachable']}`;
  const c = cluster.capabilities;
  if (c === null) return `${title} — capabilities not known yet.`;
  const head = `${title} — PostgreSQL ${inlineText(c.serverVersion, 100)}, role \`${inlineText(c.role, 100)}\``;
  return truncate([head, ...describeCapabilities(c)].join('\n'), LIMITS.sectionText);
}

function usageBlocks(): KnownBlock[] {
  return [{ type: 'section', text: { type: 'mrkdwn', text: truncate(USAGE, LIMITS.sectionText) } }];
}

export function buildHelp(input: HelpInput): RenderedMessage {
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: 'pgsessions' } }, ...usageBlocks()];
  if (input.readOnly) {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: ':lock: *Read-only mode*: listings only; every cancel and terminate is refused.',
      },
    });
  }
  if (input.audit) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: describeAuditTrust(input.audit).join('\n') } });
  }
  if (input.clusters.length > 0) blocks.push({ type: 'divider' });
  // Leave room for a footer naming the clusters that did not fit.
  const budget = LIMITS.blocksPerMessage - 1;
  let shown = 0;
  for (const cluster of input.clusters) {
    if (blocks.length + 1 > budget) break;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: clusterText(cluster) } });
    shown += 1;
  }
  const hidden = input.clusters.length - shown;
  if (hidden > 0) {
    blocks.push({
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: `${hidden} more clusters not shown — ask for one with \`status cluster:NAME\`.` },
      ],
    });
  }
  const names = input.clusters.map((c) => c.name).join(', ');
  return {
    text: escapeTruncate(`pgsessions help. Clusters: ${names || 'none'}.`, LIMITS.fallbackText),
    blocks,
  };
}

/** A command that did not parse: what was wrong, then the usage. `message` is plain text. */
export function buildUsageError(message: string): RenderedMessage {
  const shown = safeText(message, 2000);
  return {
    text: escapeTruncate(message, LIMITS.fallbackText),
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: `:warning: ${shown}` } }, ...usageBlocks()],
  };
}
