// The clusters pgsessions serves right now, by name: each with its reserved connection (lifeline), its pool
// for listings and its pool for approved signals. The set starts as the config says and changes when the
// clusters file is reloaded (clusters-reload.ts): a cluster added is opened, one removed is closed, one changed
// is closed and opened again. Everything that looks a cluster up does so here, at the moment it needs it.
import { createHash } from 'node:crypto';
import type { ClusterConfig, WatchSettings } from './config.js';
import type { ClusterSetChange } from './domain/cluster-set.js';
import type { Logger } from './logger.js';
import type { Metrics } from './metrics.js';
import { instrumentCluster } from './metrics.js';
import { createLifeline, type Lifeline } from './postgres/lifeline.js';
import { APPLICATION_NAME, createPool } from './postgres/pools.js';
import { type Cluster, createCluster } from './postgres/session-store.js';
import type pg from 'pg';

/** The part of the config that a reload may change. */
export interface ClusterSettings {
  clusters: ClusterConfig[];
  watch: Record<string, WatchSettings>;
}

interface Opened {
  config: ClusterConfig;
  cluster: Cluster;
  lifeline: Lifeline;
  signalPool: pg.Pool;
}

export interface LiveClustersOptions {
  logger: Logger;
  metrics: Metrics;
  /** Connections per cluster kept for approved signals. */
  signalPoolSize: number;
  idleTimeoutMs?: number;
  lifelineHealthIntervalMs?: number;
}

export interface LiveClusters {
  get(name: string): Cluster | undefined;
  all(): Cluster[];
  names(): string[];
  config(name: string): ClusterConfig | undefined;
  configs(): ClusterConfig[];
  watchSettings(): Record<string, WatchSettings>;
  lifeline(name: string): Lifeline | undefined;
  /** Opens the reserved connections (once the app is up; those of clusters added later open at once). */
  openLifelines(): Promise<void>;
  /** Puts a reloaded set to work: opens what was added or changed, closes what was removed or changed. */
  replace(next: ClusterSettings, change: ClusterSetChange): Promise<void>;
  close(): Promise<void>;
}

/** Everything about a cluster that a reload compares (its connection included; the fingerprint is never shown). */
export function fingerprintsOf(settings: ClusterSettings): Map<string, string> {
  return new Map(
    settings.clusters.map((c) => [
      c.name,
      createHash('sha256')
        .update(JSON.stringify([c, settings.watch[c.name] ?? null]))
        .digest('hex'),
    ]),
  );
}

export function createLiveClusters(initial: ClusterSettings, options: LiveClustersOptions): LiveClusters {
  const opened = new Map<string, Opened>();
  let settings = initial;
  let lifelinesOpen = false;

  const open = (c: ClusterConfig): Opened => {
    const log = options.logger;
    const lifeline = createLifeline(c.url, log.child({ module: 'lifeline', cluster: c.name }), {
      applicationName: APPLICATION_NAME,
      healthIntervalMs: options.lifelineHealthIntervalMs,
    });
    const pool = createPool(c.url, log.child({ module: 'cluster-db', cluster: c.name }), {
      lifeline,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    // Approved kills get their own connections: listings, however many, can never take them.
    const signalPool = createPool(c.url, log.child({ module: 'cluster-db', cluster: c.name, pool: 'signal' }), {
      max: options.signalPoolSize,
      lifeline,
      idleTimeoutMs: options.idleTimeoutMs,
    });
    const cluster = createCluster(c.name, pool, log.child({ module: 'sessions', cluster: c.name }), { signalPool });
    return { config: c, cluster: instrumentCluster(cluster, options.metrics), lifeline, signalPool };
  };
  const shut = async (o: Opened) => {
    await Promise.all([o.cluster.pool.end(), o.signalPool.end()].map((p) => p.catch(() => undefined)));
    await o.lifeline.close();
  };

  for (const c of initial.clusters) opened.set(c.name, open(c));

  return {
    get: (name) => opened.get(name)?.cluster,
    all: () => [...opened.values()].map((o) => o.cluster),
    names: () => [...opened.keys()],
    config: (name) => opened.get(name)?.config,
    configs: () => settings.clusters,
    watchSettings: () => settings.watch,
    lifeline: (name) => opened.get(name)?.lifeline,
    async openLifelines() {
      lifelinesOpen = true;
      await Promise.all([...opened.values()].map((o) => o.lifeline.open()));
    },
    async replace(next, change) {
      const gone = [...change.removed, ...change.changed].flatMap((name) => {
        const o = opened.get(name);
        opened.delete(name);
        return o ? [o] : [];
      });
      for (const name of [...change.added, ...change.changed]) {
        const c = next.clusters.find((x) => x.name === name);
        if (c) opened.set(name, open(c));
      }
      settings = next;
      await Promise.all(gone.map(shut));
      if (lifelinesOpen)
        await Promise.all([...change.added, ...change.changed].map((name) => opened.get(name)?.lifeline.open()));
    },
    async close() {
      await Promise.all([...opened.values()].map(shut));
      opened.clear();
    },
  };
}
