// `drain db:NAME for:DURATION reason…` and `undrain db:NAME`, once command.ts has collected the modifiers.
// The window is checked against PGSESSIONS_DRAIN_MAX by the use case, which knows the setting.
import { parseDuration } from './duration.js';

export type DrainCommand =
  | { kind: 'drain'; database: string; windowSeconds: number; reason: string }
  | { kind: 'undrain'; database: string };

export function drainCommand(
  kind: 'drain' | 'undrain',
  given: { db: string | undefined; for: string | undefined; words: string[] },
  fail: (message: string) => never,
): DrainCommand {
  if (given.db === undefined)
    fail(`${kind} needs db:NAME — the database to ${kind === 'drain' ? 'keep empty' : 'give back'}.`);
  if (kind === 'undrain') return { kind, database: given.db };
  if (given.for === undefined) fail('drain needs for:DURATION, e.g. for:45m — how long the database stays closed.');
  const windowSeconds = parseDuration(given.for);
  if (windowSeconds === null || windowSeconds < 1)
    fail(`for: needs a duration like 45m or 2h, got “${given.for.slice(0, 40)}”.`);
  return { kind, database: given.db, windowSeconds, reason: given.words.join(' ') };
}
