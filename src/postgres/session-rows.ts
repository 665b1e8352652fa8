// Rows of pg_stat_activity and friends, checked and mapped at the boundary: the rest of the app sees
// SessionRow and its siblings, never a pg row.
import {
  SIGNAL_BLOCKERS,
  type RecoveryProcess,
  type RecoveryState,
  type ReplicationRow,
  type SessionRow,
  type SignalBlocker,
} from '../domain/types.js';
import type { ConnectionUse } from '../domain/watch.js';

export const num = (value: unknown): number | null => (value === null || value === undefined ? null : Number(value));
export const str = (value: unknown): string | null => (value === null || value === undefined ? null : String(value));
export const blocker = (value: unknown): SignalBlocker | null =>
  (SIGNAL_BLOCKERS as readonly unknown[]).includes(value) ? (value as SignalBlocker) : null;

export function toSessionRow(row: Record<string, unknown>): SessionRow {
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

export function toConnectionUse(value: unknown): ConnectionUse | null {
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
export function toRecoveryState(value: unknown): RecoveryState | null {
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

export function toReplicationRow(row: Record<string, unknown>): ReplicationRow {
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
