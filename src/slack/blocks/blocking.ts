// The lock-wait tree (`/pgsessions blocking`): root blockers first, each followed by the sessions waiting
// on it, indented by depth. Buttons only on root blockers: ending a waiter frees nothing.

import type { KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import type { BlockingRow, SessionRow } from '../../domain/types.js';
import { cannotSignalNote, QUERY_HIDDEN_NOTE, sessionButtons, sessionText } from './listing.js';
import { LIMITS, codeSpan, escapeTruncate, inlineText, truncate, type RenderedMessage } from './mrkdwn.js';

/** Siblings running the same statement fold into one line from this many. */
export const FOLD_FROM = 3;

/** A waiting statement that wants AccessExclusiveLock while others queue behind it. */
export function isLockQueueHead(row: BlockingRow): boolean {
  return row.depth > 0 && row.wantedLock === 'AccessExclusiveLock' && row.blocksCount > 0;
}

/**
 * Waiters of one parent that run the same statement (query_id, else text) and block nobody: the first of
 * each group maps to the group, the others to 'hidden'.
 */
function foldGroups(rows: BlockingRow[]): Map<number, BlockingRow[] | 'hidden'> {
  const parents: number[] = [];
  const groups = new Map<string, BlockingRow[]>();
  for (const row of rows) {
    parents.length = row.depth;
    const parent = row.depth > 0 ? parents[row.depth - 1] : undefined;
    parents[row.depth] = row.pid;
    if (parent === undefined || row.blocksCount > 0 || row.query === null) continue;
    const key = `${parent}|${row.queryId && row.queryId !== '0' ? `q${row.queryId}` : `t${row.query}`}`;
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(row);
  }
  const out = new Map<number, BlockingRow[] | 'hidden'>();
  for (const group of groups.values()) {
    if (group.length < FOLD_FROM) continue;
    out.set(group[0]!.pid, group);
    for (const row of group.slice(1)) out.set(row.pid, 'hidden');
  }
  return out;
}

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

/** A folded group of like waiters in one line: how many, which apps, the oldest wait, the statement. */
function foldBlock(row: BlockingRow, fold: BlockingRow[]): KnownBlock {
  const query = row.query === null ? '_no query text visible_' : codeSpan(row.query, BLOCKING_QUERY_CHARS + 2);
  const apps = [...new Set(fold.map((r) => r.application ?? '—'))]
    .slice(0, 3)
    .map((a) => inlineText(a, 40))
    .join(', ');
  const oldest = Math.max(...fold.map((r) => r.ageSeconds));
  return {
    type: 'section',
    text: {
      type: 'mrkdwn',
      text: truncate(
        `${indent(row.depth)}*${fold.length} sessions* (app ${apps}), the oldest for ${formatDuration(oldest)}: ${query}`,
        LIMITS.sectionText,
      ),
    },
  };
}

/** What a row blocks, said after it: every root, and a waiter that others wait on (a lock-queue head most). */
function blocksSuffix(row: BlockingRow): string | undefined {
  if (row.depth === 0) return `*blocks ${row.blocksCount} ${row.blocksCount === 1 ? 'session' : 'sessions'}*`;
  if (row.blocksCount === 0) return undefined;
  const head = isLockQueueHead(row)
    ? ` · :construction: *lock-queue head*: waits for ${row.wantedLock} and ${row.blocksCount} ${row.blocksCount === 1 ? 'session waits' : 'sessions wait'} behind it — cancelling it drains the queue`
    : '';
  return `blocks ${row.blocksCount} more${head}`;
}

/** One session of the tree: its line, and the buttons (or why there are none) on those worth ending. */
function rowBlocks(row: BlockingRow, input: BlockingInput): KnownBlock[] {
  const isRoot = row.depth === 0;
  // A lock-queue head gets Cancel too: cancelling the waiting DDL frees everything queued behind it.
  const offered = (isRoot || isLockQueueHead(row)) && input.killable(row);
  const note = offered ? cannotSignalNote(row) : null;
  const buttons =
    offered && !note ? sessionButtons(input.cluster, row, { cancel: row.state === 'active', terminate: isRoot }) : [];
  const suffix = blocksSuffix(row);
  const text = sessionText(row, {
    prefix: isRoot ? ':lock: ' : indent(row.depth),
    ...(suffix !== undefined ? { suffix } : {}),
    queryChars: BLOCKING_QUERY_CHARS,
    queryHidden: input.queryHidden ?? false,
  });
  const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text } }];
  if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
  if (note) blocks.push(note);
  return blocks;
}

/** The tree's rows within `budget` blocks in all; returns how many rows it showed (folded ones count). */
function treeBlocks(blocks: KnownBlock[], input: BlockingInput, budget: number): number {
  let shown = 0;
  const folds = foldGroups(input.rows);
  for (const row of input.rows) {
    const fold = folds.get(row.pid);
    if (fold === 'hidden') {
      shown += 1;
      continue;
    }
    const more = fold !== undefined ? [foldBlock(row, fold)] : rowBlocks(row, input);
    if (blocks.length + more.length > budget) break;
    blocks.push(...more);
    shown += 1;
  }
  return shown;
}

const contextLine = (text: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

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

  blocks.push(
    contextLine(
      `${roots.length} root ${roots.length === 1 ? 'blocker' : 'blockers'}, ${waiting} waiting ${waiting === 1 ? 'session' : 'sessions'} · root blockers first`,
    ),
  );
  if (input.queryHidden) blocks.push(contextLine(QUERY_HIDDEN_NOTE));

  const hidden = rows.length - treeBlocks(blocks, input, LIMITS.blocksPerMessage - 1);
  if (hidden > 0) blocks.push(contextLine(`${hidden} more not shown — the root blockers come first.`));

  const lines = roots
    .slice(0, 10)
    .map(
      (r) =>
        `pid ${r.pid} (${r.user ?? '?'}@${r.database ?? '?'}, ${formatDuration(r.ageSeconds)}) blocks ${r.blocksCount}`,
    );
  const text = escapeTruncate(
    `Lock waits on ${cluster}: ${roots.length} root blockers, ${waiting} waiting.\n${lines.join('\n')}`,
    LIMITS.fallbackText,
  );
  return { text, blocks };
}
