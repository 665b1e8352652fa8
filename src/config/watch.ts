// Watching settings: the global PGSESSIONS_WATCH_* and a cluster's own `watch:` (same words), each checked
// with one message per bad value, on top of the defaults or of the global settings.
import { parseDuration } from '../domain/duration.js';
import { DEFAULT_STORM_SECONDS, DEFAULT_STORM_SESSIONS, type WatchThresholds } from '../domain/watch.js';

export interface WatchSettings {
  /** null: this cluster is not watched. */
  channel: string | null;
  intervalSeconds: number;
  thresholds: WatchThresholds;
}

const OFF = /^off$/i;
const CHANNEL_ID = /^[CGD][A-Z0-9]{2,}$/;

/** A watch setting's raw text (the clusters file may hold numbers): parsed below, one message per bad one. */
export type WatchRaw = {
  channel?: string;
  interval?: string;
  lockWait?: string;
  idleInTransaction?: string;
  active?: string;
  connections?: string;
  replicationLag?: string;
};

const BYTE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3, tb: 1024 ** 4 };

/** `100MB`, `1GB`, `512kB`, or bare bytes. */
export function parseBytes(text: string): number | null {
  const m = /^(\d{1,15})\s*(b|kb|mb|gb|tb)?$/i.exec(text.trim());
  if (!m) return null;
  const value = Number(m[1]) * BYTE_UNITS[(m[2] ?? 'b').toLowerCase()]!;
  return Number.isSafeInteger(value) && value > 0 ? value : null;
}

export function watchSettings(raw: WatchRaw, base: WatchSettings, where: string, problems: string[]): WatchSettings {
  const out: WatchSettings = {
    channel: base.channel,
    intervalSeconds: base.intervalSeconds,
    thresholds: { ...base.thresholds },
  };
  const bad = (name: string, message: string) => problems.push(`${where}${name} ${message}`);
  if (raw.channel !== undefined) {
    if (OFF.test(raw.channel)) out.channel = null;
    else if (CHANNEL_ID.test(raw.channel)) out.channel = raw.channel;
    else bad('PGSESSIONS_WATCH_CHANNEL', 'must be a channel ID such as C0123ABCD (not a #name), or off');
  }
  if (raw.interval !== undefined) {
    const seconds = parseDuration(raw.interval);
    if (seconds === null || seconds < 1 || seconds > 300)
      bad('PGSESSIONS_WATCH_INTERVAL', 'must be a duration between 1s and 5m, such as 10s');
    else out.intervalSeconds = seconds;
  }
  const duration = (value: string | undefined, name: string, set: (v: number | null) => void) => {
    if (value === undefined) return;
    if (OFF.test(value)) return set(null);
    const seconds = parseDuration(value);
    if (seconds === null || seconds < 1) bad(name, 'must be a duration such as 30s, 10m or 1h, or off');
    else set(seconds);
  };
  duration(raw.lockWait, 'PGSESSIONS_WATCH_LOCK_WAIT', (v) => (out.thresholds.lockWaitSeconds = v));
  duration(
    raw.idleInTransaction,
    'PGSESSIONS_WATCH_IDLE_IN_TRANSACTION',
    (v) => (out.thresholds.idleInTransactionSeconds = v),
  );
  duration(raw.active, 'PGSESSIONS_WATCH_ACTIVE', (v) => (out.thresholds.activeSeconds = v));
  if (raw.connections !== undefined) {
    const m = /^(\d{1,3})\s*%$/.exec(raw.connections.trim());
    if (OFF.test(raw.connections)) out.thresholds.connectionsShare = null;
    else if (m && Number(m[1]) >= 1 && Number(m[1]) <= 100) out.thresholds.connectionsShare = Number(m[1]) / 100;
    else bad('PGSESSIONS_WATCH_CONNECTIONS', 'must be a percentage between 1% and 100%, such as 90%, or off');
  }
  if (raw.replicationLag !== undefined) {
    const bytes = OFF.test(raw.replicationLag) ? null : parseBytes(raw.replicationLag);
    if (bytes === null && !OFF.test(raw.replicationLag))
      bad('PGSESSIONS_WATCH_REPLICATION_LAG', 'must be a size in bytes such as 1GB, 512MB or 1048576, or off');
    else out.thresholds.replicationLagBytes = bytes;
  }
  return out;
}

export const DEFAULT_WATCH: WatchSettings = {
  channel: null,
  intervalSeconds: 10,
  thresholds: {
    lockWaitSeconds: 30,
    idleInTransactionSeconds: 600,
    activeSeconds: 1800,
    connectionsShare: 0.9,
    replicationLagBytes: null,
    stormSessions: DEFAULT_STORM_SESSIONS,
    stormSeconds: DEFAULT_STORM_SECONDS,
  },
};
