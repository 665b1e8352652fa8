// Durations as people type them in a slash command (`30s`, `5m`, `1h30m`, `90`) and as we show them
// back (`5m 03s`). Pure: no Slack, no pg.

/** The longest duration anyone may type: beyond this it is a typo, not an intent. */
export const MAX_DURATION_SECONDS = 30 * 24 * 60 * 60;

const UNIT_SECONDS = { d: 86_400, h: 3_600, m: 60, s: 1 } as const;

// Units in descending order, each at most once: `1d2h3m4s`, `1h30m`, `45s`. Bare digits are seconds.
const COMPOUND = /^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;
const BARE = /^\d+$/;

/**
 * Seconds from `30s`, `5m`, `2h`, `1h30m`, `1d`, or bare `90` (seconds). Case-insensitive, surrounding
 * whitespace ignored. Null for anything else: empty, negative, fractions, junk, or more than 30 days.
 */
export function parseDuration(text: string): number | null {
  if (typeof text !== 'string') return null;
  const t = text.trim().toLowerCase();
  // Longer than any valid spelling of ≤ 30 days: refuse before the regex or Number() sees it.
  if (t.length === 0 || t.length > 24) return null;
  let seconds: number;
  if (BARE.test(t)) {
    seconds = Number(t);
  } else {
    const m = COMPOUND.exec(t);
    if (!m) return null;
    const [, d, h, min, s] = m;
    if (d === undefined && h === undefined && min === undefined && s === undefined) return null;
    seconds =
      Number(d ?? 0) * UNIT_SECONDS.d +
      Number(h ?? 0) * UNIT_SECONDS.h +
      Number(min ?? 0) * UNIT_SECONDS.m +
      Number(s ?? 0) * UNIT_SECONDS.s;
  }
  if (!Number.isSafeInteger(seconds) || seconds < 0 || seconds > MAX_DURATION_SECONDS) return null;
  return seconds;
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/**
 * Compact and human, two units at most: `42s`, `5m 03s`, `2h 05m`, `3d 4h`. Fractions are floored;
 * negative or non-finite input reads as `0s` (clock skew between the bot and the server).
 */
export function formatDuration(seconds: number): string {
  const total = Number.isFinite(seconds) && seconds > 0 ? Math.floor(seconds) : 0;
  if (total < 60) return `${total}s`;
  if (total < 3_600) return `${Math.floor(total / 60)}m ${pad2(total % 60)}s`;
  if (total < 86_400) return `${Math.floor(total / 3_600)}h ${pad2(Math.floor((total % 3_600) / 60))}m`;
  return `${Math.floor(total / 86_400)}d ${Math.floor((total % 86_400) / 3_600)}h`;
}
