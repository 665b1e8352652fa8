// Walsenders (`/pgsessions replication`) by application_name, with lag, and an "End walsender…" button
// that opens the request modal.

import type { KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import type { ReplicationRow } from '../../domain/types.js';
import { ACTION, encodeTarget } from './ids.js';
import { cannotSignalNote } from './listing.js';
import { LIMITS, escapeTruncate, inlineText, truncate, type RenderedMessage } from './mrkdwn.js';

export const WALSENDER_WARNING =
  ':warning: Ending a walsender does not stop replication: the standby reconnects, and its replication slot keeps holding WAL on the primary until it catches up or the slot is dropped.';

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'] as const;

/** Bytes the way pg_size_pretty would say them, roughly: `512 B`, `12 MB`, `1.5 GB`. */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '?';
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < UNITS.length - 1) {
    value /= 1024;
    unit += 1;
  }
  const shown = unit === 0 || value >= 10 ? String(Math.round(value)) : value.toFixed(1).replace(/\.0$/, '');
  return `${shown} ${UNITS[unit]}`;
}

function name(value: string | null): string {
  return value === null || value === '' ? '—' : inlineText(value, 80);
}

function byName(a: string | null, b: string | null): number {
  if (a === b) return 0;
  if (a === null || a === '') return 1;
  if (b === null || b === '') return -1;
  return a < b ? -1 : a > b ? 1 : 0;
}

export interface ReplicationInput {
  cluster: string;
  rows: ReplicationRow[];
  /** False when read-only, or for a protected role or application: such rows get no button. */
  killable: (row: ReplicationRow) => boolean;
}

function rowText(row: ReplicationRow): string {
  const lag = [
    row.lagBytes === null ? 'lag unknown' : `lag ${formatBytes(row.lagBytes)}`,
    row.replayLagSeconds === null ? null : `replay lag ${formatDuration(row.replayLagSeconds)}`,
  ].filter((x): x is string => x !== null);
  return truncate(
    `*${name(row.application)}* · pid ${row.pid} · user ${name(row.user)} · client ${name(row.client)}\n` +
      `${name(row.state)} · sync ${name(row.syncState)} · slot ${name(row.slotName)} · ${lag.join(' · ')}\n` +
      `sent ${name(row.sentLsn)} · replayed ${name(row.replayLsn)}`,
    LIMITS.sectionText,
  );
}

export function buildReplication(input: ReplicationInput): RenderedMessage {
  const { cluster } = input;
  // By application_name (what people call their standbys), unnamed last; the sort is stable.
  const rows = [...input.rows].sort((a, b) => byName(a.application, b.application));
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`Walsenders on ${cluster} — ${rows.length}`, LIMITS.headerText),
      },
    },
  ];
  if (rows.length === 0) {
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: 'No walsenders: no standby or logical subscriber is connected.' },
    });
    return { text: truncate(`Walsenders on ${cluster}: none.`, LIMITS.fallbackText), blocks };
  }

  // Reserve the warning and a possible footer.
  const budget = LIMITS.blocksPerMessage - 2;
  let shown = 0;
  for (const row of rows) {
    const killable = input.killable(row);
    const note = killable ? cannotSignalNote(row) : null;
    if (blocks.length + (note ? 2 : 1) > budget) break;
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: rowText(row) },
      ...(killable && !note
        ? {
            accessory: {
              type: 'button' as const,
              action_id: ACTION.terminateWalsender,
              text: { type: 'plain_text' as const, text: 'End walsender…' },
              style: 'danger' as const,
              value: encodeTarget({
                cluster,
                pid: row.pid,
                backendStart: row.backendStart,
                queryStart: null,
                kind: 'terminate_walsender',
              }),
            },
          }
        : {}),
    });
    if (note) blocks.push(note);
    shown += 1;
  }
  if (rows.length > shown) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `${rows.length - shown} more not shown.` }],
    });
  }
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: WALSENDER_WARNING }] });

  const lines = rows
    .slice(0, 10)
    .map(
      (r) =>
        `${r.application ?? '?'} (pid ${r.pid}) ${r.state ?? '?'} lag ${r.lagBytes === null ? '?' : formatBytes(r.lagBytes)}`,
    );
  return {
    text: escapeTruncate(`Walsenders on ${cluster}: ${rows.length}.\n${lines.join('\n')}`, LIMITS.fallbackText),
    blocks,
  };
}
