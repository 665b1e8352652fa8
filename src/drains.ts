// Maintenance drains wired for the composition root (docs/drain.md): one drain port per cluster, the state
// store, the use cases, and what start-up says about which databases each cluster's role can drain.
import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import type { Config } from './config.js';
import type { Binder } from './domain/binding.js';
import { createDrainService, type DrainService } from './domain/drain-service.js';
import type { GroupsPort } from './domain/policy.js';
import type { RequestSettings } from './domain/requests.js';
import type { RequestStorePort } from './domain/state-ports.js';
import type { Logger } from './logger.js';
import { createDrainSql, type DrainSql } from './postgres/drain-sql.js';
import { createDrainStore } from './postgres/drain-store.js';
import { describeConnectionError, isConnectionError } from './postgres/pools.js';
import type { Cluster } from './postgres/session-store.js';
import type { AuditEntry, AuditEntryInput } from './domain/audit.js';
import { createDrainMessages } from './slack/drain-messages.js';
import { createRequestMessages } from './slack/request-messages.js';

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
  clusters: Map<string, Cluster>;
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
  const sqls = new Map<string, DrainSql>([...w.clusters].map(([name, c]) => [name, createDrainSql(c.pool)]));
  const state = databaseOf(w.config.stateDatabaseUrl);
  const urls = new Map(w.config.clusters.map((c) => [c.name, databaseOf(c.url)]));
  return createDrainService({
    drains: createDrainStore(w.statePool, w.state.appendIn),
    requests: w.state,
    cluster: (name) => {
      const c = w.clusters.get(name);
      const drain = sqls.get(name);
      return c && drain ? { ...c, drain } : undefined;
    },
    messages: createDrainMessages(w.client, createRequestMessages(w.client, w.once, w.config.queryText)),
    groups: w.groups,
    binder: w.state.binder,
    settings: { ...w.settings, drainMaxSeconds: w.config.drainMaxSeconds },
    isStateDatabase: (cluster, database) => {
      const server = urls.get(cluster)?.server;
      return state !== null && server === state.server && database === state.database;
    },
    isUnreachable: isConnectionError,
  });
}

/** Start-up capability lines: per cluster, which databases the bot's role can drain. */
export async function sayDrainable(clusters: Map<string, Cluster>, log: Logger): Promise<void> {
  for (const [name, c] of clusters) {
    try {
      const names = await createDrainSql(c.pool).drainable();
      if (names.length === 0)
        log.info(
          { cluster: name },
          'the bot role can drain no database (it needs the owner’s rights: docs/database-role.md)',
        );
      else
        log.info({ cluster: name, databases: names.slice(0, 50) }, `the bot role can drain ${names.length} databases`);
    } catch (error) {
      log.warn(
        { cluster: name, error: describeConnectionError(error) },
        'could not read which databases can be drained',
      );
    }
  }
}
