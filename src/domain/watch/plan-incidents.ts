// An incident's life: what the watcher sees now against what is open (open, refresh, clear), and why an
// incident that is no longer seen ended. Pure.
import type { ClearReason, Incident, IncidentRecord, WatchSnapshot } from './types.js';

export interface WatchPlan {
  /** Detected and not open: insert (or reopen, when cleared recently). */
  open: Incident[];
  /** Open and detected again: refresh the details. */
  refresh: Array<{ record: IncidentRecord; incident: Incident }>;
  /** Open and not detected any more. */
  clear: IncidentRecord[];
}

/** Compares what the watcher sees now with what is open. */
export function planIncidents(open: IncidentRecord[], detected: Incident[]): WatchPlan {
  const openByKey = new Map(open.map((r) => [r.key, r]));
  const seen = new Set<string>();
  const plan: WatchPlan = { open: [], refresh: [], clear: [] };
  for (const incident of detected) {
    if (seen.has(incident.key)) continue;
    seen.add(incident.key);
    const record = openByKey.get(incident.key);
    if (record) plan.refresh.push({ record, incident });
    else plan.open.push(incident);
  }
  for (const record of open) if (!seen.has(record.key)) plan.clear.push(record);
  return plan;
}

/**
 * Why an incident that is no longer seen ended: an approved request that signalled its root (for a query
 * storm, a bulk cancel that cancelled some of its sessions, with how many); else the root session left
 * (ended by itself); else it dropped below the threshold.
 */
export function clearReasonFor(
  record: IncidentRecord,
  snapshot: WatchSnapshot | null,
  executed: {
    requestId: string;
    outcome: 'cancelled' | 'terminated';
    approver: string | null;
    counts?: { done: number; of: number };
  } | null,
): ClearReason {
  if (record.cause === 'cluster-down') return { kind: 'back' };
  if (executed) {
    const reason: ClearReason = {
      kind: 'request',
      requestId: executed.requestId,
      action: executed.outcome,
      approver: executed.approver,
    };
    return executed.counts ? { ...reason, counts: executed.counts } : reason;
  }
  const r = record.incident.root;
  if (r && snapshot && record.cause !== 'query-storm' && record.cause !== 'replication-lag') {
    // Still the same work: the same transaction for an idle one, the same query otherwise.
    const idle = (r.state ?? '').startsWith('idle in transaction');
    const still = snapshot.sessions.some(
      (s) =>
        s.pid === r.pid &&
        s.backendStart === r.backendStart &&
        (idle ? s.xactStart === r.xactStart : s.queryStart === r.queryStart),
    );
    return still ? { kind: 'resolved' } : { kind: 'ended' };
  }
  return { kind: 'resolved' };
}
