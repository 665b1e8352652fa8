// The fleet listing (`/pgsessions cluster:*`): the worst sessions of every cluster the person may view, in
// the single-cluster listing's order, each row naming its cluster in its visible text, with the same
// buttons (their value names the row's cluster). Clusters that did not answer in time are named in one
// line. Pure: data in, Block Kit out, within Slack's limits however many clusters and rows there are.
import type { ActionsBlock, KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import type { FleetAnswer, FleetMiss } from '../../domain/fleet.js';
import { reservedNote } from '../../domain/messages.js';
import {
  cannotSignalNote,
  invisibleNote,
  NARROW_HINT,
  QUERY_HIDDEN_NOTE,
  sessionButtons,
  sessionText,
} from './listing.js';
import { escapeTruncate, inlineText, LIMITS, safeText, truncate, type RenderedMessage } from './mrkdwn.js';

/** Blocks kept free at the end: the "N more not shown" footer and the Share button. */
const RESERVED_BLOCKS = 2;
/** All row text together stays well under what Slack takes in one message. */
const ROW_TEXT_BUDGET = 24_000;
/** The characters of cluster names one line may spend before it says "and N more". */
const NAMES_BUDGET = 1_500;

/** `2 s`, `1.5 s`: the timeout as the "not answered" line says it. */
export function secondsText(ms: number): string {
  const s = ms / 1000;
  return `${Number.isInteger(s) ? s : s.toFixed(1)} s`;
}

/** `a`, `b`, `c` and 12 more — as many names as fit in the budget. */
export function nameList(names: string[], budget = NAMES_BUDGET): string {
  const shown: string[] = [];
  let used = 0;
  for (const name of names) {
    const piece = `\`${inlineText(name, 63)}\``;
    if (shown.length > 0 && used + piece.length + 2 > budget) break;
    shown.push(piece);
    used += piece.length + 2;
  }
  const more = names.length - shown.length;
  return more > 0 ? `${shown.join(', ')} and ${more} more` : shown.join(', ');
}

const MISS_WORDS: Record<FleetMiss, (timeoutMs: number) => string> = {
  timeout: (ms) => `:hourglass: not answered in ${secondsText(ms)}`,
  unreachable: () => ':warning: cannot be reached',
  slow: () => ':warning: too busy to answer',
  full: () => ':warning: full (no connection left, reserved one lost too)',
};

function filterWords(answer: FleetAnswer): string {
  const f = answer.filters;
  const show = (key: string, v: string): string => `${key}:${/\s/.test(v) ? `"${v}"` : v}`;
  const words: string[] = [];
  if (f.database !== undefined) words.push(show('db', f.database));
  if (f.user !== undefined) words.push(show('user', f.user));
  if (f.application !== undefined) words.push(show('app', f.application));
  if (f.state !== undefined) words.push(show('state', f.state));
  if (f.minSeconds !== undefined) words.push(`min:${formatDuration(f.minSeconds)}`);
  return words.join(' ');
}

function context(text: string): KnownBlock {
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(text, LIMITS.sectionText) }] };
}

/** The lines above the rows: what was asked, and which clusters are missing or were listed the hard way. */
function headBlocks(answer: FleetAnswer, queryHidden: boolean): KnownBlock[] {
  const total = Math.max(answer.totalMatched, answer.rows.length);
  const clusters = answer.answered.length + answer.missing.length;
  const words = filterWords(answer);
  const blocks: KnownBlock[] = [
    {
      type: 'header',
      text: {
        type: 'plain_text',
        text: truncate(
          `Sessions on every cluster — ${total} ${total === 1 ? 'match' : 'matches'} on ${answer.answered.length} of ${clusters}`,
          LIMITS.headerText,
        ),
      },
    },
    context(
      `Blocking others first, then longest · ${words ? `filters ${safeText(words, 1000)}` : 'not idle, client backends'} · limit ${answer.filters.limit}`,
    ),
  ];
  for (const why of ['timeout', 'unreachable', 'slow', 'full'] as const) {
    const names = answer.missing.filter((m) => m.why === why).map((m) => m.cluster);
    if (names.length > 0) blocks.push(context(`${MISS_WORDS[why](answer.timeoutMs)}: ${nameList(names)}`));
  }
  for (const refusal of ['server', 'pooler'] as const) {
    const names = answer.refused.filter((r) => r.refusal === refusal).map((r) => r.cluster);
    if (names.length > 0) blocks.push(context(`:warning: ${nameList(names)}: ${reservedNote(refusal)}`));
  }
  if (answer.standbys.length > 0) blocks.push(context(`Standbys: ${nameList(answer.standbys)}`));
  if (answer.hidden > 0) blocks.push(context(invisibleNote(answer.hidden)));
  if (queryHidden) blocks.push(context(QUERY_HIDDEN_NOTE));
  return blocks;
}

export function buildFleetListing(answer: FleetAnswer, view: { queryHidden: boolean }): RenderedMessage {
  const blocks = headBlocks(answer, view.queryHidden);
  const total = Math.max(answer.totalMatched, answer.rows.length);
  const title = 'Sessions on every cluster';
  if (answer.rows.length === 0) {
    const empty =
      answer.answered.length === 0
        ? 'No cluster answered: nothing to list. Try again, or name one with cluster:NAME.'
        : 'No sessions match on the clusters that answered.';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: empty } });
    return { text: truncate(`${title}: none match.`, LIMITS.fallbackText), blocks };
  }
  const budget = LIMITS.blocksPerMessage - RESERVED_BLOCKS;
  let shown = 0;
  let textUsed = 0;
  for (const row of answer.rows) {
    const note = answer.killable(row) ? cannotSignalNote(row) : null;
    const buttons =
      answer.killable(row) && !note ? sessionButtons(row.cluster, row, { cancel: true, terminate: true }) : [];
    const text = sessionText(row, { prefix: `\`${inlineText(row.cluster, 63)}\` · `, queryHidden: view.queryHidden });
    const needed = buttons.length > 0 || note ? 2 : 1;
    if (blocks.length + needed > budget || textUsed + text.length > ROW_TEXT_BUDGET) break;
    textUsed += text.length;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text } });
    if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons } satisfies ActionsBlock);
    if (note) blocks.push(note);
    shown += 1;
  }
  const more = total - shown;
  if (more > 0) blocks.push(context(`${more} more not shown — ${NARROW_HINT}, or name one cluster with cluster:NAME`));
  const lines = answer.rows
    .slice(0, 10)
    .map(
      (r) =>
        `${r.cluster} pid ${r.pid} ${r.user ?? '?'}@${r.database ?? '?'} ${r.state ?? '?'} ${formatDuration(r.ageSeconds)}`,
    );
  const missing = answer.missing.length > 0 ? ` ${answer.missing.length} did not answer.` : '';
  return {
    text: escapeTruncate(`${title}: showing ${shown} of ${total}.${missing}\n${lines.join('\n')}`, LIMITS.fallbackText),
    blocks,
  };
}
