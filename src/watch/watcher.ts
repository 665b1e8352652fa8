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

/**
 * A rule approved on any replica is noticed within RULE_LOOK_SECONDS, not after a long watch interval: one
 * statement every RULE_LOOK_SECONDS for the whole replica (not one per cluster: 200 clusters on 3 replicas
 * made that 300 statements a second on the state database), read by each cluster's loop.
 */
async function pollRules(
  ctx: WatchContext,
  stopped: () => boolean,
  naps: { nap: (ms: number) => Promise<void>; wakeAll: () => void },
) {
  const { rules } = ctx.deps;
  if (!rules) return;
  while (!stopped()) {
    const at = Date.now();
    try {
      const active = await rules.activeClusters();
      for (const cluster of [...ctx.ruleSeenAt.keys()]) if (!active.has(cluster)) ctx.ruleSeenAt.delete(cluster);
      const appeared = [...active].some((cluster) => !ctx.ruleSeenAt.has(cluster) && !ctx.ruled.has(cluster));
      for (const cluster of active) ctx.ruleSeenAt.set(cluster, at);
      // The loops nap up to 2 s: woken now, the cluster's look comes at once, not up to one nap later.
      if (appeared) naps.wakeAll();
    } catch {
      // The state database: each look still checks its own cluster's rules.
    }
    await naps.nap(RULE_LOOK_SECONDS * 1000);
  }
}

/** Whether the poll saw a rule on this cluster since its last look began, while the look found none. */
function ruleAppeared(ctx: WatchContext, cluster: string, since: number): boolean {
  return !ctx.ruled.has(cluster) && (ctx.ruleSeenAt.get(cluster) ?? 0) > since;
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
      if (led && ruleAppeared(ctx, c.name, started)) break;
    }
  }
}

export function startWatcher(deps: WatcherDeps): Watcher {
  const ctx: WatchContext = { deps, failures: new Map(), ruled: new Set(), ruleSeenAt: new Map() };
  let stopped = false;
  const naps = napper();
  const loops = [
    ...deps.clusters.map((c) => watchLoop(ctx, c, () => stopped, naps.nap)),
    pollRules(ctx, () => stopped, naps),
  ];
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
