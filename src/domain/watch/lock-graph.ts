// Who waits on whom in one snapshot: built once per look, asked by the lock detectors. Pure.
import type { WatchedSession } from './types.js';

export interface LockGraph {
  byPid: Map<number, WatchedSession>;
  /** Direct waiters of a pid (only sessions in the snapshot). */
  waitersOf(pid: number): WatchedSession[];
  /** Everyone waiting on pid, directly or through others; without advisory waits (nor those behind them) if asked. */
  allWaitersOf(pid: number, withAdvisory?: boolean): WatchedSession[];
  /** A root blocks others and waits on nobody we can see (a deadlock cycle resolves itself). */
  isRoot(s: WatchedSession): boolean;
}

const advisory = (s: WatchedSession): boolean => s.waitingFor?.locktype === 'advisory';

export function lockGraph(sessions: WatchedSession[]): LockGraph {
  const byPid = new Map(sessions.map((s) => [s.pid, s]));
  const direct = new Map<number, WatchedSession[]>();
  for (const s of sessions) {
    for (const b of s.blockedBy) {
      if (!byPid.has(b)) continue;
      if (!direct.has(b)) direct.set(b, []);
      direct.get(b)!.push(s);
    }
  }
  const waitersOf = (pid: number): WatchedSession[] => direct.get(pid) ?? [];
  const allWaitersOf = (pid: number, withAdvisory = true): WatchedSession[] => {
    const seen = new Set<number>([pid]);
    const out: WatchedSession[] = [];
    const stack = [...waitersOf(pid)];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next.pid) || (!withAdvisory && advisory(next))) continue;
      seen.add(next.pid);
      out.push(next);
      stack.push(...waitersOf(next.pid));
    }
    return out;
  };
  const isRoot = (s: WatchedSession): boolean => waitersOf(s.pid).length > 0 && !s.blockedBy.some((b) => byPid.has(b));
  return { byPid, waitersOf, allWaitersOf, isRoot };
}

/** Longest lock wait among these sessions, seconds. */
export const oldestWait = (list: WatchedSession[]): number => list.reduce((m, s) => Math.max(m, s.waitSeconds ?? 0), 0);
