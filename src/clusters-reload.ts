// Reloads PGSESSIONS_CLUSTERS without a restart: on a change to the file's directory (an edit in place, an
// editor's rename, a Kubernetes ConfigMap's symlink swap), on SIGHUP, and on a slow poll that catches what a
// file watch misses (network filesystems, a watch the kernel dropped). A broken file keeps the previous set
// whole and is logged once with every problem; a good one is handed to `apply` with what changed.
import { createHash } from 'node:crypto';
import { type FSWatcher, readFileSync, watch } from 'node:fs';
import { dirname } from 'node:path';
import { ConfigError } from './config.js';
import { type ClusterSetChange, describeClusterChange, diffClusterSets, isNoChange } from './domain/cluster-set.js';
import type { Logger } from './logger.js';

export interface ClusterSet<C> {
  /** Each cluster's name and a fingerprint of everything about it (connection included; never shown). */
  fingerprints: Map<string, string>;
  value: C;
}

export interface ClustersReloadOptions<C> {
  path: string;
  /** The set as the file says now; throws ConfigError naming every problem. */
  load(): ClusterSet<C>;
  /** The set loaded at start-up. */
  current: ClusterSet<C>;
  /** Puts a new set to work; runs one at a time, never concurrently. */
  apply(next: C, change: ClusterSetChange): Promise<void>;
  logger: Logger;
  /** How often the file is read when nothing was heard from the watch (default 5 s). */
  pollMs?: number;
  /** Listen to SIGHUP (default true). */
  sighup?: boolean;
  /** Watch the file's directory (default true; off, only the poll and SIGHUP reload). */
  fileWatch?: boolean;
}

export type ReloadOutcome =
  | { status: 'unchanged' }
  | { status: 'applied'; change: ClusterSetChange }
  | { status: 'refused'; problems: string[] };

export interface ClustersReload {
  /** Reads the file now and applies it if it changed. */
  reload(): Promise<ReloadOutcome>;
  close(): void;
}

const digest = (text: string) => createHash('sha256').update(text).digest('hex');

export function watchClustersFile<C>(options: ClustersReloadOptions<C>): ClustersReload {
  const log = options.logger;
  let current = options.current;
  let lastText = safeRead(options.path);
  let lastRefused: string | null = null;
  let running: Promise<ReloadOutcome> = Promise.resolve({ status: 'unchanged' });
  let closed = false;

  async function check(force: boolean): Promise<ReloadOutcome> {
    const text = safeRead(options.path);
    if (!force && text !== null && text === lastText) return { status: 'unchanged' };
    lastText = text;
    let next: ClusterSet<C>;
    try {
      next = options.load();
    } catch (error) {
      const problems = error instanceof ConfigError ? error.problems : [(error as Error).message];
      // Once per broken content, not once per poll: the log says it when it happens.
      const key = digest(`${text ?? ''}\n${problems.join('\n')}`);
      if (key !== lastRefused) {
        lastRefused = key;
        log.error(
          { problems },
          `the clusters file was not reloaded; the previous clusters stay in use: ${problems.join('; ')}`,
        );
      }
      return { status: 'refused', problems };
    }
    lastRefused = null;
    const change = diffClusterSets(current.fingerprints, next.fingerprints);
    if (isNoChange(change)) return { status: 'unchanged' };
    await options.apply(next.value, change);
    current = next;
    log.info({ ...change }, `clusters file reloaded: ${describeClusterChange(change)}`);
    return { status: 'applied', change };
  }

  const reload = (force = true) => {
    running = running.then(
      () => (closed ? { status: 'unchanged' as const } : check(force)),
      () => check(force),
    );
    return running.catch((error: unknown) => {
      log.error({ error: (error as Error).message }, 'applying the clusters file failed');
      return { status: 'refused' as const, problems: [(error as Error).message] };
    });
  };

  // The directory, not the file: a rename or a symlink swap replaces the file the watch would have followed.
  let debounce: NodeJS.Timeout | null = null;
  let watcher: FSWatcher | null = null;
  try {
    if (options.fileWatch !== false)
      watcher = watch(dirname(options.path), () => {
        if (debounce) clearTimeout(debounce);
        debounce = setTimeout(() => void reload(false), 200);
      });
    watcher?.on('error', () => undefined);
  } catch (error) {
    log.warn({ error: (error as Error).message }, 'cannot watch the clusters file; it is read every few seconds');
  }
  const poll = setInterval(() => void reload(false), options.pollMs ?? 5_000);
  poll.unref();
  const onHangup = () => {
    log.info('SIGHUP: reading the clusters file');
    void reload(true);
  };
  if (options.sighup !== false) process.on('SIGHUP', onHangup);

  return {
    reload: () => reload(true),
    close() {
      closed = true;
      if (debounce) clearTimeout(debounce);
      watcher?.close();
      clearInterval(poll);
      process.off('SIGHUP', onHangup);
    },
  };
}

function safeRead(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
