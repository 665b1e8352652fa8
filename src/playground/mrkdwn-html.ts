// Slack mrkdwn → HTML for the playground page, safe by construction: every piece of text is HTML-escaped
// before any tag is added, and the only tags added are a fixed set without free attributes (a link's href
// is an http(s)/mailto URL, escaped). Query text, application names and reasons cannot inject markup.

/** Names for mentions; unknown ids show as the id. */
export interface Directory {
  userName(id: string): string | undefined;
  channelName(id: string): string | undefined;
  /** A user group's handle (without @), as Slack shows `<!subteam^S…>`. */
  groupName?(id: string): string | undefined;
}

const NO_NAMES: Directory = { userName: () => undefined, channelName: () => undefined };

export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

/** Slack escapes exactly these three in mrkdwn; anything else stays as written. */
function decodeSlack(text: string): string {
  return text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
}

const EMOJI: Record<string, string> = {
  rotating_light: '🚨',
  warning: '⚠️',
  white_check_mark: '✅',
  x: '❌',
  lock: '🔒',
  red_circle: '🔴',
  raising_hand: '🙋',
  no_entry_sign: '🚫',
  no_entry: '⛔',
  leftwards_arrow_with_hook: '↩️',
  hourglass: '⌛',
  hourglass_flowing_sand: '⏳',
  gear: '⚙️',
  skull: '💀',
  recycle: '♻️',
  memo: '📝',
  bell: '🔔',
  fire: '🔥',
  eyes: '👀',
  information_source: 'ℹ️',
  large_green_circle: '🟢',
  large_yellow_circle: '🟡',
  heavy_check_mark: '✔️',
  zap: '⚡',
  mag: '🔍',
  link: '🔗',
  octagonal_sign: '🛑',
};

/** `:name:` → the emoji, when we know it; unknown names stay as text, as Slack shows a missing custom emoji. */
export function emojify(escaped: string): string {
  return escaped.replace(/:([a-z0-9_+-]+):/g, (whole, name: string) => EMOJI[name] ?? whole);
}

const pad = (n: number) => String(n).padStart(2, '0');
const MONTHS = [
  'January',
  'February',
  'March',
  'April',
  'May',
  'June',
  'July',
  'August',
  'September',
  'October',
  'November',
  'December',
];

/** Slack's `<!date^EPOCH^FORMAT|fallback>` tokens, in UTC (the page says so in the title). */
function formatDate(epoch: number, format: string, now: Date): string | null {
  const d = new Date(epoch * 1000);
  if (!Number.isFinite(d.getTime())) return null;
  const sameDay = (a: Date, b: Date) => a.toISOString().slice(0, 10) === b.toISOString().slice(0, 10);
  const yesterday = new Date(now.getTime() - 86_400_000);
  const tokens: Record<string, string> = {
    date_num: d.toISOString().slice(0, 10),
    date: `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`,
    date_short: `${MONTHS[d.getUTCMonth()]!.slice(0, 3)} ${d.getUTCDate()}, ${d.getUTCFullYear()}`,
    date_long: `${MONTHS[d.getUTCMonth()]} ${d.getUTCDate()}, ${d.getUTCFullYear()}`,
    time: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}`,
    time_secs: `${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`,
  };
  const pretty = sameDay(d, now) ? 'Today' : sameDay(d, yesterday) ? 'Yesterday' : undefined;
  tokens.date_pretty = pretty ?? tokens.date!;
  tokens.date_short_pretty = pretty ?? tokens.date_short!;
  tokens.date_long_pretty = pretty ?? tokens.date_long!;
  let unknown = false;
  const out = format.replace(/\{([a-z_]+)\}/g, (_, token: string) => {
    const value = tokens[token];
    if (value === undefined) unknown = true;
    return value ?? '';
  });
  return unknown ? null : out;
}

const SAFE_URL = /^(https?:\/\/|mailto:)/i;

/** One `<…>` control sequence (mention, channel, date, link) as HTML; anything else is shown as text. */
function controlSequence(inner: string, names: Directory, now: Date, text: (t: string) => string): string {
  const bar = inner.indexOf('|');
  const target = bar < 0 ? inner : inner.slice(0, bar);
  const label = bar < 0 ? undefined : inner.slice(bar + 1);
  if (/^@[UW][A-Z0-9]+$/.test(target)) {
    const id = target.slice(1);
    return `<span class="mention">@${escapeHtml(names.userName(id) ?? label ?? id)}</span>`;
  }
  if (/^#[CGD][A-Z0-9]+$/.test(target)) {
    const id = target.slice(1);
    return `<span class="mention">#${escapeHtml(names.channelName(id) ?? label ?? id)}</span>`;
  }
  if (/^!(here|channel|everyone)$/.test(target)) return `<span class="mention">@${target.slice(1)}</span>`;
  if (/^!subteam\^[A-Z0-9]+$/.test(target)) {
    const handle = names.groupName?.(target.slice('!subteam^'.length));
    return `<span class="mention">${escapeHtml(handle ? `@${handle}` : (label ?? '@group'))}</span>`;
  }
  const date = /^!date\^(-?\d+)\^([^^]*)(?:\^.*)?$/.exec(target);
  if (date) {
    const epoch = Number(date[1]);
    const shown = formatDate(epoch, date[2]!, now) ?? decodeSlack(label ?? '');
    const iso = new Date(epoch * 1000);
    const datetime = Number.isFinite(iso.getTime()) ? ` datetime="${escapeHtml(iso.toISOString())}"` : '';
    return `<time${datetime}>${escapeHtml(shown)}</time>`;
  }
  const url = decodeSlack(target);
  if (SAFE_URL.test(url)) {
    let parsed: URL | null = null;
    try {
      parsed = new URL(url);
    } catch {
      parsed = null;
    }
    if (parsed)
      return `<a href="${escapeHtml(parsed.href)}" rel="noopener noreferrer" target="_blank">${label === undefined ? escapeHtml(url) : text(label)}</a>`;
  }
  // Not a sequence Slack knows: show what was written.
  return escapeHtml(`<${decodeSlack(inner)}>`);
}

// Placeholders for finished HTML while the rest is formatted; input can never contain them (stripped first).
const HOLE_OPEN = '\uE000';
const HOLE_CLOSE = '\uE001';
const HOLES = /\uE000(\d+)\uE001/g;

/** Bold, italic and strike on already-escaped text, with Slack's rule that markers sit at word edges. */
function emphasis(escaped: string): string {
  const wrap = (marker: string, tag: string) => {
    const m = `\\${marker}`;
    const pattern = new RegExp(`(^|[^\\w${m}])${m}(?=\\S)([^${m}\\n]*?\\S)${m}(?![\\w${m}])`, 'g');
    return (s: string) =>
      s.replace(pattern, (_, before: string, inner: string) => `${before}<${tag}>${inner}</${tag}>`);
  };
  return [wrap('*', 'strong'), wrap('_', 'em'), wrap('~', 'del')].reduce((s, f) => f(s), escaped);
}

export interface MrkdwnOptions {
  names?: Directory;
  /** For "Today"/"Yesterday" in dates. */
  now?: Date;
}

export function mrkdwnToHtml(input: string, options: MrkdwnOptions = {}): string {
  const names = options.names ?? NO_NAMES;
  const now = options.now ?? new Date();
  const holes: string[] = [];
  const hole = (html: string) => `${HOLE_OPEN}${holes.push(html) - 1}${HOLE_CLOSE}`;
  // Text of a link label or similar: decoded, escaped, with emoji; no nested sequences.
  const text = (t: string) => emojify(escapeHtml(decodeSlack(t)));

  let s = String(input).replace(/[\uE000\uE001]/g, '\uFFFD');
  s = s.replace(/```([\s\S]*?)```/g, (_, code: string) =>
    hole(`<pre>${escapeHtml(decodeSlack(code.replace(/^\n/, '')))}</pre>`),
  );
  s = s.replace(/`([^`\n]+)`/g, (_, code: string) => hole(`<code>${escapeHtml(decodeSlack(code))}</code>`));
  s = s.replace(/<([^<>\n]*)>/g, (_, inner: string) => hole(controlSequence(inner, names, now, text)));
  s = emojify(emphasis(escapeHtml(decodeSlack(s))));
  // Quotes: lines starting with "> " (Slack escapes the marker as &gt;, decoded and re-escaped above).
  s = s
    .split('\n')
    .map((line) => (line.startsWith('&gt; ') ? `<blockquote>${line.slice(5)}</blockquote>` : line))
    .join('\n')
    .replace(/<\/blockquote>\n/g, '</blockquote>')
    .replace(/\n/g, '<br>');
  // Holes may hold holes' numbers only as text they were given, never as placeholders: one pass suffices.
  return s.replace(HOLES, (_, i: string) => holes[Number(i)] ?? '');
}

/** A plain_text object: escaped, emoji when asked for (Slack's default), line breaks kept. */
export function plainTextToHtml(text: string, emoji = true): string {
  const escaped = escapeHtml(String(text));
  return (emoji ? emojify(escaped) : escaped).replace(/\n/g, '<br>');
}
