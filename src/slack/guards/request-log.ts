// What an HTTP request may cost in log: the receiver's lines (an unknown path, a bad signature, a malformed
// body) are written before anyone is authenticated, and Bolt puts the whole URL in them. Twenty clients
// sending 15,000-character paths wrote 92 MB in four seconds. Here each line is cut to a few hundred
// characters, and at most `perWindow` of them are written per window; the rest are counted and summed up
// in one line ("suppressed K lines") when the window ends.
import type { Logger as SlackLogger } from '@slack/logger';

export interface RequestLogLimits {
  /** Characters of one line kept (default 300). */
  maxChars: number;
  /** Lines written per window (default 20). */
  perWindow: number;
  /** Window length (default 10 s). */
  windowMs: number;
}

export const DEFAULT_REQUEST_LOG_LIMITS: RequestLogLimits = { maxChars: 300, perWindow: 20, windowMs: 10_000 };

/** One line at most `max` characters, with how much was cut. */
export function clipLine(line: string, max: number): string {
  return line.length <= max ? line : `${line.slice(0, max)}… (${line.length - max} more characters cut)`;
}

type Level = 'debug' | 'info' | 'warn' | 'error';
const ORDER: Record<string, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/**
 * A Bolt logger for request handling: lines clipped and rate-limited. `now` and `setTimer` are injected so
 * the pure behaviour can be tested without waiting.
 */
export function limitRequestLog(
  inner: SlackLogger,
  limits: Partial<RequestLogLimits> = {},
  clock: { now: () => number; later: (fn: () => void, ms: number) => void } = {
    now: Date.now,
    later: (fn, ms) => setTimeout(fn, ms).unref(),
  },
): SlackLogger {
  const { maxChars, perWindow, windowMs } = { ...DEFAULT_REQUEST_LOG_LIMITS, ...limits };
  let windowStart = -Infinity;
  let written = 0;
  let suppressed = 0;
  let summaryDue = false;

  const summarise = () => {
    summaryDue = false;
    if (suppressed === 0) return;
    inner.warn(
      `suppressed ${suppressed} request log lines in ${windowMs / 1000} s (too many unauthenticated or malformed requests)`,
    );
    suppressed = 0;
  };

  const write =
    (level: Level) =>
    (...msg: unknown[]) => {
      // A line the logger would drop anyway costs nothing and must not use up the window.
      if ((ORDER[level] ?? 0) < (ORDER[inner.getLevel()] ?? 0)) return;
      const t = clock.now();
      if (t - windowStart >= windowMs) {
        summarise();
        windowStart = t;
        written = 0;
      }
      if (written >= perWindow) {
        suppressed += 1;
        if (!summaryDue) {
          summaryDue = true;
          clock.later(summarise, Math.max(0, windowStart + windowMs - t));
        }
        return;
      }
      written += 1;
      const text = msg
        .map((m) => (typeof m === 'string' ? m : m instanceof Error ? m.message : (JSON.stringify(m) ?? String(m))))
        .join(' ');
      inner[level](clipLine(text, maxChars));
    };

  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (level) => inner.setLevel(level),
    getLevel: () => inner.getLevel(),
    setName: (name) => inner.setName(name),
  };
}
