// The two-person rule. A request names exactly the sessions that were seen; an approver who is not the
// requester approves; only then is the target re-checked and signalled, once. Expected outcomes are values
// with a sentence for the user; only real bugs throw.
import { TROUBLE_SENTENCE, type Trouble } from './trouble.js';
import type { StatePort } from './state-ports.js';
import type {
  Action,
  BulkScope,
  ExecutionResult,
  KillRequest,
  ReliefScope,
  SessionRow,
  TargetOutcome,
  TargetSnapshot,
} from './types.js';
import {
  isProtected,
  mayApprove,
  mayRequest,
  runsAQuery,
  shapeQueryText,
  SIGNAL_BLOCKER_REASONS,
  type AccessRules,
  type GroupsPort,
  type Protection,
  type QueryTextMode,
} from './policy.js';

// ---- ports ---------------------------------------------------------------------------------------------

export type { StatePort } from './state-ports.js';

export interface SignalTargetPort {
  pid: number;
  backendStart: string;
  queryStart: string | null;
  backendType: 'client backend' | 'walsender';
}

/** One managed cluster — src/postgres/session-store.ts. */
export interface ClusterPort {
  name: string;
  byPid(pid: number): Promise<SessionRow | null>;
  bulkTargets(scope: BulkScope): Promise<SessionRow[]>;
  reliefTargets(scope: ReliefScope): Promise<SessionRow[]>;
  signal(
    kind: 'cancel' | 'terminate',
    target: SignalTargetPort,
    guard: Protection & { terminateTimeoutMs: number; cancelWaitMs?: number },
  ): Promise<TargetOutcome>;
  stillThere(target: SignalTargetPort): Promise<{ state: string | null } | null>;
}

/** Messages about a request — the Slack adapter. */
export interface RequestMessagesPort {
  /** Posts the approval request where it was asked; returns the message ts. */
  post(request: KillRequest): Promise<string>;
  /** Shows the request's current status in place. */
  update(request: KillRequest): Promise<void>;
  /** Tells the requester the outcome (thread reply). */
  notifyRequester(request: KillRequest): Promise<void>;
}

export interface RequestSettings extends Protection {
  readOnly: boolean;
  ttlSeconds: number;
  queryText: QueryTextMode;
  /** The most sessions one terminate-all may end. */
  bulkCap: number;
  terminateTimeoutMs: number;
  rules(cluster: string): AccessRules;
}

export interface RequestDeps {
  state: StatePort;
  cluster(name: string): ClusterPort | undefined;
  messages: RequestMessagesPort;
  groups: GroupsPort;
  settings: RequestSettings;
  /** Connection failures (cluster down) are outcomes, not bugs. */
  isUnreachable(error: unknown): boolean;
  /** Which connection failure (full, busy, unreachable), to say what it is; unreachable when absent. */
  troubleOf?(error: unknown): Trouble | null;
  sleep?: (ms: number) => Promise<void>;
  /** Executes an approved drain (src/domain/drain-service.ts); absent, a drain request fails. */
  drain?(request: KillRequest): Promise<{ status: 'executed' | 'failed'; result: ExecutionResult }>;
}

// ---- outcomes --------------------------------------------------------------------------------------------

export const FAILURE_MESSAGES = {
  read_only: 'pgsessions is in read-only mode (PGSESSIONS_READ_ONLY): nothing can be cancelled or terminated.',
  not_requester: 'You are not allowed to request a cancel or terminate on this cluster.',
  not_approver: 'Only an approver can do that (PGSESSIONS_APPROVERS).',
  self_approval: 'You made this request: a second person has to approve it.',
  already_decided: 'This request was already decided.',
  expired: 'This request has expired. Ask again if the session still needs to go.',
  not_found: 'That request does not exist.',
  not_the_requester: 'Only the requester can withdraw a request.',
  reason_required: 'Give a reason: it goes into the audit trail.',
  unknown_cluster: 'Unknown cluster.',
  session_gone: 'That session is no longer running: nothing to do.',
  session_changed: 'That pid now belongs to a different session (or the query changed): list again and pick it anew.',
  protected:
    'That session belongs to a protected role or application (PGSESSIONS_PROTECTED_ROLES / _APPS): it cannot be killed from here.',
  not_client_backend:
    'That pid is not a client session (background process, parallel worker or walsender): it cannot be killed from here.',
  not_walsender: 'That pid is not a walsender.',
  standby_process:
    'That pid is this standby\u2019s WAL replay (startup process) or its WAL receiver: the standby depends on it, so pgsessions never signals it. Nothing was requested.',
  cancel_useless:
    'That session is not running a query (it is idle, or idle in a transaction): cancelling does nothing. Ask to terminate it instead.',
  cannot_signal: 'The database would refuse this whatever anyone approves, so nothing was requested —',
  nothing_to_do: 'No sessions match: nothing to terminate.',
  nothing_to_cancel:
    'None of those sessions still runs the query that was seen (or each is one pgsessions may not cancel): nothing was requested.',
  too_many: 'That would end more sessions than one request may',
  unreachable: `${TROUBLE_SENTENCE.unreachable} Nothing was done.`,
  cluster_full: `${TROUBLE_SENTENCE.full} Nothing was done.`,
  pooler_full: `${TROUBLE_SENTENCE.pooler_full} Nothing was done.`,
  cluster_busy: `${TROUBLE_SENTENCE.busy} Nothing was done; try again in a moment.`,
  post_failed:
    'The approval request could not be posted in this channel (Slack refused or did not answer; in a private channel, invite the app first). Nothing was requested.',
  rate_limited:
    'You are sending requests faster than pgsessions accepts from one person: wait a minute and try again. Nothing was done.',
  tampered:
    'This request was changed in the state database without pgsessions\u2019 key since it was made or approved (its binding does not match): nothing was signalled. The tampering is in the audit log.',
  not_visible:
    'pgsessions cannot see that session\u2019s details (its database role lacks pg_monitor / pg_read_all_stats), so it cannot say what would be killed. Nothing was requested.',
} as const;

const TROUBLE_FAILURE = {
  full: 'cluster_full',
  pooler_full: 'pooler_full',
  busy: 'cluster_busy',
  unreachable: 'unreachable',
} as const satisfies Record<Trouble, FailureCode>;

/** The `code` of the error ClusterPort.byPid throws for a session that exists but whose details the bot's role may not see. */
export const SESSION_NOT_VISIBLE = 'session_not_visible';
export type FailureCode = keyof typeof FAILURE_MESSAGES;

export type Result<T> = { ok: true; value: T } | { ok: false; code: FailureCode; message: string };

const fail = <T>(code: FailureCode, detail?: string): Result<T> => ({
  ok: false,
  code,
  message: detail ? `${FAILURE_MESSAGES[code]} ${detail}` : FAILURE_MESSAGES[code],
});

// ---- use cases ----------------------------------------------------------------------------------------

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

function snapshot(row: SessionRow, mode: QueryTextMode): TargetSnapshot {
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

/**
 * After a restart interrupted an execution: whether the signal went out before the interruption is unknown,
 * so say what is true now, no more (requests and standing approvals alike).
 */
export function interruptedOutcome(pid: number, stillRunning: boolean): TargetOutcome {
  return stillRunning
    ? { pid, outcome: 'still_running', message: 'still running; not signalled again after the interruption' }
    : { pid, outcome: 'gone', message: 'no longer running (the signal may have gone out before the interruption)' };
}

export function createRequestService(deps: RequestDeps) {
  const { state, messages, groups, settings } = deps;
  const sleep = deps.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const troubleOf = (error: unknown): Trouble => deps.troubleOf?.(error) ?? 'unreachable';
  const troubled = <T>(error: unknown): Result<T> => fail(TROUBLE_FAILURE[troubleOf(error)]);

  async function guardRequest(cluster: string, requester: string, reason: string): Promise<Result<ClusterPort>> {
    if (settings.readOnly) return fail('read_only');
    const port = deps.cluster(cluster);
    if (!port) return fail('unknown_cluster');
    if (!(await mayRequest(requester, settings.rules(cluster), groups))) return fail('not_requester');
    if (reason.trim().length === 0) return fail('reason_required');
    return { ok: true, value: port };
  }

  async function publish(request: KillRequest): Promise<Result<KillRequest>> {
    try {
      const ts = await messages.post(request);
      await state.setMessageTs(request.id, ts);
      return { ok: true, value: { ...request, messageTs: ts } };
    } catch {
      // Nobody could approve a request they cannot see: withdraw it rather than leave it dangling.
      await state.withdraw(request.id, request.requester);
      return fail('post_failed');
    }
  }

  async function requestOne(ask: SingleAsk): Promise<Result<KillRequest>> {
    const guarded = await guardRequest(ask.cluster, ask.requester, ask.reason);
    if (!guarded.ok) return guarded;
    let row: SessionRow | null;
    try {
      row = await guarded.value.byPid(ask.pid);
    } catch (error) {
      if (deps.isUnreachable(error)) return troubled(error);
      if ((error as { code?: unknown }).code === SESSION_NOT_VISIBLE) return fail('not_visible');
      throw error;
    }
    if (!row) return fail('session_gone');
    if (ask.seen) {
      const changed =
        row.backendStart !== ask.seen.backendStart ||
        (ask.action !== 'terminate' &&
          ask.action !== 'terminate_walsender' &&
          ask.seen.queryStart !== null &&
          row.queryStart !== ask.seen.queryStart);
      if (changed) return fail('session_changed');
    }
    if (isProtected(row, settings)) return fail('protected');
    if (row.backendType === 'startup' || row.backendType === 'walreceiver') return fail('standby_process');
    if (ask.action === 'terminate_walsender') {
      if (row.backendType !== 'walsender') return fail('not_walsender');
    } else if (row.backendType !== 'client backend') {
      return fail('not_client_backend');
    }
    if (row.signalBlocker) return fail('cannot_signal', `${SIGNAL_BLOCKER_REASONS[row.signalBlocker]}.`);
    // A cancel is frozen to the query that runs now: with none running it would do nothing, or (no
    // query_start at all) name no query and so match whatever the session runs later.
    if ((ask.action === 'cancel' || ask.action === 'cancel_then_terminate') && !runsAQuery(row)) {
      return fail('cancel_useless');
    }
    const request = await state.createRequest({
      cluster: ask.cluster,
      action: ask.action,
      targets: [snapshot(row, settings.queryText)],
      reason: ask.reason.trim(),
      requester: ask.requester,
      channel: ask.channel,
      escalateAfterSeconds: ask.action === 'cancel_then_terminate' ? (ask.escalateAfterSeconds ?? 10) : null,
      scope: null,
      ttlSeconds: settings.ttlSeconds,
    });
    return publish(request);
  }

  async function requestAll(ask: BulkAsk): Promise<Result<KillRequest>> {
    const guarded = await guardRequest(ask.cluster, ask.requester, ask.reason);
    if (!guarded.ok) return guarded;
    let rows: SessionRow[];
    try {
      rows = (await guarded.value.bulkTargets(ask.scope)).filter((row) => !isProtected(row, settings));
    } catch (error) {
      if (deps.isUnreachable(error)) return troubled(error);
      throw error;
    }
    if (rows.length === 0) return fail('nothing_to_do');
    if (rows.length > settings.bulkCap) {
      return fail('too_many', `(${rows.length} match; the cap is ${settings.bulkCap}). Narrow it with user: or app:.`);
    }
    const request = await state.createRequest({
      cluster: ask.cluster,
      action: 'terminate_all',
      targets: rows.map((row) => snapshot(row, settings.queryText)),
      reason: ask.reason.trim(),
      requester: ask.requester,
      channel: ask.channel,
      escalateAfterSeconds: null,
      scope: ask.scope,
      ttlSeconds: settings.ttlSeconds,
    });
    return publish(request);
  }

  /**
   * Cancel exactly the frozen sessions: each is looked up now and kept only while it is the same session
   * running the same query (a member that moved on, or arrived later, is never in the list), a client
   * backend the bot may signal, and not protected. Approval re-checks each again in the signal statement.
   */
  async function requestFrozenCancel(ask: FrozenCancelAsk): Promise<Result<KillRequest>> {
    const guarded = await guardRequest(ask.cluster, ask.requester, ask.reason);
    if (!guarded.ok) return guarded;
    const rows: SessionRow[] = [];
    const seen = new Set<number>();
    try {
      for (const member of ask.members) {
        if (member.queryStart === null || seen.has(member.pid)) continue;
        seen.add(member.pid);
        let row: SessionRow | null;
        try {
          row = await guarded.value.byPid(member.pid);
        } catch (error) {
          if ((error as { code?: unknown }).code === SESSION_NOT_VISIBLE) continue;
          throw error;
        }
        if (!row || row.backendStart !== member.backendStart || row.queryStart !== member.queryStart) continue;
        if (row.backendType !== 'client backend' || row.signalBlocker || !runsAQuery(row) || isProtected(row, settings))
          continue;
        rows.push(row);
      }
    } catch (error) {
      if (deps.isUnreachable(error)) return troubled(error);
      throw error;
    }
    if (rows.length === 0) return fail('nothing_to_cancel');
    if (rows.length > settings.bulkCap)
      return fail('too_many', `(${rows.length} sessions; the cap is ${settings.bulkCap}).`);
    const request = await state.createRequest({
      cluster: ask.cluster,
      action: 'cancel_all',
      targets: rows.map((row) => snapshot(row, settings.queryText)),
      reason: ask.reason.trim(),
      requester: ask.requester,
      channel: ask.channel,
      escalateAfterSeconds: null,
      scope: null,
      ttlSeconds: settings.ttlSeconds,
    });
    return publish(request);
  }

  /**
   * Relieve a connection storm in one approval: the application's sessions connected by the watcher's look
   * (idle unless widened), read from the server now — never from a payload — and frozen (pid + backend_start)
   * into a terminate_all request; protected ones and those the bot may not signal are left out. At most
   * bulkCap, the longest connected first. Approval re-checks each in the signal statement.
   */
  async function requestRelief(ask: ReliefAsk): Promise<Result<KillRequest>> {
    const guarded = await guardRequest(ask.cluster, ask.requester, ask.reason);
    if (!guarded.ok) return guarded;
    let rows: SessionRow[];
    try {
      rows = (await guarded.value.reliefTargets(ask.scope)).filter(
        (row) => !isProtected(row, settings) && !row.signalBlocker,
      );
    } catch (error) {
      if (deps.isUnreachable(error)) return fail('unreachable');
      throw error;
    }
    if (rows.length === 0) return fail('nothing_to_do');
    const request = await state.createRequest({
      cluster: ask.cluster,
      action: 'terminate_all',
      targets: rows.slice(0, settings.bulkCap).map((row) => snapshot(row, settings.queryText)),
      reason: ask.reason.trim(),
      requester: ask.requester,
      channel: ask.channel,
      escalateAfterSeconds: null,
      scope: { application: ask.scope.application },
      ttlSeconds: settings.ttlSeconds,
    });
    return publish(request);
  }

  async function signalTarget(
    port: ClusterPort,
    action: Action,
    target: TargetSnapshot,
    escalateAfter: number | null,
  ): Promise<TargetOutcome> {
    const guard = {
      protectedRoles: settings.protectedRoles,
      protectedApps: settings.protectedApps,
      terminateTimeoutMs: settings.terminateTimeoutMs,
    };
    const identity = { pid: target.pid, backendStart: target.backendStart };
    switch (action) {
      case 'cancel':
      case 'cancel_all':
        return port.signal(
          'cancel',
          { ...identity, queryStart: target.queryStart, backendType: 'client backend' },
          guard,
        );
      case 'cancel_then_terminate': {
        const withQuery = { ...identity, queryStart: target.queryStart, backendType: 'client backend' as const };
        // The grace period runs from the cancel: "terminate if still running N s after the cancel".
        const deadline = Date.now() + (escalateAfter ?? 10) * 1000;
        const cancelled = await port.signal('cancel', withQuery, {
          ...guard,
          cancelWaitMs: Math.min(3_000, deadline - Date.now()),
        });
        if (cancelled.outcome !== 'still_running') return cancelled;
        while (Date.now() < deadline) {
          const now = await port.stillThere(withQuery);
          if (now?.state !== 'active') return { pid: target.pid, outcome: 'cancelled' };
          await sleep(200);
        }
        // Still the same query after the grace period: terminate — only that query's session, still the same.
        return port.signal('terminate', withQuery, guard);
      }
      case 'terminate':
      case 'terminate_all':
        return port.signal('terminate', { ...identity, queryStart: null, backendType: 'client backend' }, guard);
      case 'terminate_walsender':
        return port.signal('terminate', { ...identity, queryStart: null, backendType: 'walsender' }, guard);
      case 'drain':
        throw new Error('a drain is executed by the drain service');
    }
  }

  /** shownApproved: the "approved" message update, still in flight; the outcome is shown only after it. */
  async function execute(request: KillRequest, shownApproved: Promise<unknown>): Promise<KillRequest> {
    const port = deps.cluster(request.cluster);
    let result: ExecutionResult;
    let status: 'executed' | 'failed' = 'executed';
    // The intent is durable before any signal is sent: a crash from here on leaves a trace to reconcile.
    // Only the one caller that records it goes on to signal.
    const intent = await state.markExecuting(request.id);
    if (!intent.ok && intent.code === 'tampered') return refuseTampered(intent.request ?? request, shownApproved);
    if (!intent.ok) return request;
    // Signal exactly the row whose binding was just checked, not the copy read before it.
    const bound = intent.request;
    if (bound.action === 'drain') {
      ({ status, result } = deps.drain
        ? await deps.drain(bound)
        : { status: 'failed', result: { outcomes: [], message: 'drains are not available here' } });
    } else if (!port) {
      result = { outcomes: [], message: 'the cluster is no longer configured' };
      status = 'failed';
    } else {
      const outcomes: TargetOutcome[] = [];
      try {
        const queue = [...bound.targets];
        let lost = false; // the cluster went away: the other workers stop too
        const worker = async () => {
          for (let target = queue.shift(); target && !lost; target = queue.shift()) {
            try {
              outcomes.push(await signalTarget(port, bound.action, target, bound.escalateAfterSeconds));
            } catch (error) {
              if (deps.isUnreachable(error)) {
                lost = true;
                throw error;
              }
              outcomes.push({ pid: target.pid, outcome: 'error', message: (error as Error).message });
            }
          }
        };
        await Promise.all(Array.from({ length: Math.min(4, bound.targets.length) }, worker));
        outcomes.sort((a, b) => a.pid - b.pid);
        result = { outcomes };
        if (outcomes.every((o) => o.outcome === 'permission_denied' || o.outcome === 'error')) status = 'failed';
      } catch (error) {
        if (!deps.isUnreachable(error)) throw error;
        outcomes.sort((a, b) => a.pid - b.pid);
        const trouble = troubleOf(error);
        result = {
          outcomes,
          unreachable: true,
          ...(trouble === 'unreachable' ? {} : { trouble }),
          message: TROUBLE_SENTENCE[trouble],
        };
        status = 'failed';
      }
    }
    const finished = await state.finish(request.id, status, result);
    const shown = finished.ok ? finished.request : { ...request, status, result };
    await shownApproved; // keep the two edits of the message in order
    await tell(shown);
    return shown;
  }

  /** The approval's binding did not match (audited by the store): nothing is signalled, the request fails. */
  async function refuseTampered(request: KillRequest, shownApproved: Promise<unknown>): Promise<KillRequest> {
    const result: ExecutionResult = { outcomes: [], message: FAILURE_MESSAGES.tampered };
    const finished = await state.finish(request.id, 'failed', result);
    const shown = finished.ok ? finished.request : { ...request, status: 'failed' as const, result };
    await shownApproved;
    await tell(shown);
    return shown;
  }

  /** Update the message in place and tell the requester; Slack failures here must not undo the outcome. */
  async function tell(request: KillRequest, notify = true): Promise<void> {
    await messages.update(request).catch(() => undefined);
    if (notify) await messages.notifyRequester(request).catch(() => undefined);
  }

  async function approve(id: string, user: string): Promise<Result<KillRequest>> {
    const request = await state.get(id);
    if (!request) return fail('not_found');
    // The approver first: a non-approver's click writes nothing, not even a refusal in the audit log.
    if (!(await mayApprove(user, settings.rules(request.cluster), groups))) return fail('not_approver');
    if (settings.readOnly) {
      await state.appendAudit({
        requestId: id,
        event: 'refused',
        actor: user,
        cluster: request.cluster,
        details: { why: 'read_only' },
      });
      return fail('read_only');
    }
    const decided = await state.approve(id, user);
    if (!decided.ok) return fail(decided.code);
    // Show "approved" without making the kill wait on Slack: a slow or failing Web API must not delay it.
    const shownApproved = messages.update(decided.request).catch(() => undefined);
    return { ok: true, value: await execute(decided.request, shownApproved) };
  }

  async function deny(id: string, user: string): Promise<Result<KillRequest>> {
    const request = await state.get(id);
    if (!request) return fail('not_found');
    if (!(await mayApprove(user, settings.rules(request.cluster), groups))) return fail('not_approver');
    const decided = await state.deny(id, user);
    if (!decided.ok) return fail(decided.code);
    await tell(decided.request);
    return { ok: true, value: decided.request };
  }

  async function withdraw(id: string, user: string): Promise<Result<KillRequest>> {
    const decided = await state.withdraw(id, user);
    if (!decided.ok) return fail(decided.code === 'not_requester' ? 'not_the_requester' : decided.code);
    await tell(decided.request, false);
    return { ok: true, value: decided.request };
  }

  /** Expire what is due and show it, without waiting for anyone to click. */
  async function expireDue(): Promise<KillRequest[]> {
    const expired = await state.expireDue();
    for (const request of expired) await tell(request);
    return expired;
  }

  /**
   * Requests approved before a crash or restart that never recorded an outcome: re-check each target and
   * record what is true now. Never re-run: the signal may already have been sent.
   */
  async function reconcile(olderThanSeconds: number): Promise<KillRequest[]> {
    const done: KillRequest[] = [];
    for (const request of await state.findInterrupted(olderThanSeconds)) {
      const port = deps.cluster(request.cluster);
      const outcomes: TargetOutcome[] = [];
      let unreachable = false;
      for (const target of request.targets) {
        if (!port) break;
        try {
          const there = await port.stillThere({
            pid: target.pid,
            backendStart: target.backendStart,
            queryStart: null,
            backendType: target.backendType === 'walsender' ? 'walsender' : 'client backend',
          });
          outcomes.push(interruptedOutcome(target.pid, there !== null));
        } catch (error) {
          if (!deps.isUnreachable(error)) throw error;
          unreachable = true;
          break;
        }
      }
      const result: ExecutionResult = {
        outcomes,
        interrupted: true,
        ...(unreachable ? { unreachable: true } : {}),
        message: 'interrupted by a restart between approval and outcome: reconciled, not re-run',
      };
      const finished = await state.finish(request.id, 'failed', result);
      if (finished.ok) {
        await tell(finished.request);
        done.push(finished.request);
      }
    }
    return done;
  }

  return {
    requestOne,
    requestAll,
    requestFrozenCancel,
    requestRelief,
    approve,
    deny,
    withdraw,
    expireDue,
    reconcile,
    listPending: (cluster?: string) => state.listPending(cluster),
  };
}

export type RequestService = ReturnType<typeof createRequestService>;
