// Watching spread over replicas: the leadership pgsessions runs with. Each replica heartbeats in
// pgsessions.watch_replicas (migration 012) with the clusters it watches, reads the live replicas back, and
// computes the same fair share as every other replica (src/domain/share.ts). It takes the leases of its
// share (pgsessions.watch_leases, migration 006, with their fencing tokens) and gives back a lease beyond its
// share only at a safe point: when that cluster's loop asks to lead it again, between two looks, so no look
// is cut in half. The new leader takes it at its next renewal and goes on from the incidents in the state
// database: nothing is lost or posted twice. A dead replica's heartbeat and leases expire by the state
// database's clock and the others share its clusters. Two statements per renewal period whatever the number
// of clusters, each standing alone: it works through a transaction pooler.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type pg from 'pg';
import type { Fence } from '../domain/lease.js';
import { shareOf, type ReplicaView } from '../domain/share.js';
import type { Logger } from '../logger.js';
import { createPool, describeConnectionError } from '../postgres/pools.js';
import { SQL_RELEASE_LEASES } from '../postgres/lease-sql.js';
import { SQL_HEARTBEAT, SQL_LEASE_BATCH, SQL_LEAVE, SQL_RELEASE_ONE } from '../postgres/replica-sql.js';
import { DEFAULT_LEASE_SECONDS, type Leadership, type LeadershipOptions } from './leadership.js';

export interface SpreadOptions extends LeadershipOptions {
  /** The clusters this replica watches (more are added as the watcher asks to lead them). */
  clusters?: readonly string[];
}

export interface SpreadLeadership extends Leadership {
  /** Clusters this replica leads right now (the `pgsessions_watch_leading` gauge). */
  leading(): number;
  /**
   * The clusters this replica watches from now on (a reloaded clusters file): its next heartbeat says so, and
   * the lease of a cluster no longer watched is given back at once (its loop has stopped).
   */
  watchOnly(clusters: readonly string[]): void;
}

interface Held {
  fence: Fence;
  /** Local time the renewal was sent: the lease runs at least leaseMs from then. */
  sentAt: number;
}

/** What the last heartbeat said: the live replicas, this replica's share of the clusters, who is a member. */
function createView(holder: string) {
  /** The live replicas at the last heartbeat; null until one answered (then every cluster is this one's to try). */
  let replicas: ReplicaView[] | null = null;
  let share = new Set<string>();
  /** The live replicas' names, as one string: a change of it is a join or a departure. */
  let members = '';
  return {
    update(rows: ReplicaView[], known: readonly string[]) {
      replicas = rows;
      share = shareOf(holder, known, rows);
      members = rows
        .map((r) => r.holder)
        .sort()
        .join('\n');
    },
    mine: (cluster: string) => replicas === null || share.has(cluster),
    members: () => members,
  };
}

/** The leases this replica holds, as the state database last answered, and which of them it took as orphans. */
export function createBook(logger: Logger, leaseMs: number) {
  const held = new Map<string, Held>();
  /**
   * Clusters taken as orphans (not this replica's share: their leader never took or renewed them), with the
   * members they were taken under: kept until a replica joins or leaves, not handed back to a leader that does
   * not lead (that would leave the cluster unwatched for two leases again and again).
   */
  const orphans = new Map<string, string>();
  const fresh = (h: Held | undefined): h is Held => h !== undefined && Date.now() - h.sentAt < leaseMs;
  return {
    held,
    fresh,
    /** The answer to one batch sent at `sentAt`: every lease this replica holds now. */
    record(
      rows: Array<{ cluster: string; token: string }>,
      sentAt: number,
      mine: (c: string) => boolean,
      members: string,
    ) {
      const now = new Map(rows.map((r) => [r.cluster, r.token]));
      const lost = [...held.keys()].filter((c) => !now.has(c));
      if (lost.length > 0) logger.warn({ clusters: lost }, 'another replica watches this cluster now');
      for (const c of lost) this.forget(c);
      const gained: string[] = [];
      for (const [cluster, token] of now) {
        const before = held.get(cluster);
        if (before?.fence.token !== token) {
          gained.push(cluster);
          // Re-taken by this replica after its own lease lapsed (a renewal late by more than a lease): not an
          // orphan taken, whatever the share says now. Counted as one, a cluster held beyond the share when its
          // renewal came late was kept for good instead of given back (a forged heartbeat's share included).
          if (before === undefined) {
            if (mine(cluster)) orphans.delete(cluster);
            else orphans.set(cluster, members);
          }
        }
        held.set(cluster, { fence: { cluster, token }, sentAt });
      }
      if (gained.length > 0) logger.info({ clusters: gained, leading: held.size }, 'watching this cluster (leader)');
    },
    /** Held beyond this replica's share, and not an orphan kept under the same members: to give back. */
    toGiveBack(cluster: string, mine: boolean, members: string): Held | null {
      const h = held.get(cluster);
      return h && !mine && orphans.get(cluster) !== members ? h : null;
    },
    forget(cluster: string) {
      held.delete(cluster);
      orphans.delete(cluster);
    },
    leading: () => [...held.values()].filter(fresh).length,
  };
}

/**
 * Runs `work` (a heartbeat and a batch of leases) one at a time, callers sharing the one in flight, and every
 * statement through `serial`, one after another: a release never races a renewal. Trouble is said once per
 * spell (a read-only or unreachable state database), not once per try.
 */
function createTicker(logger: Logger, work: () => Promise<void>) {
  let chain: Promise<unknown> = Promise.resolve();
  const serial = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };
  let troubled = false;
  let ticking: Promise<void> | null = null;
  const tick = (): Promise<void> => {
    ticking ??= serial(async () => {
      try {
        await work();
        if (troubled) logger.info('the state database answers again: leases renewed');
        troubled = false;
      } catch (error) {
        if (!troubled)
          logger.warn(
            { error: describeConnectionError(error) },
            'cannot take or renew the watch lease: not watching until the state database answers (will keep trying)',
          );
        troubled = true;
      }
    }).finally(() => {
      ticking = null;
    });
    return ticking;
  };
  // The first tick waits a turn, so that every cluster loop started with the watcher is in its heartbeat.
  let first: Promise<void> | null = null;
  const started = () => {
    first ??= new Promise<void>((resolve) => setTimeout(resolve, 0)).then(tick);
    return first;
  };
  return { serial, tick, started, idle: () => chain };
}

/** One lease given back (the safe point is the caller's), for the replica whose share it is. */
async function giveBack(
  pool: pg.Pool,
  holder: string,
  book: ReturnType<typeof createBook>,
  logger: Logger,
  cluster: string,
  h: Held,
): Promise<void> {
  if (book.held.get(cluster) !== h) return;
  book.forget(cluster);
  try {
    await pool.query(SQL_RELEASE_ONE, [cluster, holder, h.fence.token]);
    logger.info({ cluster, leading: book.held.size }, 'gave the cluster to the replica whose share it is');
  } catch (error) {
    // Not given back: it expires by itself within a lease, and its new leader takes it then.
    logger.warn({ cluster, error: describeConnectionError(error) }, 'could not give the lease back');
  }
}

export function createSpreadLeadership(url: string, logger: Logger, options: SpreadOptions = {}): SpreadLeadership {
  const leaseSeconds = options.leaseSeconds ?? DEFAULT_LEASE_SECONDS;
  const leaseMs = leaseSeconds * 1000;
  const renewMs = Math.max(100, Math.floor(leaseMs / 3));
  /** An expired lease nobody took for this long is an orphan: its rightful leader is stuck, anyone takes it. */
  const orphanSeconds = leaseSeconds * 2;
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // Its own connection: a state pool busy with listings must not delay a renewal past expiry.
  const pool = createPool(url, logger, { max: 1, connectTimeoutMs: Math.min(5_000, renewMs * 2) });
  const known = new Set<string>(options.clusters ?? []);
  const startedAt = Date.now();
  const view = createView(holder);
  const book = createBook(logger, leaseMs);
  let closed = false;
  const work = () =>
    beatAndRenew().catch((error: unknown) => {
      book.held.clear();
      throw error;
    });
  const { serial, tick, idle, started } = createTicker(logger, work);

  /** The heartbeat, then one batch for every lease: what this replica holds, and what is its to take. */
  async function beatAndRenew(): Promise<void> {
    if (closed) return;
    const beat = await pool.query<ReplicaView>(SQL_HEARTBEAT, [holder, [...known].sort(), leaseSeconds]);
    view.update(beat.rows, [...known]);
    const sentAt = Date.now();
    const clusters = [...known].sort();
    const want = clusters.map((c) => book.held.has(c) || view.mine(c));
    const orphansToo = Date.now() - startedAt >= orphanSeconds * 1000;
    const batch = [clusters, want, holder, leaseSeconds, orphanSeconds, orphansToo];
    const { rows } = await pool.query<{ cluster: string; token: string }>(SQL_LEASE_BATCH, batch);
    if (!closed) book.record(rows, sentAt, view.mine, view.members());
  }

  /** Gives `cluster` back to the replica whose share it is: called only between two looks of it. */
  const release = (cluster: string, h: Held) => serial(() => giveBack(pool, holder, book, logger, cluster, h));
  const timer = setInterval(() => void tick(), renewMs);
  timer.unref();

  return {
    async lead(cluster) {
      if (closed) return null;
      known.add(cluster);
      await started();
      const giveBack = book.toGiveBack(cluster, view.mine(cluster), view.members());
      if (giveBack) {
        await release(cluster, giveBack);
        return null;
      }
      let h = book.held.get(cluster);
      if (h && Date.now() - h.sentAt >= renewMs) {
        await tick();
        h = book.held.get(cluster);
      }
      return !closed && book.fresh(h) ? h.fence : null;
    },
    leads: (cluster) => book.fresh(book.held.get(cluster)),
    leading: book.leading,
    watchOnly(clusters) {
      const next = new Set(clusters);
      for (const c of [...known]) if (!next.has(c)) known.delete(c);
      for (const c of next) known.add(c);
      for (const [c, h] of [...book.held]) if (!next.has(c)) void release(c, h);
      if (!closed) void tick();
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await idle();
      book.held.clear();
      await pool.query(SQL_RELEASE_LEASES, [holder]).catch(() => undefined);
      await pool.query(SQL_LEAVE, [holder]).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
