// Text helpers for Slack mrkdwn, Slack's limits, and the shape every renderer returns. Anything a
// database or a user wrote goes through escapeMrkdwn (or codeSpan) before it reaches a message.

import type { KnownBlock } from '@slack/types';

/** What every message renderer returns: blocks plus a plain fallback for notifications. */
export interface RenderedMessage {
  text: string;
  blocks: KnownBlock[];
}

/** Slack's documented limits that our renderers must respect. */
export const LIMITS = {
  blocksPerMessage: 50,
  blocksPerModal: 100,
  sectionText: 3000,
  sectionField: 2000,
  headerText: 150,
  contextElements: 10,
  buttonText: 75,
  buttonValue: 2000,
  actionId: 255,
  actionsElements: 25,
  fallbackText: 3000,
  modalTitle: 24,
  privateMetadata: 3000,
  // Checked by limits-check.ts (the stand-in and the property tests) though no renderer comes near them.
  sectionFields: 10,
  blockId: 255,
  messageText: 40000,
  markdownBlock: 12000,
  inputLabel: 2000,
  inputValue: 3000,
  placeholder: 150,
  optionText: 75,
  optionValue: 150,
  selectOptions: 100,
  choiceOptions: 10,
  overflowOptions: 5,
  confirmTitle: 100,
  confirmText: 300,
  confirmButton: 30,
  altText: 2000,
  url: 3000,
} as const;

/** Escape the three characters Slack mrkdwn gives meaning to: `&`, `<`, `>`. */
export function escapeMrkdwn(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

const ELLIPSIS = '…';

function isHighSurrogate(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}

/**
 * At most `max` UTF-16 code units (the stricter way to count Slack's "characters"), ending with "…"
 * when cut, never splitting a surrogate pair.
 */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  if (max < 1) return '';
  let cut = max - 1;
  if (cut > 0 && isHighSurrogate(text.charCodeAt(cut - 1))) cut -= 1;
  return text.slice(0, cut) + ELLIPSIS;
}

/**
 * Escape, then fit in `max` characters *after* escaping, cutting the raw text so that an entity like
 * `&amp;` is never split and a surrogate pair is never split.
 */
export function escapeTruncate(text: string, max: number): string {
  const escaped = escapeMrkdwn(text);
  if (escaped.length <= max) return escaped;
  if (max < 1) return '';
  const budget = max - 1;
  let out = '';
  for (const ch of text) {
    const piece = ch === '&' ? '&amp;' : ch === '<' ? '&lt;' : ch === '>' ? '&gt;' : ch;
    if (out.length + piece.length > budget) break;
    out += piece;
  }
  return out + ELLIPSIS;
}

/** U+02CB MODIFIER LETTER GRAVE ACCENT: looks like a backtick, cannot close a code span. */
const BACKTICK_LOOKALIKE = '\u02CB';

/**
 * Lookalikes for Slack's bold, italic and strike markers. Only a marker at a word's edge can format (as in
 * `*Approved*`), so only those are replaced: `pg_dump` and `a*b` stay as they are, and can still be copied
 * into a command.
 */
const FORMAT_LOOKALIKE: Record<string, string> = { '*': '\u2217', _: '\uFF3F', '~': '\u223C' };
const WORD = /[\p{L}\p{N}]/u;

/** Replaces formatting markers at a word's edge with lookalikes, so that text we did not write cannot format. */
export function neutraliseFormatting(text: string): string {
  const chars = Array.from(text);
  return chars
    .map((ch, i) => {
      const lookalike = FORMAT_LOOKALIKE[ch];
      if (lookalike === undefined) return ch;
      const before = chars[i - 1];
      const after = chars[i + 1];
      const inWord = before !== undefined && after !== undefined && WORD.test(before) && WORD.test(after);
      return inWord ? ch : lookalike;
    })
    .join('');
}

/**
 * Text someone else wrote (a reason, a name, a message from the server), escaped and cut to `max`
 * characters, with backticks neutralised so it cannot open or close a code span elsewhere in the message,
 * and formatting markers neutralised so it cannot pass for bold or struck-out words of ours.
 */
export function safeText(text: string, max: number): string {
  return escapeTruncate(neutraliseFormatting(text.replace(/`/g, BACKTICK_LOOKALIKE)), max);
}

/** Like safeText, on one line: a name (user, database, application, cluster) inside a sentence. */
export function inlineText(text: string, max: number): string {
  return safeText(text.replace(/\s+/g, ' ').trim(), max);
}

/**
 * Inline code for query text: whitespace and newlines collapsed to single spaces, backticks neutralised
 * so they cannot close the span, escaped, and cut to fit `max` characters including the two backticks.
 */
export function codeSpan(text: string, max: number = LIMITS.sectionText): string {
  const flat = text.replace(/\s+/g, ' ').trim().replace(/`/g, BACKTICK_LOOKALIKE);
  // An empty code span renders as two stray backticks.
  if (flat.length === 0) return '_(empty)_';
  return `\`${escapeTruncate(flat, Math.max(1, max - 2))}\``;
}

/**
 * Marks every mrkdwn text object `verbatim`: Slack then turns no bare URL, #channel or @here into a live
 * link or mention. Our own `<@U…>`, `<#C…>` and `<!date…>` still work; anything else was escaped already.
 */
export function verbatim<T>(node: T): T {
  if (Array.isArray(node)) return node.map((item) => verbatim(item)) as T;
  if (typeof node !== 'object' || node === null) return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) out[key] = verbatim(value);
  if (out.type === 'mrkdwn' && typeof out.text === 'string') out.verbatim = true;
  return out as T;
}

/** A message ready to leave for Slack: every mrkdwn text verbatim. */
export function sealed<M extends { blocks: unknown[] }>(message: M): M {
  return { ...message, blocks: verbatim(message.blocks) };
}

/**
 * A Slack user mention when `id` looks like a user ID, otherwise the escaped text: an ID read from the
 * store should never be able to smuggle in `<!channel>`.
 */
export function userMention(id: string): string {
  return /^[UW][A-Z0-9]{1,30}$/.test(id) ? `<@${id}>` : escapeMrkdwn(id);
}

/** A channel link when `id` looks like a channel ID, otherwise the escaped text. */
export function channelMention(id: string): string {
  return /^[CGD][A-Z0-9]{1,30}$/.test(id) ? `<#${id}>` : escapeMrkdwn(id);
}

/**
 * Slack's date formatting (`<!date^EPOCH^{token}|fallback>`), shown in each reader's time zone. Null when
 * the timestamp cannot be read.
 */
export function slackDate(when: string | Date, format = '{date_short_pretty} {time}'): string | null {
  const ms = when instanceof Date ? when.getTime() : Date.parse(when);
  if (!Number.isFinite(ms)) return null;
  const epoch = Math.floor(ms / 1000);
  const fallback = new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');
  return `<!date^${epoch}^${format}|${fallback}>`;
}
