// Reads and signals sessions on one managed cluster. Rows are checked and mapped at this boundary; the rest
// of the app sees SessionRow, never a pg row.
import type pg from 'pg';
import { buildBlockingTree } from '../domain/blocking.js';
import { SessionNotVisible } from '../domain/errors.js';
import type { ManagedClusterPort, SignalGuard } from '../domain/ports.js';
import type { ListFilters, RoleCapabilities } from '../domain/types.js';
import type { Logger } from '../logger.js';
import { queryRouted, queryRows } from './pools.js';
import { toConnectionUse, toRecoveryState, toReplicationRow, toSessionRow } from './session-rows.js';
import { signalSession, stillThere } from './session-signal.js';
import {
  HIDDEN_SESSIONS_SQL,
  RECOVERY_SQL,
  ROLE_CAPABILITIES_SQL,
  SERVER_VERSION_SQL,
  blockingQuery,
  bulkTargetsQuery,
  listSessionsQuery,
  reliefTargetsQuery,
  replicationQuery,
  sessionByPidQuery,
  type SqlQuery,
} from './session-sql.js';

export type { SignalGuard };

const listArgs = (query: SqlQuery): [string, unknown[]] => [query.text, query.values];

/** The session store of one cluster: the port, and the pool and server version the composition root uses. */
export interface Cluster extends ManagedClusterPort {
  pool: pg.Pool;
  versionNum(): Promise<number>;
}

export interface ClusterPools {
  /**
   * Connections only signals (and the identity checks around them) use, so that an approved kill never
   * queues behind listings, however many people list at once. Defaults to `pool` (one pool for all).
   */
  signalPool?: pg.Pool;
}

async function capabilitiesOf(pool: pg.Pool): Promise<RoleCapabilities> {
  const result = await pool.query(ROLE_CAPABILITIES_SQL);
  const row = result.rows[0] as Record<string, unknown> | undefined;
  if (!row) throw new Error('the bot role is not in pg_roles');
  return {
    role: String(row.role),
    superuser: row.superuser === true,
    readAllStats: row.read_all_stats === true,
    signalBackend: row.signal_backend === true,
    reservedConnections:
      Number(row.server_version_num) >= 160_000
        ? { member: row.use_reserved === true, reserved: Number(row.reserved_connections ?? 0) }
        : null,
    serverVersion: String(row.server_version),
    serverVersionNum: Number(row.server_version_num),
  };
}

/** The listing: one statement on a primary, plus the hidden count and the recovery only when they apply. */
async function listSessions(
  pool: pg.Pool,
  version: number,
  filters: ListFilters,
  seesEverything: () => Promise<boolean>,
): ReturnType<Cluster['list']> {
  const run = (text: string) => queryRows(pool, text, []);
  const { rows: all, refused } = await queryRouted(pool, ...listArgs(listSessionsQuery(version, filters)));
  // The first row always carries the header (connection use, recovery); its pid is NULL when nothing matched.
  const header = all[0];
  const rows = all.filter((row) => row.pid !== null);
  // Only a role without pg_read_all_stats has sessions it cannot see: count them only then.
  const hidden = (await seesEverything()) ? 0 : Number((await run(HIDDEN_SESSIONS_SQL))[0]?.hidden ?? 0);
  return {
    rows: rows.map(toSessionRow),
    totalMatched: rows.length > 0 ? Number(rows[0]!.total_matched) : 0,
    hidden,
    connections: header ? toConnectionUse(header.connection_use) : null,
    refused,
    // Only a standby is asked about its recovery: a primary's listing stays one statement.
    recovery: header?.in_recovery === true ? toRecoveryState((await run(RECOVERY_SQL))[0]?.recovery) : null,
  };
}

export function createCluster(name: string, pool: pg.Pool, logger: Logger, pools: ClusterPools = {}): Cluster {
  let version: Promise<number> | null = null;
  const signalPool = pools.signalPool ?? pool;
  const run = (query: SqlQuery) => queryRows(pool, query.text, query.values);

  // Read once, through the signal pool: a signal may be the first to need it, and must not wait on listings.
  const versionNum = () => {
    version ??= signalPool.query(SERVER_VERSION_SQL).then(
      (result) => Number(result.rows[0]?.num),
      (error: unknown) => {
        version = null; // try again next time: the cluster may come back
        throw error;
      },
    );
    return version;
  };

  // The role's grants rarely change: remembered for a few minutes so a listing costs one query.
  let seen: { at: number; readAllStats: boolean } | null = null;
  const seesEverything = async (): Promise<boolean> => {
    if (!seen || Date.now() - seen.at > 300_000)
      seen = { at: Date.now(), readAllStats: (await cluster.capabilities()).readAllStats };
    return seen.readAllStats;
  };

  const cluster: Cluster = {
    name,
    pool,
    versionNum,
    capabilities: () => capabilitiesOf(pool),
    list: async (filters) => listSessions(pool, await versionNum(), filters, seesEverything),
    async blocking() {
      return buildBlockingTree((await run(blockingQuery(await versionNum()))).map(toSessionRow));
    },
    async replication() {
      return (await run(replicationQuery(await versionNum()))).map(toReplicationRow);
    },
    async byPid(pid) {
      const row = (await run(sessionByPidQuery(await versionNum(), pid)))[0];
      if (!row) return null;
      // Without pg_read_all_stats another role's session shows its pid but no backend_start: there is no
      // identity to freeze into a request. An expected refusal, not a malformed row.
      if (row.backend_start === null) {
        throw new SessionNotVisible(pid);
      }
      return toSessionRow(row);
    },
    async bulkTargets(scope) {
      return (await run(bulkTargetsQuery(await versionNum(), scope))).map(toSessionRow);
    },
    async reliefTargets(scope) {
      return (await run(reliefTargetsQuery(await versionNum(), scope))).map(toSessionRow);
    },
    signal: (kind, target, guard) => signalSession({ name, pool, signalPool, logger, versionNum }, kind, target, guard),
    stillThere: (target) => stillThere(signalPool, target),
  };
  return cluster;
}
