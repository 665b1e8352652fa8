// Watching, wired: which clusters are watched (only those with a watch channel, each read on its own
// one-connection pool), the alert buttons' port onto whichever watcher runs now, and the active rules gauge.
import { ALERT_FAILURES, FAILURE_MESSAGES } from '../domain/messages.js';
import type { Rule } from '../domain/rules.js';
import type { WatchActionsPort } from '../domain/watch-actions.js';
import type { LiveClusters } from '../live-clusters.js';
import type { Logger } from '../logger.js';
import { createPool } from '../postgres/pools.js';
import { createWatchReader } from '../postgres/watch-reader.js';
import type { WatchedCluster, Watcher } from '../watch/watcher.js';

export interface WatchedOptions {
  /** Query storms: this many sessions of one statement, each running this long (overrides the settings). */
  watchStorm?: { sessions: number; seconds: number };
  idleTimeoutMs?: number;
}

/** The clusters to watch now, each with a fresh reader. */
export function watchedClusters(clusters: LiveClusters, logger: Logger, options: WatchedOptions): WatchedCluster[] {
  return clusters.configs().flatMap((c) => {
    const settings = clusters.watchSettings()[c.name];
    if (!settings?.channel) return [];
    // Under the interval where it can be, never so short that a busy moment reads as "down" (a look that
    // runs over simply starts the next one late).
    const statementTimeoutMs = Math.min(5_000, Math.max(2_000, settings.intervalSeconds * 800));
    const pool = createPool(c.url, logger.child({ module: 'watch-db', cluster: c.name }), {
      max: 1,
      statementTimeoutMs,
      connectTimeoutMs: 5_000,
      lifeline: clusters.lifeline(c.name),
      idleTimeoutMs: options.idleTimeoutMs,
    });
    const storm = options.watchStorm;
    const thresholds = storm
      ? { ...settings.thresholds, stormSessions: storm.sessions, stormSeconds: storm.seconds }
      : settings.thresholds;
    return [
      {
        name: c.name,
        reader: createWatchReader(c.name, pool),
        settings: { ...settings, thresholds, channel: settings.channel },
      },
    ];
  });
}

/** The alert buttons, on whichever watcher runs now (none while the clusters file is being applied). */
export function watchPort(
  current: () => Watcher | null,
  limiter: { take(user: string): Promise<boolean> },
): WatchActionsPort {
  return {
    // A snooze is audited and posted like a request: it costs a token of the same per-user bucket.
    snooze: async (id, minutes, user, mayView) => {
      const watcher = current();
      if (!watcher) return { ok: false, message: ALERT_FAILURES.not_started };
      if (!(await limiter.take(user))) return { ok: false, message: FAILURE_MESSAGES.rate_limited };
      // Read again: the clusters file may have been applied while the token was taken.
      const now = current();
      return now ? now.snooze(id, minutes, user, mayView) : { ok: false, message: ALERT_FAILURES.not_started };
    },
    storm: (id) => {
      const watcher = current();
      return watcher ? watcher.storm(id) : Promise.resolve({ ok: false, message: ALERT_FAILURES.not_started });
    },
    relief: (id) => {
      const watcher = current();
      return watcher ? watcher.relief(id) : Promise.resolve({ ok: false, message: ALERT_FAILURES.not_started });
    },
  };
}

/** Approved, unexpired rules per watched cluster: rules act only through a watcher, so nothing else counts. */
export async function activeRuleCounts(
  watched: readonly WatchedCluster[],
  rules: { list(): Promise<Rule[]> },
): Promise<Record<string, number>> {
  const counts: Record<string, number> = Object.fromEntries(watched.map((c) => [c.name, 0]));
  if (watched.length === 0) return counts;
  const now = Date.now();
  for (const rule of await rules.list()) {
    const active = rule.status === 'approved' && rule.expiresAt !== null && Date.parse(rule.expiresAt) > now;
    if (active && rule.cluster in counts) counts[rule.cluster]! += 1;
  }
  return counts;
}
