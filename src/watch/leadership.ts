// Exactly one watcher per cluster across replicas: a lease row per cluster in the state database
// (pgsessions.watch_leases). The leader renews it well before it expires; another replica takes it over only
// once it has expired by the state database's clock, and each takeover increments the lease's fencing token,
// which every write the watcher makes as leader carries (a paused old leader's writes are refused). Every
// statement stands alone, so this works through a transaction pooler, unlike a session advisory lock.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Fence } from '../domain/lease.js';
import type { Logger } from '../logger.js';
import { createPool, describeConnectionError } from '../postgres/pools.js';
import { SQL_ACQUIRE_LEASE, SQL_RELEASE_LEASES } from '../postgres/lease-sql.js';

/** A lease lasts this long unless renewed: a dead leader is replaced within it plus one renewal period. */
export const DEFAULT_LEASE_SECONDS = 15;

export interface LeadershipOptions {
  /** Seconds a lease lasts without renewal (default 15); renewed, and tried by followers, every third of it. */
  leaseSeconds?: number;
  /** Who this replica is in the lease table (default host:pid:random). */
  holder?: string;
}

export interface Leadership {
  /**
   * The fence of `cluster` while this replica leads it: renewed when due, taken when the lease is free or
   * expired. Null while another replica leads it, or while the state database cannot be asked.
   */
  lead(cluster: string): Promise<Fence | null>;
  /** Whether this replica led `cluster` at its last renewal (no query): a follower's loop wakes on a takeover. */
  leads(cluster: string): boolean;
  /** Gives this replica's leases back, so another replica takes over at its next try. */
  close(): Promise<void>;
}

interface Held {
  fence: Fence;
  /** Local time the renewal was sent: the lease runs at least leaseMs from then. */
  sentAt: number;
}

export function createLeadership(url: string, logger: Logger, options: LeadershipOptions = {}): Leadership {
  const leaseMs = (options.leaseSeconds ?? DEFAULT_LEASE_SECONDS) * 1000;
  const renewMs = Math.max(100, Math.floor(leaseMs / 3));
  const holder = options.holder ?? `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;
  // Its own connection: a state pool busy with listings must not delay a renewal past expiry.
  const pool = createPool(url, logger, { max: 1, connectTimeoutMs: Math.min(5_000, renewMs * 2) });
  const held = new Map<string, Held>();
  const known = new Set<string>();
  const inFlight = new Map<string, Promise<Fence | null>>();
  let troubled = false;
  let closed = false;

  const ask = async (cluster: string): Promise<Fence | null> => {
    const sentAt = Date.now();
    const before = held.get(cluster);
    try {
      const { rows } = await pool.query<{ token: string }>(SQL_ACQUIRE_LEASE, [cluster, holder, leaseMs / 1000]);
      if (troubled) logger.info('the state database answers again: leases renewed');
      troubled = false;
      const token = rows[0]?.token;
      if (!token || closed) {
        if (before) logger.warn({ cluster }, 'another replica watches this cluster now');
        held.delete(cluster);
        return null;
      }
      if (before?.fence.token !== token) logger.info({ cluster, token }, 'watching this cluster (leader)');
      const fence = { cluster, token };
      held.set(cluster, { fence, sentAt });
      return fence;
    } catch (error) {
      // Said once per spell of trouble (a read-only or unreachable state database), not once per try.
      if (!troubled)
        logger.warn(
          { cluster, error: describeConnectionError(error) },
          'cannot take or renew the watch lease: not watching until the state database answers (will keep trying)',
        );
      troubled = true;
      held.delete(cluster);
      return null;
    }
  };

  /** One question per cluster at a time: the renewal timer and the cluster's loop share it. */
  const refresh = (cluster: string): Promise<Fence | null> => {
    const running = inFlight.get(cluster);
    if (running) return running;
    const next = ask(cluster).finally(() => inFlight.delete(cluster));
    inFlight.set(cluster, next);
    return next;
  };

  // Renews what is held and tries what is not, whatever the watch interval (up to 5 minutes) is.
  const timer = setInterval(() => {
    for (const cluster of known) void refresh(cluster);
  }, renewMs);
  timer.unref();

  return {
    async lead(cluster) {
      if (closed) return null;
      known.add(cluster);
      const h = held.get(cluster);
      const age = Date.now() - (h?.sentAt ?? 0);
      if (h && age < renewMs) return h.fence;
      return refresh(cluster);
    },
    leads(cluster) {
      const h = held.get(cluster);
      return h !== undefined && Date.now() - h.sentAt < leaseMs;
    },
    async close() {
      closed = true;
      clearInterval(timer);
      await Promise.all([...inFlight.values()]);
      held.clear();
      await pool.query(SQL_RELEASE_LEASES, [holder]).catch(() => undefined);
      await pool.end().catch(() => undefined);
    },
  };
}
