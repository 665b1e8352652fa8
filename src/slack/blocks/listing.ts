// The session listing (`/pgsessions [top] …`): one section per session, longest first, with Cancel /
// Terminate buttons that open the request modal. Pure: data in, Block Kit out.

import type { ActionsBlock, Button, ContextBlock, KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import { runsAQuery, SIGNAL_BLOCKER_REASONS } from '../../domain/policy.js';
import type { ListFilters, RecoveryState, SessionRow } from '../../domain/types.js';
import type { ConnectionUse } from '../../domain/watch.js';
import { reservedNote } from '../../domain/messages.js';
import type { RefusedBy } from '../../domain/outcome.js';
import { connectionUse } from './watch.js';
import { recoveryBlocks, recoveryHeadline } from './recovery.js';
import { ACTION, encodeTarget } from './ids.js';
import { LIMITS, codeSpan, escapeTruncate, inlineText, safeText, truncate, type RenderedMessage } from './mrkdwn.js';

/** How much of a query a listing row shows. */
export const LISTING_QUERY_CHARS = 300;
const NAME_CHARS = 80;

export const NARROW_HINT = 'narrow with db:, user:, min: or limit:';

function name(value: string | null): string {
  return value === null || value === '' ? '—' : inlineText(value, NAME_CHARS);
}

/** Cancelling does nothing to a session that is not running a query: the same rule a typed cancel meets. */
export function cancelUseful(row: Pick<SessionRow, 'state' | 'queryStart'>): boolean {
  return runsAQuery(row);
}

function ageText(row: SessionRow): string {
  let text = formatDuration(row.ageSeconds);
  const q = row.queryAgeSeconds;
  const x = row.xactAgeSeconds;
  if (q !== null && x !== null && formatDuration(q) !== formatDuration(x)) {
    text += ` (query ${formatDuration(q)}, transaction ${formatDuration(x)})`;
  }
  return text;
}

/** The mrkdwn of one session, bounded well under a section's 3000 characters. */
export function sessionText(
  row: SessionRow,
  opts: { prefix?: string; suffix?: string; queryChars?: number; queryHidden?: boolean } = {},
): string {
  const head =
    `${opts.prefix ?? ''}*pid ${row.pid}* · user ${name(row.user)} · db ${name(row.database)}` +
    ` · app ${name(row.application)} · client ${name(row.client)}`;
  const facts = [`*${name(row.state)}* for ${ageText(row)}`];
  if (row.blocking > 0) facts.push(`:rotating_light: *blocks ${row.blocking}*`);
  if (row.waitEventType !== null || row.waitEvent !== null) {
    facts.push(`waiting on ${name(row.waitEventType)}:${name(row.waitEvent)}`);
  }
  if (row.blockedBy.length > 0) {
    const pids = row.blockedBy.slice(0, 20).join(', ');
    facts.push(`blocked by ${pids}${row.blockedBy.length > 20 ? ` and ${row.blockedBy.length - 20} more` : ''}`);
  }
  if (row.parallelWorkers > 0) facts.push(`+${row.parallelWorkers} parallel workers`);
  if (opts.suffix) facts.push(opts.suffix);
  // PGSESSIONS_QUERY_TEXT=none: no query line at all (the listing says so once, at the top).
  if (opts.queryHidden) return truncate(`${head}\n${facts.join(' · ')}`, LIMITS.sectionText);
  const query =
    row.query === null ? '_no query text visible_' : codeSpan(row.query, (opts.queryChars ?? LISTING_QUERY_CHARS) + 2);
  return truncate(`${head}\n${facts.join(' · ')}\n${query}`, LIMITS.sectionText);
}

/**
 * In place of buttons, for a backend the server would never let the bot signal (a superuser's, say): why,
 * so nobody asks for a kill that can only end in "permission denied". Null when it can be signalled.
 */
export function cannotSignalNote(row: Pick<SessionRow, 'signalBlocker'>): ContextBlock | null {
  if (!row.signalBlocker) return null;
  return {
    type: 'context',
    elements: [{ type: 'mrkdwn', text: `:no_entry_sign: No buttons: ${SIGNAL_BLOCKER_REASONS[row.signalBlocker]}.` }],
  };
}

/** Cancel / Terminate buttons for a session (the clicker still has to give a reason and get approval). */
export function sessionButtons(
  cluster: string,
  row: SessionRow,
  opts: { cancel: boolean; terminate: boolean },
): Button[] {
  const buttons: Button[] = [];
  const target = { cluster, pid: row.pid, backendStart: row.backendStart, queryStart: row.queryStart };
  if (opts.cancel && cancelUseful(row)) {
    buttons.push({
      type: 'button',
      action_id: ACTION.cancel,
      text: { type: 'plain_text', text: 'Cancel' },
      value: encodeTarget({ ...target, kind: 'cancel' }),
    });
  }
  if (opts.terminate) {
    buttons.push({
      type: 'button',
      action_id: ACTION.terminate,
      text: { type: 'plain_text', text: 'Terminate' },
      style: 'danger',
      value: encodeTarget({ ...target, kind: 'terminate' }),
    });
  }
  return buttons;
}

function filterWords(filters: ListFilters): string[] {
  const words: string[] = [];
  const show = (key: string, v: string): string => `${key}:${/\s/.test(v) ? `"${v}"` : v}`;
  if (filters.database !== undefined) words.push(show('db', filters.database));
  if (filters.user !== undefined) words.push(show('user', filters.user));
  if (filters.application !== undefined) words.push(show('app', filters.application));
  if (filters.state !== undefined) words.push(show('state', filters.state));
  if (filters.minSeconds !== undefined) words.push(`min:${formatDuration(filters.minSeconds)}`);
  return words;
}

export interface ListingInput {
  cluster: string;
  rows: SessionRow[];
  totalMatched: number;
  filters: ListFilters;
  /** False for protected roles/apps, or everything when the bot is read-only. */
  killable: (row: SessionRow) => boolean;
  /** Sessions of other roles the bot may not see (its role lacks pg_read_all_stats). */
  invisible?: number;
  /** PGSESSIONS_QUERY_TEXT=none: rows carry no query line, and the listing says why. */
  queryHidden?: boolean;
  /** Connection use, for the header (`412 of 500: 300 idle, 80 active, 32 idle in transaction`). */
  connections?: ConnectionUse | null;
  /** The rows came through pgsessions' reserved connection: the server (or its pooler) refused a new one. */
  refused?: RefusedBy | null;
  /** The cluster is a standby: the header says so, with its replay, and shows the processes it depends on. */
  recovery?: RecoveryState | null;
}

/** Said once when PGSESSIONS_QUERY_TEXT=none, so that a missing query is not taken for a missing grant. */
export const QUERY_HIDDEN_NOTE = 'Query text is not shown (PGSESSIONS_QUERY_TEXT=none).';

/** Said whenever the bot's role cannot see some sessions: "all quiet" must not hide the culprit. */
export function invisibleNote(count: number): string {
  return `:warning: ${count} ${count === 1 ? 'session' : 'sessions'} of other roles cannot be seen: grant \`pg_monitor\` (or \`pg_read_all_stats\`) to the bot's role.`;
}

/** The fallback text's word on a standby (notifications and screen readers see no blocks). */
function standbyText(recovery: RecoveryState | null): string {
  return recovery ? ` ${recoveryHeadline(recovery)}.` : '';
}

const contextLine = (text: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

/** What stands above the rows: connections, order and filters, the standby, and what cannot be shown. */
function listingNotes(input: ListingInput, words: string[]): KnownBlock[] {
  const { cluster, filters } = input;
  const blocks: KnownBlock[] = [
    contextLine(
      safeText(
        `${input.connections ? `Connections ${connectionUse(input.connections)} · ` : ''}Blocking others first, then longest · ${words.length > 0 ? `filters ${words.join(' ')}` : 'not idle, client backends'} · limit ${filters.limit}`,
        LIMITS.sectionText,
      ),
    ),
  ];
  if (input.recovery) blocks.push(...recoveryBlocks(input.recovery));
  if (input.refused)
    blocks.push(contextLine(`:warning: Cluster \`${inlineText(cluster, 63)}\` ${reservedNote(input.refused)}`));
  if (input.invisible) blocks.push(contextLine(invisibleNote(input.invisible)));
  if (input.queryHidden) blocks.push(contextLine(QUERY_HIDDEN_NOTE));
  return blocks;
}

/** The rows within `budget` blocks in all, each with its buttons or why it has none; returns how many. */
function rowBlocks(blocks: KnownBlock[], input: ListingInput, budget: number): number {
  let shown = 0;
  for (const row of input.rows) {
    const note = input.killable(row) ? cannotSignalNote(row) : null;
    const buttons =
      input.killable(row) && !note ? sessionButtons(input.cluster, row, { cancel: true, terminate: true }) : [];
    const needed = buttons.length > 0 || note ? 2 : 1;
    if (blocks.length + needed > budget) break;
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text: sessionText(row, { queryHidden: input.queryHidden ?? false }) },
    });
    if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons } satisfies ActionsBlock);
    if (note) blocks.push(note);
    shown += 1;
  }
  return shown;
}

export function buildListing(input: ListingInput): RenderedMessage {
  const { cluster, rows, filters } = input;
  const total = Math.max(input.totalMatched, rows.length);
  const words = filterWords(filters);
  const recovery = input.recovery ?? null;
  const title = `Sessions on ${cluster}${recovery ? ' (standby)' : ''}`;
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(`${title} — ${total} ${total === 1 ? 'match' : 'matches'}`, LIMITS.headerText),
      },
    },
    ...listingNotes(input, words),
  ];

  if (rows.length === 0) {
    const empty =
      words.length > 0
        ? `No sessions match ${safeText(words.join(' '), 1000)}. Try wider filters.`
        : 'No active sessions match. All quiet.';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: empty } });
    return { text: truncate(`${title}: none match.${standbyText(recovery)}`, LIMITS.fallbackText), blocks };
  }

  // Keep one block in reserve for the "N more not shown" footer.
  const shown = rowBlocks(blocks, input, LIMITS.blocksPerMessage - 1);
  const hidden = total - shown;
  if (hidden > 0) blocks.push(contextLine(`${hidden} more not shown — ${NARROW_HINT}`));

  const lines = rows
    .slice(0, 10)
    .map((r) => `pid ${r.pid} ${r.user ?? '?'}@${r.database ?? '?'} ${r.state ?? '?'} ${formatDuration(r.ageSeconds)}`);
  const text = escapeTruncate(
    `${title}: showing ${shown} of ${total}.${standbyText(recovery)}\n${lines.join('\n')}`,
    LIMITS.fallbackText,
  );
  return { text, blocks };
}
