// The start-up check of every cluster (what its role can do, which databases it can drain), done so that a
// fleet starts in seconds: a few clusters at a time (never 200 connections opened at once on top of the
// watch's), each within its own timeout (a stalled cluster costs one slot that long, not the whole start),
// and never gating readiness: start-up waits for the checks a short while, the rest finish in the
// background and say what they found when they do. A cluster that did not answer is said like one that was
// down; commands say so on their own until it answers.
import type { RoleCapabilities } from '../domain/types.js';
import type { Logger } from '../logger.js';
import { describeConnectionError } from '../postgres/pools.js';
import { createDrainSql } from '../postgres/drain-sql.js';
import type { Cluster } from '../postgres/session-store.js';
import { sayRoles } from './start-up-checks.js';

export interface ClusterChecksOptions {
  /** Clusters checked at the same time (default 8). */
  concurrency?: number;
  /** How long one cluster's check is waited for (default 5 s, a connection's own timeout). */
  perClusterMs?: number;
  /** How long start-up waits for all the checks before going on without them (default 2 s). */
  waitMs?: number;
}

export const CLUSTER_CHECK_DEFAULTS = { concurrency: 8, perClusterMs: 5_000, waitMs: 2_000 } as const;

type Checked = Pick<Cluster, 'name' | 'capabilities' | 'pool'>;

const LATE = Symbol('late');

/** The promise's value, or LATE after ms (the promise goes on; a late failure is swallowed). */
export function upTo<T>(ms: number, promise: Promise<T>): Promise<T | typeof LATE> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof LATE>((resolve) => {
    timer = setTimeout(() => resolve(LATE), Math.max(0, ms));
  });
  promise.catch(() => undefined);
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

function sayDrainable(name: string, names: string[], log: Logger): void {
  if (names.length === 0)
    log.info(
      { cluster: name },
      'the bot role can drain no database (it needs the owner’s rights: docs/database-role.md)',
    );
  else log.info({ cluster: name, databases: names.slice(0, 50) }, `the bot role can drain ${names.length} databases`);
}

async function checkOne(cluster: Checked, log: Logger, perClusterMs: number, stopped: () => boolean): Promise<boolean> {
  const name = cluster.name;
  let capabilities: RoleCapabilities | null = null;
  try {
    const answer = await upTo(perClusterMs, cluster.capabilities());
    if (answer !== LATE) capabilities = answer;
  } catch {
    // said below as unreachable, like a cluster that did not answer in time
  }
  if (stopped()) return true;
  sayRoles([{ name, capabilities, reachable: capabilities !== null }], log);
  // An unreachable cluster is not asked again: its second timeout would hold a slot for nothing.
  if (capabilities === null) return false;
  try {
    const names = await upTo(perClusterMs, createDrainSql(cluster.pool).drainable());
    if (names === LATE) throw new Error(`no answer within ${perClusterMs} ms`);
    sayDrainable(name, names, log);
  } catch (error) {
    log.warn({ cluster: name, error: describeConnectionError(error) }, 'could not read which databases can be drained');
  }
  return true;
}

/**
 * Starts checking `clusters`; `wait()` resolves when all are checked or when the wait is up, whichever is
 * first. `stop()` checks no more (those in flight finish on their own).
 */
export function checkClusters(clusters: Checked[], log: Logger, options: ClusterChecksOptions = {}) {
  const { concurrency, perClusterMs, waitMs } = { ...CLUSTER_CHECK_DEFAULTS, ...options };
  const startedAt = Date.now();
  const queue = [...clusters];
  let stopped = false;
  let unreachable = 0;
  const worker = async () => {
    for (let next = queue.shift(); next && !stopped; next = queue.shift())
      if (!(await checkOne(next, log, perClusterMs, () => stopped))) unreachable += 1;
  };
  const all = Promise.all(Array.from({ length: Math.max(1, Math.min(concurrency, queue.length)) }, worker)).then(() => {
    if (!stopped && clusters.length > 1)
      log.info(
        { clusters: clusters.length, unreachable, ms: Date.now() - startedAt },
        'start-up check of every cluster done',
      );
  });
  return {
    /** Resolves once every cluster is checked, or `waitMs` after the start, whichever comes first. */
    wait: async (also: Promise<unknown> = Promise.resolve()): Promise<void> => {
      const answer = await upTo(startedAt + waitMs - Date.now(), Promise.all([all, also]));
      if (answer === LATE && !stopped)
        log.info(
          { waitedMs: waitMs, left: queue.length },
          'start-up goes on: the clusters not checked yet are checked in the background',
        );
    },
    stop() {
      stopped = true;
    },
  };
}
