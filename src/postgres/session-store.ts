// Reads and signals sessions on one managed cluster. Rows are checked and mapped at this boundary; the rest
// of the app sees SessionRow, never a pg row.
import type pg from 'pg';
import { buildBlockingTree } from '../domain/blocking.js';
import { SIGNAL_BLOCKER_HINTS } from '../domain/policy.js';
import { SessionNotVisible } from '../domain/errors.js';
import { SIGNAL_BLOCKERS, type SignalBlocker } from '../domain/types.js';
import type { ReplicationRow, SessionRow, RecoveryProcess, RecoveryState } from '../domain/types.js';
import type { ConnectionUse } from '../domain/watch.js';
import type { ManagedClusterPort } from '../domain/ports.js';
import type { Logger } from '../logger.js';
import { queryRouted, queryRows } from './pools.js';
import {
  HIDDEN_SESSIONS_SQL,
  RECOVERY_SQL,
  ROLE_CAPABILITIES_SQL,
  SERVER_VERSION_SQL,
  blockingQuery,
  bulkTargetsQuery,
  reliefTargetsQuery,
  identityQuery,
  listSessionsQuery,
  replicationQuery,
  sessionByPidQuery,
  signalBlockerQuery,
  signalQuery,
  type SqlQuery,
} from './session-sql.js';

const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
const str = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
const blocker = (value: unknown): SignalBlocker | null =>
  (SIGNAL_BLOCKERS as readonly unknown[]).includes(value) ? (value as SignalBlocker) : null;

function toSessionRow(row: Record<string, unknown>): SessionRow {
  const pid = Number(row.pid);
  if (!Number.isInteger(pid) || typeof row.backend_start !== 'string') {
    throw new Error('unexpected row shape from pg_stat_activity');
  }
  return {
    pid,
    user: str(row.user_name),
    database: str(row.database),
    application: str(row.application),
    client: str(row.client),
    state: str(row.state),
    backendType: String(row.backend_type ?? ''),
    backendStart: row.backend_start,
    xactStart: str(row.xact_start),
    queryStart: str(row.query_start),
    ageSeconds: num(row.age_seconds) ?? 0,
    queryAgeSeconds: num(row.query_age_seconds),
    xactAgeSeconds: num(row.xact_age_seconds),
    waitEventType: str(row.wait_event_type),
    waitEvent: str(row.wait_event),
    blockedBy: Array.isArray(row.blocked_by) ? row.blocked_by.map(Number) : [],
    blocking: num(row.blocking) ?? 0,
    parallelWorkers: num(row.parallel_workers) ?? 0,
    queryId: str(row.query_id),
    query: str(row.query),
    signalBlocker: blocker(row.signal_blocker),
    ...(row.wanted_lock !== undefined ? { wantedLock: str(row.wanted_lock) } : {}),
  };
}

const listArgs = (query: SqlQuery): [string, unknown[]] => [query.text, query.values];

function toConnectionUse(value: unknown): ConnectionUse | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const n = (key: string) => (typeof v[key] === 'number' ? (v[key] as number) : null);
  const [total, idle, active, idleInTransaction, available] = [
    'total',
    'idle',
    'active',
    'idleInTransaction',
    'available',
  ].map(n);
  if (total == null || idle == null || active == null || idleInTransaction == null || available == null) return null;
  return { total, idle, active, idleInTransaction, available };
}

const RECOVERY_TYPES: readonly string[] = ['startup', 'walreceiver'];

function toRecoveryProcess(value: unknown): RecoveryProcess | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const pid = Number(v.pid);
  if (!Number.isInteger(pid) || !RECOVERY_TYPES.includes(String(v.backendType))) return null;
  return {
    pid,
    backendType: v.backendType as RecoveryProcess['backendType'],
    ageSeconds: num(v.ageSeconds),
    waitEventType: str(v.waitEventType),
    waitEvent: str(v.waitEvent),
  };
}

/** RECOVERY_SQL's `recovery`, checked here like any row. */
function toRecoveryState(value: unknown): RecoveryState | null {
  if (typeof value !== 'object' || value === null) return null;
  const v = value as Record<string, unknown>;
  const processes = Array.isArray(v.processes)
    ? v.processes.map(toRecoveryProcess).filter((p): p is RecoveryProcess => p !== null)
    : [];
  return {
    paused: v.paused === true,
    bytesBehind: num(v.bytesBehind),
    lastReplaySeconds: num(v.lastReplaySeconds),
    receiver: str(v.receiver),
    processes,
  };
}

function toReplicationRow(row: Record<string, unknown>): ReplicationRow {
  return {
    pid: Number(row.pid),
    user: str(row.user_name),
    application: str(row.application),
    client: str(row.client),
    state: str(row.state),
    backendStart: String(row.backend_start),
    sentLsn: str(row.sent_lsn),
    replayLsn: str(row.replay_lsn),
    lagBytes: num(row.lag_bytes),
    replayLagSeconds: num(row.replay_lag_seconds),
    syncState: str(row.sync_state),
    slotName: str(row.slot_name),
    signalBlocker: blocker(row.signal_blocker),
  };
}

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

export function createCluster(name: string, pool: pg.Pool, logger: Logger, pools: ClusterPools = {}): Cluster {
  let version: Promise<number> | null = null;
  const signalPool = pools.signalPool ?? pool;
  const run = (query: SqlQuery) => queryRows(pool, query.text, query.values);
  const runSignal = (query: SqlQuery) => queryRows(signalPool, query.text, query.values);

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

  const cluster = {
    name,
    pool,
    versionNum,
    async capabilities() {
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
    },
    async list(filters) {
      const { rows: all, refused } = await queryRouted(
        pool,
        ...listArgs(listSessionsQuery(await versionNum(), filters)),
      );
      // The first row always carries the header (connection use, recovery); its pid is NULL when nothing matched.
      const header = all[0];
      const rows = all.filter((row) => row.pid !== null);
      // Only a role without pg_read_all_stats has sessions it cannot see: count them only then.
      const hidden = (await seesEverything())
        ? 0
        : Number((await run({ text: HIDDEN_SESSIONS_SQL, values: [] }))[0]?.hidden ?? 0);
      return {
        rows: rows.map(toSessionRow),
        totalMatched: rows.length > 0 ? Number(rows[0]!.total_matched) : 0,
        hidden,
        connections: header ? toConnectionUse(header.connection_use) : null,
        refused,
        // Only a standby is asked about its recovery: a primary's listing stays one statement.
        recovery:
          header?.in_recovery === true
            ? toRecoveryState((await run({ text: RECOVERY_SQL, values: [] }))[0]?.recovery)
            : null,
      };
    },
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
    async signal(kind, target, guard) {
      const v = await versionNum();
      try {
        const rows = await runSignal(signalQuery(v, kind, target, guard));
        const row = rows[0];
        if (!row) {
          // Not signalled: either it is no longer that session (or query), or it is still there but the guard
          // refused it — it took a protected role or application name since the request was made.
          const there = await this.stillThere(target);
          if (!there) return { pid: target.pid, outcome: 'gone' };
          // A cancel's query that already ended on its own: nothing was running to cancel.
          if (kind === 'cancel' && there.state !== 'active' && there.state !== 'fastpath function call') {
            return {
              pid: target.pid,
              outcome: 'gone',
              message: 'the query had already finished: nothing was cancelled',
            };
          }
          return {
            pid: target.pid,
            outcome: 'refused',
            message: 'it now runs as a protected role or application (or as the bot itself)',
          };
        }
        if (row.signalled !== true) {
          // terminate with a timeout returns false when the backend outlived it; a signal to a pid that
          // vanished in between returns false with a warning.
          const still = await this.stillThere({ ...target, queryStart: kind === 'cancel' ? target.queryStart : null });
          return { pid: target.pid, outcome: still ? 'still_running' : 'gone' };
        }
        if (kind === 'terminate') {
          if (v >= 140_000) return { pid: target.pid, outcome: 'terminated' };
          return (await waitUntilGone(() => this.stillThere(target), 5_000))
            ? { pid: target.pid, outcome: 'terminated' }
            : { pid: target.pid, outcome: 'still_running', message: 'signal sent, the session has not ended yet' };
        }
        // A cancel worked when this query is no longer running: it was interrupted, so it's no longer active.
        const stopped = await waitUntil(async () => {
          const now = await this.stillThere(target);
          return now?.state !== 'active';
        }, guard.cancelWaitMs ?? 3_000);
        return stopped
          ? { pid: target.pid, outcome: 'cancelled' }
          : { pid: target.pid, outcome: 'still_running', message: 'cancel sent, the query is still running' };
      } catch (error) {
        const e = error as { code?: string; message?: string; detail?: string };
        // Decided on the SQLSTATE alone: the wording differs between versions and managed services. What
        // would help is read from the catalogs, not from the message.
        if (e.code === '42501') {
          const why = await run(signalBlockerQuery(v, target.pid)).then(
            (rows) => blocker(rows[0]?.signal_blocker),
            () => null,
          );
          const hint = why
            ? SIGNAL_BLOCKER_HINTS[why]
            : 'the server refused the bot\u2019s role the right to signal it';
          return {
            pid: target.pid,
            outcome: 'permission_denied',
            message: [e.message, e.detail, hint].filter(Boolean).join(' — '),
          };
        }
        logger.warn({ err: { message: e.message, code: e.code }, cluster: name, pid: target.pid }, 'signal failed');
        throw error;
      }
    },
    async stillThere(target) {
      const rows = await runSignal(identityQuery(target));
      return rows[0] ? { state: str(rows[0].state) } : null;
    },
  } satisfies Cluster;
  return cluster;
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function waitUntilGone(stillThere: () => Promise<unknown>, timeoutMs: number): Promise<boolean> {
  return waitUntil(async () => (await stillThere()) === null, timeoutMs);
}
