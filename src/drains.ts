// Maintenance drains wired for the composition root (docs/drain.md): one drain port per cluster, the state
// store, the use cases, and what start-up says about which databases each cluster's role can drain.
import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import type { Config } from './config.js';
import type { Binder } from './domain/binding.js';
import { createDrainService, type DrainService } from './domain/drain-service.js';
import type { GroupsPort } from './domain/policy.js';
import type { RequestSettings } from './domain/request-service.js';
import type { RequestStorePort } from './domain/state-ports.js';
import { createDrainSql, type DrainSql } from './postgres/drain-sql.js';
import { createDrainStore } from './postgres/drain-store.js';
import { isConnectionError } from './postgres/pools.js';
import type { LiveClusters } from './live-clusters.js';
import type { AuditEntry, AuditEntryInput } from './domain/audit.js';
import { createDrainMessages } from './slack/adapters/drain-messages.js';
import { createRequestMessages } from './slack/adapters/request-messages.js';

/** host:port/database of a PostgreSQL URL (defaults as libpq has them), to tell whether two URLs name one database. */
export function databaseOf(url: string): { server: string; database: string } | null {
  try {
    const u = new URL(url);
    const host = u.hostname || u.searchParams.get('host') || 'localhost';
    const port = u.port || u.searchParams.get('port') || '5432';
    const database = decodeURIComponent(u.pathname.replace(/^\//, '')) || decodeURIComponent(u.username) || 'postgres';
    return { server: `${host.toLowerCase()}:${port}`, database };
  } catch {
    return null;
  }
}

export interface DrainWiring {
  config: Config;
  /** The clusters served now (they change when the clusters file is reloaded). */
  clusters: Pick<LiveClusters, 'get' | 'config'>;
  statePool: pg.Pool;
  state: Pick<RequestStorePort, 'createRequest' | 'setMessageTs' | 'withdraw' | 'get'> & {
    appendIn(client: pg.PoolClient, entry: AuditEntryInput): Promise<AuditEntry>;
    binder: Binder;
  };
  client: WebClient;
  once: WebClient;
  groups: GroupsPort;
  settings: RequestSettings;
}

export function createDrains(w: DrainWiring): DrainService {
  // One per cluster's pool: a cluster reopened by a reload gets a new pool, and so a new one.
  const sqls = new WeakMap<pg.Pool, DrainSql>();
  const sqlOf = (pool: pg.Pool) => sqls.get(pool) ?? sqls.set(pool, createDrainSql(pool)).get(pool)!;
  const state = databaseOf(w.config.stateDatabaseUrl);
  return createDrainService({
    drains: createDrainStore(w.statePool, w.state.appendIn),
    requests: w.state,
    cluster: (name) => {
      const c = w.clusters.get(name);
      return c ? { ...c, drain: sqlOf(c.pool) } : undefined;
    },
    messages: createDrainMessages(w.client, createRequestMessages(w.client, w.once, w.config.queryText)),
    groups: w.groups,
    binder: w.state.binder,
    settings: { ...w.settings, drainMaxSeconds: w.config.drainMaxSeconds },
    isStateDatabase: (cluster, database) => {
      const url = w.clusters.config(cluster)?.url;
      const server = url ? databaseOf(url)?.server : undefined;
      return state !== null && server === state.server && database === state.database;
    },
    isUnreachable: isConnectionError,
  });
}
