// Reads one cluster for the watcher on its own tiny pool (one connection, a statement timeout under the
// interval): a watcher that waits on a slow cluster never takes a connection a listing or a kill needs.
import type pg from 'pg';
import { z } from 'zod';
import type { WatchReaderPort } from '../domain/ports.js';
import type { ConnectionGroup, WatchedSession } from '../domain/watch.js';
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

const group = z.object({
  name: z.string().nullable(),
  total: z.number().int(),
  idle: z.number().int(),
  idleInTransaction: z.number().int(),
  active: z.number().int(),
});
const top = z.object({ applications: z.array(group), users: z.array(group), clients: z.array(group) }).nullable();

const num = z.union([z.number(), z.null()]);
const text = z.union([z.string(), z.null()]);

// One row per session (session columns NULL on the meta-only row), each with the look's meta columns.
const row = z.object({
  at: z.string(),
  available: z.number().int(),
  total: z.number().int(),
  idle: z.number().int(),
  active: z.number().int(),
  idle_in_transaction: z.number().int(),
  top,
  walsenders: z.array(
    z.object({
      pid: z.number().int(),
      backendStart: z.string(),
      application: z.string().nullable(),
      lagBytes: z.number().nullable(),
    }),
  ),
  pid: num,
  backend_start: text,
  query_start: text,
  xact_start: text,
  usename: text,
  datname: text,
  application_name: text,
  state: text,
  query_id: text,
  query: text,
  query_age: num,
  xact_age: num,
  wait_event_type: text,
  blocked_by: z.array(z.number().int()).nullable(),
  want_locktype: text,
  want_mode: text,
  want_relation_oid: z.union([z.string(), z.number(), z.null()]),
  want_relation: text,
  want_xid: text,
  wait_seconds: num,
  holding: z.array(lock).nullable(),
});

function toSession(r: z.infer<typeof row>): WatchedSession | null {
  if (r.pid === null || r.backend_start === null) return null;
  return {
    pid: r.pid,
    backendStart: r.backend_start,
    queryStart: r.query_start,
    xactStart: r.xact_start,
    user: r.usename,
    database: r.datname,
    application: r.application_name,
    state: r.state,
    queryId: r.query_id,
    query: r.query,
    queryAgeSeconds: r.query_age,
    xactAgeSeconds: r.xact_age,
    waitEventType: r.wait_event_type,
    blockedBy: r.blocked_by ?? [],
    waitingFor:
      r.want_mode !== null && r.want_locktype !== null
        ? {
            locktype: r.want_locktype,
            mode: r.want_mode,
            relation: r.want_relation,
            relationOid: r.want_relation_oid === null ? null : Number(r.want_relation_oid),
            transactionId: r.want_xid,
          }
        : null,
    waitSeconds: r.wait_seconds,
    holding: r.holding ?? [],
  };
}

const named = (g: z.infer<typeof group>): ConnectionGroup => ({ ...g, name: g.name ?? '' });

export function createWatchReader(cluster: string, pool: pg.Pool): WatchReaderPort {
  let version: number | null = null;
  let last = 0;
  return {
    cluster,
    async read(options) {
      const started = performance.now();
      version ??= Number((await queryRows(pool, SERVER_VERSION_SQL))[0]?.num);
      const query = watchQuery(version, options.walsenders, options.connectionsShare ?? null);
      const rows = (await queryRows(pool, query.text, query.values)).map((r) => row.parse(r));
      last = performance.now() - started;
      const meta = rows[0];
      if (!meta) throw new Error('the watch query returned no row');
      return {
        cluster,
        at: meta.at,
        sessions: rows.map(toSession).filter((s): s is WatchedSession => s !== null),
        connections: {
          total: meta.total,
          available: meta.available,
          idle: meta.idle,
          active: meta.active,
          idleInTransaction: meta.idle_in_transaction,
          ...(meta.top
            ? {
                top: {
                  applications: meta.top.applications.map(named),
                  users: meta.top.users.map(named),
                  clients: meta.top.clients.map(named),
                },
              }
            : {}),
        },
        walsenders: meta.walsenders,
      };
    },
    lastReadMs: () => last,
    close: () => pool.end().catch(() => undefined),
  } satisfies WatchReaderPort;
}
