// Asking for a kill: each ask names exactly the sessions that were seen, re-read from the cluster now (never
// from a payload), checked against who may ask and what pgsessions may signal, then recorded and posted for
// a second person. A refusal is a value with its sentence; only bugs throw.
import { SessionNotVisible } from './errors.js';
import { FAILURE_MESSAGES, TROUBLE_FAILURE, type FailureCode } from './messages.js';
import { ok, refused, type Outcome } from './outcome.js';
import {
  isProtected,
  mayRequest,
  runsAQuery,
  shapeQueryText,
  SIGNAL_BLOCKER_REASONS,
  type QueryTextMode,
} from './policy.js';
import type { ClusterPort, RequestDeps } from './request-service.js';
import { quorumFor, routingOf } from './routing.js';
import type { CreateRequestInput } from './state-ports.js';
import type { BulkScope, KillRequest, ReliefScope, SessionRow, TargetSnapshot } from './types.js';

export interface SingleAsk {
  cluster: string;
  action: 'cancel' | 'terminate' | 'cancel_then_terminate' | 'terminate_walsender';
  pid: number;
  /** From a button: the identity as seen. Absent for the typed form (the session is looked up now). */
  seen?: { backendStart: string; queryStart: string | null };
  escalateAfterSeconds?: number | null;
  reason: string;
  requester: string;
  channel: string;
}

export interface BulkAsk {
  cluster: string;
  scope: BulkScope;
  reason: string;
  requester: string;
  channel: string;
}

/** A bulk cancel of sessions the watcher froze (a query storm): pid + backend_start + query_start each. */
export interface FrozenCancelAsk {
  cluster: string;
  members: Array<{ pid: number; backendStart: string; queryStart: string | null }>;
  reason: string;
  requester: string;
  channel: string;
}

/** "Request terminate of the N idle sessions of app X…" on a connections alert (see ReliefScope). */
export interface ReliefAsk {
  cluster: string;
  scope: ReliefScope;
  reason: string;
  requester: string;
  channel: string;
}

/** A request refused: the code and its sentence, with what only this case can say after it. */
export const refuseRequest = (code: FailureCode, detail?: string) =>
  refused(code, detail ? `${FAILURE_MESSAGES[code]} ${detail}` : FAILURE_MESSAGES[code]);

/** A connection failure as the refusal that names it (full, busy, unreachable). */
export const troubled = (deps: RequestDeps, error: unknown) =>
  refuseRequest(TROUBLE_FAILURE[deps.troubleOf?.(error) ?? 'unreachable']);

/** A session as a request freezes it: its identity, and its query text shaped by PGSESSIONS_QUERY_TEXT. */
export function snapshot(row: SessionRow, mode: QueryTextMode): TargetSnapshot {
  return {
    pid: row.pid,
    backendStart: row.backendStart,
    queryStart: row.queryStart,
    xactStart: row.xactStart,
    backendType: row.backendType,
    user: row.user,
    database: row.database,
    application: row.application,
    client: row.client,
    state: row.state,
    query: shapeQueryText(row.query, mode),
  };
}

async function guardRequest(
  deps: RequestDeps,
  ask: { cluster: string; requester: string; reason: string },
): Promise<Outcome<ClusterPort>> {
  const { settings } = deps;
  if (settings.readOnly) return refuseRequest('read_only');
  const port = deps.cluster(ask.cluster);
  if (!port) return refuseRequest('unknown_cluster');
  if (!(await mayRequest(ask.requester, settings.rules(ask.cluster), deps.groups)))
    return refuseRequest('not_requester');
  if (ask.reason.trim().length === 0) return refuseRequest('reason_required');
  return ok(port);
}

/** Records the request with its frozen targets and posts it where it was asked. */
async function record(
  deps: RequestDeps,
  ask: { cluster: string; reason: string; requester: string; channel: string },
  request: Pick<CreateRequestInput, 'action' | 'escalateAfterSeconds' | 'scope'> & { rows: SessionRow[] },
): Promise<Outcome<KillRequest>> {
  const created = await deps.state.createRequest({
    cluster: ask.cluster,
    action: request.action,
    targets: request.rows.map((row) => snapshot(row, deps.settings.queryText)),
    reason: ask.reason.trim(),
    requester: ask.requester,
    channel: ask.channel,
    escalateAfterSeconds: request.escalateAfterSeconds,
    scope: request.scope,
    ttlSeconds: deps.settings.ttlSeconds,
    quorum: quorumFor(routingOf(deps.settings, ask.cluster), request.action),
  });
  try {
    const ts = await deps.messages.post(created);
    await deps.state.setMessageTs(created.id, ts);
    const posted = { ...created, messageTs: ts };
    // The approvers hear of it directly, without the requester's answer waiting for it; never fails the request.
    const approvers = deps.settings.rules(created.cluster).approvers;
    deps.notices?.tell({ kind: 'request', request: posted }, approvers, 0).catch(() => undefined);
    return ok(posted);
  } catch {
    // Nobody could approve a request they cannot see: withdraw it rather than leave it dangling.
    await deps.state.withdraw(created.id, created.requester);
    return refuseRequest('post_failed');
  }
}

/** Why this one session may not be asked for, or null when it may. */
function singleRefusal(deps: RequestDeps, ask: SingleAsk, row: SessionRow) {
  if (ask.seen) {
    const changed =
      row.backendStart !== ask.seen.backendStart ||
      (ask.action !== 'terminate' &&
        ask.action !== 'terminate_walsender' &&
        ask.seen.queryStart !== null &&
        row.queryStart !== ask.seen.queryStart);
    if (changed) return refuseRequest('session_changed');
  }
  if (isProtected(row, deps.settings)) return refuseRequest('protected');
  if (row.backendType === 'startup' || row.backendType === 'walreceiver') return refuseRequest('standby_process');
  if (ask.action === 'terminate_walsender') {
    if (row.backendType !== 'walsender') return refuseRequest('not_walsender');
  } else if (row.backendType !== 'client backend') {
    return refuseRequest('not_client_backend');
  }
  if (row.signalBlocker) return refuseRequest('cannot_signal', `${SIGNAL_BLOCKER_REASONS[row.signalBlocker]}.`);
  // A cancel is frozen to the query that runs now: with none running it would do nothing, or (no
  // query_start at all) name no query and so match whatever the session runs later.
  if ((ask.action === 'cancel' || ask.action === 'cancel_then_terminate') && !runsAQuery(row)) {
    return refuseRequest('cancel_useless');
  }
  return null;
}

export async function requestOne(deps: RequestDeps, ask: SingleAsk): Promise<Outcome<KillRequest>> {
  const guarded = await guardRequest(deps, ask);
  if (!guarded.ok) return guarded;
  let row: SessionRow | null;
  try {
    row = await guarded.value.byPid(ask.pid);
  } catch (error) {
    if (deps.isUnreachable(error)) return troubled(deps, error);
    if (error instanceof SessionNotVisible) return refuseRequest('not_visible');
    throw error;
  }
  if (!row) return refuseRequest('session_gone');
  const refusal = singleRefusal(deps, ask, row);
  if (refusal) return refusal;
  return record(deps, ask, {
    action: ask.action,
    rows: [row],
    escalateAfterSeconds: ask.action === 'cancel_then_terminate' ? (ask.escalateAfterSeconds ?? 10) : null,
    scope: null,
  });
}

export async function requestAll(deps: RequestDeps, ask: BulkAsk): Promise<Outcome<KillRequest>> {
  const guarded = await guardRequest(deps, ask);
  if (!guarded.ok) return guarded;
  let rows: SessionRow[];
  try {
    rows = (await guarded.value.bulkTargets(ask.scope)).filter((row) => !isProtected(row, deps.settings));
  } catch (error) {
    if (deps.isUnreachable(error)) return troubled(deps, error);
    throw error;
  }
  const cap = deps.settings.bulkCap;
  if (rows.length === 0) return refuseRequest('nothing_to_do');
  if (rows.length > cap) {
    return refuseRequest('too_many', `(${rows.length} match; the cap is ${cap}). Narrow it with user: or app:.`);
  }
  return record(deps, ask, { action: 'terminate_all', rows, escalateAfterSeconds: null, scope: ask.scope });
}

/** The frozen members that are still the same session running the same query, and that may be cancelled. */
async function stillFrozen(deps: RequestDeps, port: ClusterPort, ask: FrozenCancelAsk): Promise<SessionRow[]> {
  const rows: SessionRow[] = [];
  const seen = new Set<number>();
  for (const member of ask.members) {
    if (member.queryStart === null || seen.has(member.pid)) continue;
    seen.add(member.pid);
    let row: SessionRow | null;
    try {
      row = await port.byPid(member.pid);
    } catch (error) {
      if (error instanceof SessionNotVisible) continue;
      throw error;
    }
    if (!row || row.backendStart !== member.backendStart || row.queryStart !== member.queryStart) continue;
    if (row.backendType !== 'client backend' || row.signalBlocker || !runsAQuery(row)) continue;
    if (isProtected(row, deps.settings)) continue;
    rows.push(row);
  }
  return rows;
}

/**
 * Cancel exactly the frozen sessions: each is looked up now and kept only while it is the same session
 * running the same query (a member that moved on, or arrived later, is never in the list), a client
 * backend the bot may signal, and not protected. Approval re-checks each again in the signal statement.
 */
export async function requestFrozenCancel(deps: RequestDeps, ask: FrozenCancelAsk): Promise<Outcome<KillRequest>> {
  const guarded = await guardRequest(deps, ask);
  if (!guarded.ok) return guarded;
  let rows: SessionRow[];
  try {
    rows = await stillFrozen(deps, guarded.value, ask);
  } catch (error) {
    if (deps.isUnreachable(error)) return troubled(deps, error);
    throw error;
  }
  const cap = deps.settings.bulkCap;
  if (rows.length === 0) return refuseRequest('nothing_to_cancel');
  if (rows.length > cap) return refuseRequest('too_many', `(${rows.length} sessions; the cap is ${cap}).`);
  return record(deps, ask, { action: 'cancel_all', rows, escalateAfterSeconds: null, scope: null });
}

/**
 * Relieve a connection storm in one approval: the application's sessions connected by the watcher's look
 * (idle unless widened), read from the server now — never from a payload — and frozen (pid + backend_start)
 * into a terminate_all request; protected ones and those the bot may not signal are left out. At most
 * bulkCap, the longest connected first. Approval re-checks each in the signal statement.
 */
export async function requestRelief(deps: RequestDeps, ask: ReliefAsk): Promise<Outcome<KillRequest>> {
  const guarded = await guardRequest(deps, ask);
  if (!guarded.ok) return guarded;
  let rows: SessionRow[];
  try {
    rows = (await guarded.value.reliefTargets(ask.scope)).filter(
      (row) => !isProtected(row, deps.settings) && !row.signalBlocker,
    );
  } catch (error) {
    if (deps.isUnreachable(error)) return refuseRequest('unreachable');
    throw error;
  }
  if (rows.length === 0) return refuseRequest('nothing_to_do');
  return record(deps, ask, {
    action: 'terminate_all',
    rows: rows.slice(0, deps.settings.bulkCap),
    escalateAfterSeconds: null,
    scope: { application: ask.scope.application },
  });
}
