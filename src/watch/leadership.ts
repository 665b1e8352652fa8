// Exactly one watcher per cluster across replicas: a session-level advisory lock per cluster, held on one
// dedicated connection to the state database. When the holder dies or loses that connection the server
// releases its locks, and another replica takes them on its next look (within one interval).
import pg from 'pg';
import type { Logger } from '../logger.js';
import { APPLICATION_NAME } from '../postgres/pools.js';
import { scrubSecrets } from '../logger.js';

/** Advisory lock class of watcher leadership (the second key is hashtext(cluster name)). */
export const WATCH_LOCK_CLASS = 7246379;

const SQL_TRY = 'SELECT pg_try_advisory_lock($1::int, hashtext($2)) AS held';
const SQL_ALIVE = 'SELECT 1';

export interface Leadership {
  /** True while this process is the watcher of `cluster`; tries to become it when nobody is. */
  holds(cluster: string): Promise<boolean>;
  close(): Promise<void>;
}

export function createLeadership(url: string, logger: Logger, options: { timeoutMs?: number } = {}): Leadership {
  const timeoutMs = options.timeoutMs ?? 5_000;
  let client: pg.Client | null = null;
  let connecting: Promise<pg.Client> | null = null;
  const held = new Set<string>();
  let checkedAt = 0;
  let closed = false;
  /**
   * One query at a time on the one connection: every watched cluster's loop asks it, and pg deprecates
   * queueing a query on a client that is still running one.
   */
  let queue: Promise<unknown> = Promise.resolve();
  const serially = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };

  const lose = (why: string) => {
    if (held.size > 0) logger.warn({ clusters: [...held], why }, 'lost the leadership connection: another replica may watch now');
    held.clear();
    const old = client;
    client = null;
    old?.end().catch(() => undefined);
  };

  const connect = async (): Promise<pg.Client> => {
    if (client) return client;
    connecting ??= (async () => {
      const c = new pg.Client({
        connectionString: url,
        application_name: APPLICATION_NAME,
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
        keepAlive: true,
      });
      c.on('error', (error) => lose(scrubSecrets(error.message)));
      c.on('end', () => {
        if (client === c) lose('connection ended');
      });
      await c.connect();
      client = c;
      return c;
    })().finally(() => {
      connecting = null;
    });
    return connecting;
  };

  return {
    async holds(cluster) {
      if (closed) return false;
      try {
        const c = await connect();
        if (held.has(cluster)) {
          // One liveness check per look is enough: the locks live exactly as long as this connection.
          if (Date.now() - checkedAt > 200) {
            await serially(() => c.query(SQL_ALIVE));
            checkedAt = Date.now();
          }
          return client === c && held.has(cluster);
        }
        const { rows } = await serially(() => c.query<{ held: boolean }>(SQL_TRY, [WATCH_LOCK_CLASS, cluster]));
        if (rows[0]?.held === true) {
          held.add(cluster);
          logger.info({ cluster }, 'watching this cluster (leader)');
          return true;
        }
        return false;
      } catch (error) {
        lose(scrubSecrets((error as Error).message ?? String(error)));
        return false;
      }
    },
    async close() {
      closed = true;
      const c = client;
      client = null;
      held.clear();
      await c?.end().catch(() => undefined);
    },
  };
}
