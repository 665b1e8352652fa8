// The lock-wait tree (`/pgsessions blocking`): root blockers first, each followed by the sessions waiting
// on it, indented by depth. Buttons only on root blockers: ending a waiter frees nothing.

import type { KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import type { BlockingRow, SessionRow } from '../../domain/types.js';
import { cannotSignalNote, QUERY_HIDDEN_NOTE, sessionButtons, sessionText } from './listing.js';
import { LIMITS, escapeTruncate, truncate, type RenderedMessage } from './mrkdwn.js';

const MAX_INDENT = 6;
const BLOCKING_QUERY_CHARS = 200;

export interface BlockingInput {
  cluster: string;
  /** The tree in display order: each root (depth 0) followed by its waiters, depth first. */
  rows: BlockingRow[];
  killable: (row: SessionRow) => boolean;
  /** PGSESSIONS_QUERY_TEXT=none: rows carry no query line. */
  queryHidden?: boolean;
}

function indent(depth: number): string {
  if (depth <= 0) return '';
  // Em spaces survive Slack's whitespace handling where ordinary spaces at a line start may not.
  return `${'\u2003'.repeat(Math.min(depth, MAX_INDENT) - 1)}↳ `;
}

export function buildBlocking(input: BlockingInput): RenderedMessage {
  const { cluster, rows } = input;
  const roots = rows.filter((r) => r.depth === 0);
  const waiting = rows.length - roots.length;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: { type: 'plain_text', text: truncate(`Lock waits on ${cluster}`, LIMITS.headerText) },
    },
  ];

  if (rows.length === 0) {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: 'Nothing is waiting on a lock. All quiet.' } });
    return { text: truncate(`Lock waits on ${cluster}: none.`, LIMITS.fallbackText), blocks };
  }

  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: `${roots.length} root ${roots.length === 1 ? 'blocker' : 'blockers'}, ${waiting} waiting ${waiting === 1 ? 'session' : 'sessions'} · root blockers first`,
      },
    ],
  });
  if (input.queryHidden) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: QUERY_HIDDEN_NOTE }] });

  const budget = LIMITS.blocksPerMessage - 1;
  let shown = 0;
  for (const row of rows) {
    const isRoot = row.depth === 0;
    const note = isRoot && input.killable(row) ? cannotSignalNote(row) : null;
    const buttons =
      isRoot && input.killable(row) && !note
        ? sessionButtons(cluster, row, { cancel: row.state === 'active', terminate: true })
        : [];
    const needed = buttons.length > 0 || note ? 2 : 1;
    if (blocks.length + needed > budget) break;
    const suffix = isRoot
      ? `*blocks ${row.blocksCount} ${row.blocksCount === 1 ? 'session' : 'sessions'}*`
      : row.blocksCount > 0
        ? `blocks ${row.blocksCount} more`
        : undefined;
    const text = sessionText(row, {
      prefix: isRoot ? ':lock: ' : indent(row.depth),
      ...(suffix !== undefined ? { suffix } : {}),
      queryChars: BLOCKING_QUERY_CHARS,
      queryHidden: input.queryHidden ?? false,
    });
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text } });
    if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
    if (note) blocks.push(note);
    shown += 1;
  }

  const hidden = rows.length - shown;
  if (hidden > 0) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `${hidden} more not shown — the root blockers come first.` }],
    });
  }

  const lines = roots
    .slice(0, 10)
    .map((r) => `pid ${r.pid} (${r.user ?? '?'}@${r.database ?? '?'}, ${formatDuration(r.ageSeconds)}) blocks ${r.blocksCount}`);
  const text = escapeTruncate(
    `Lock waits on ${cluster}: ${roots.length} root blockers, ${waiting} waiting.\n${lines.join('\n')}`,
    LIMITS.fallbackText,
  );
  return { text, blocks };
}
