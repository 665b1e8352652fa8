// The watcher: for each cluster this replica leads, one look per interval → incidents (domain) → the
// incident store → alert messages. Everything it decides is in src/domain/watch.ts; the watcher depends on
// ports only (src/domain/ports.ts). This file runs the loops and never lets one cluster's trouble stop
// another's; one look is in look.ts, the messages in deliver.ts, what a click asks in alerts.ts.
import { relief, snooze, storm } from './alerts.js';
import { look } from './look.js';
import type { WatchContext, WatchedCluster, Watcher, WatcherDeps } from './types.js';

export type {
  ReliefResult,
  SnoozeResult,
  StormResult,
  WatchedCluster,
  Watcher,
  WatcherDeps,
} from './types.js';

/** While a rule is active on a cluster, it is looked at at least this often, whatever its interval. */
export const RULE_LOOK_SECONDS = 2;

/** Naps that stop() ends at once. */
function napper() {
  const wakers = new Set<() => void>();
  return {
    /** Sleeps up to `ms`. */
    nap: (ms: number) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(done, ms);
        function done() {
          clearTimeout(timer);
          wakers.delete(done);
          resolve();
        }
        wakers.add(done);
      }),
    wakeAll() {
      for (const wake of [...wakers]) wake();
    },
  };
}

/** A rule approved on any replica is noticed within RULE_LOOK_SECONDS, not after a long watch interval. */
async function ruleAppeared(ctx: WatchContext, cluster: string): Promise<boolean> {
  const { rules } = ctx.deps;
  if (!rules || ctx.ruled.has(cluster)) return false;
  const active = await rules.anyActive(cluster).catch(() => false);
  if (active) ctx.ruled.add(cluster);
  return active;
}

/** Looks at one cluster until stopped: every interval, sooner on a takeover or while a rule is active. */
async function watchLoop(
  ctx: WatchContext,
  c: WatchedCluster,
  stopped: () => boolean,
  nap: (ms: number) => Promise<void>,
): Promise<void> {
  const { leadership, logger } = ctx.deps;
  while (!stopped()) {
    const started = Date.now();
    let led = false;
    try {
      led = await look(ctx, c);
    } catch (error) {
      // The state database or a bug: logged, and the next look tries again.
      logger.error({ cluster: c.name, err: error }, 'watch look failed');
    }
    const intervalMs =
      Math.min(c.settings.intervalSeconds, ctx.ruled.has(c.name) ? RULE_LOOK_SECONDS : Infinity) * 1000;
    const until = Math.max(started + intervalMs, Date.now() + 50);
    while (!stopped() && Date.now() < until) {
      await nap(Math.min(until - Date.now(), RULE_LOOK_SECONDS * 1000));
      if (stopped() || Date.now() >= until) break;
      // A takeover (the lease renewal runs on its own timer) is acted on now, not after a long interval.
      if (!led && leadership.leads(c.name)) break;
      if (await ruleAppeared(ctx, c.name)) break;
    }
  }
}

export function startWatcher(deps: WatcherDeps): Watcher {
  const ctx: WatchContext = { deps, failures: new Map(), ruled: new Set() };
  let stopped = false;
  const naps = napper();
  const loops = deps.clusters.map((c) => watchLoop(ctx, c, () => stopped, naps.nap));
  return {
    snooze: (incidentId, minutes, user, mayView) => snooze(deps, incidentId, minutes, user, mayView),
    storm: (incidentId) => storm(deps, incidentId),
    relief: (incidentId) => relief(deps, incidentId),
    async stop() {
      stopped = true;
      naps.wakeAll();
      await Promise.all(loops);
      await Promise.all(deps.clusters.map((c) => c.reader.close()));
      await deps.leadership.close();
    },
  };
}
