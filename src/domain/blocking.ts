// The lock-wait tree from pg_blocking_pids(): root blockers first (those that block the most sessions),
// each followed by the sessions waiting on it, depth-first.
import type { BlockingRow, SessionRow } from './types.js';

export function buildBlockingTree(rows: SessionRow[]): BlockingRow[] {
  const byPid = new Map(rows.map((row) => [row.pid, row]));
  const waiters = new Map<number, number[]>();
  for (const row of rows) {
    for (const blocker of row.blockedBy) {
      if (!waiters.has(blocker)) waiters.set(blocker, []);
      waiters.get(blocker)!.push(row.pid);
    }
  }

  const countCache = new Map<number, number>();
  const countBlocked = (pid: number): number => {
    const cached = countCache.get(pid);
    if (cached !== undefined) return cached;
    const seen = new Set<number>([pid]);
    const stack = [...(waiters.get(pid) ?? [])];
    while (stack.length > 0) {
      const next = stack.pop()!;
      if (seen.has(next)) continue;
      seen.add(next);
      stack.push(...(waiters.get(next) ?? []));
    }
    countCache.set(pid, seen.size - 1);
    return seen.size - 1;
  };

  const isBlocked = (row: SessionRow) => row.blockedBy.some((pid) => byPid.has(pid));
  // A root blocks others and waits on nobody we can see. A deadlock cycle has no such root: then every
  // member of the cycle is shown as a root so nothing disappears.
  let roots = rows.filter((row) => !isBlocked(row) && (waiters.get(row.pid)?.length ?? 0) > 0);
  const byImpact = (a: SessionRow, b: SessionRow) =>
    countBlocked(b.pid) - countBlocked(a.pid) || b.ageSeconds - a.ageSeconds || a.pid - b.pid;

  const out: BlockingRow[] = [];
  const placed = new Set<number>();
  const visit = (row: SessionRow, depth: number) => {
    if (placed.has(row.pid)) return;
    placed.add(row.pid);
    out.push({ ...row, blocksCount: countBlocked(row.pid), depth });
    const children = (waiters.get(row.pid) ?? [])
      .map((pid) => byPid.get(pid))
      .filter((r): r is SessionRow => r !== undefined);
    for (const child of children.sort(byImpact)) visit(child, depth + 1);
  };
  for (const root of roots.sort(byImpact)) visit(root, 0);
  roots = rows.filter((row) => !placed.has(row.pid) && (waiters.get(row.pid)?.length ?? 0) > 0);
  for (const root of roots.sort(byImpact)) visit(root, 0);
  for (const row of rows) if (!placed.has(row.pid) && row.blockedBy.length > 0) visit(row, 0);
  return out;
}
