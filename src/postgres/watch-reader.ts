// Reads one cluster for the watcher on its own tiny pool (one connection, a statement timeout under the
// interval): a watcher that waits on a slow cluster never takes a connection a listing or a kill needs.
import type pg from 'pg';
import { z } from 'zod';
import type { WatchSnapshot } from '../domain/watch.js';
import { SERVER_VERSION_SQL } from './session-sql.js';
import { queryRows } from './pools.js';
import { watchQuery } from './watch-sql.js';

const lock = z.object({
  locktype: z.string(),
  mode: z.string(),
  relation: z.string().nullable(),
  relationOid: z.number().nullable(),
  transactionId: z.string().nullable(),
});

const session = z.object({
  pid: z.number().int(),
  backendStart: z.string(),
  queryStart: z.string().nullable(),
  xactStart: z.string().nullable(),
  user: z.string().nullable(),
  database: z.string().nullable(),
  application: z.string().nullable(),
  state: z.string().nullable(),
  queryId: z.string().nullable(),
  query: z.string().nullable(),
  queryAgeSeconds: z.number().nullable(),
  xactAgeSeconds: z.number().nullable(),
  waitEventType: z.string().nullable(),
  blockedBy: z.array(z.number().int()),
  waitingFor: lock.nullable(),
  waitSeconds: z.number().nullable(),
  holding: z.array(lock),
});

const row = z.object({
  at: z.string(),
  available: z.number().int(),
  connections: z.object({ total: z.number(), idle: z.number(), active: z.number(), idleInTransaction: z.number() }),
  sessions: z.array(session),
  walsenders: z.array(z.object({ pid: z.number().int(), backendStart: z.string(), application: z.string().nullable(), lagBytes: z.number().nullable() })),
});

export interface WatchReader {
  cluster: string;
  read(options: { walsenders: boolean }): Promise<WatchSnapshot>;
  /** Wall time and server-side time of the last read, for the benchmark and metrics. */
  lastReadMs(): number;
  close(): Promise<void>;
}

export function createWatchReader(cluster: string, pool: pg.Pool): WatchReader {
  let version: number | null = null;
  let last = 0;
  return {
    cluster,
    async read(options) {
      const started = performance.now();
      version ??= Number((await queryRows(pool, SERVER_VERSION_SQL))[0]?.num);
      const query = watchQuery(version, options.walsenders);
      const [first] = await queryRows(pool, query.text, query.values);
      last = performance.now() - started;
      const parsed = row.parse(first);
      return {
        cluster,
        at: parsed.at,
        sessions: parsed.sessions,
        connections: { ...parsed.connections, available: parsed.available },
        walsenders: parsed.walsenders,
      };
    },
    lastReadMs: () => last,
    close: () => pool.end().catch(() => undefined),
  };
}
