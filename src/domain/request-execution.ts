// An approved request, carried out once: the durable intent first, then each frozen target signalled by the
// identity-checked statement, the outcome recorded and shown. After a restart, what was left without an
// outcome is reconciled from what is true now, never re-run.
import { EXECUTION_TEXT, FAILURE_MESSAGES, TROUBLE_SENTENCE } from './messages.js';
import type { ClusterPort, RequestDeps } from './request-service.js';
import type { Action, ExecutionResult, KillRequest, TargetOutcome, TargetSnapshot } from './types.js';

/**
 * After a restart interrupted an execution: whether the signal went out before the interruption is unknown,
 * so say what is true now, no more (requests and standing approvals alike).
 */
export function interruptedOutcome(pid: number, stillRunning: boolean): TargetOutcome {
  return stillRunning
    ? { pid, outcome: 'still_running', message: EXECUTION_TEXT.stillRunning }
    : { pid, outcome: 'gone', message: EXECUTION_TEXT.gone };
}

const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Cancel, then terminate the same query's session if it still runs `escalateAfter` seconds after the cancel. */
async function cancelThenTerminate(
  deps: RequestDeps,
  port: ClusterPort,
  target: TargetSnapshot,
  escalateAfter: number | null,
): Promise<TargetOutcome> {
  const { settings } = deps;
  const sleep = deps.sleep ?? realSleep;
  const guard = {
    protectedRoles: settings.protectedRoles,
    protectedApps: settings.protectedApps,
    terminateTimeoutMs: settings.terminateTimeoutMs,
  };
  const withQuery = {
    pid: target.pid,
    backendStart: target.backendStart,
    queryStart: target.queryStart,
    backendType: 'client backend' as const,
  };
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

async function signalTarget(
  deps: RequestDeps,
  port: ClusterPort,
  request: Pick<KillRequest, 'action' | 'escalateAfterSeconds'>,
  target: TargetSnapshot,
): Promise<TargetOutcome> {
  const { settings } = deps;
  const guard = {
    protectedRoles: settings.protectedRoles,
    protectedApps: settings.protectedApps,
    terminateTimeoutMs: settings.terminateTimeoutMs,
  };
  const identity = { pid: target.pid, backendStart: target.backendStart };
  const action: Action = request.action;
  switch (action) {
    case 'cancel':
    case 'cancel_all':
      return port.signal(
        'cancel',
        { ...identity, queryStart: target.queryStart, backendType: 'client backend' },
        guard,
      );
    case 'cancel_then_terminate':
      return cancelThenTerminate(deps, port, target, request.escalateAfterSeconds);
    case 'terminate':
    case 'terminate_all':
      return port.signal('terminate', { ...identity, queryStart: null, backendType: 'client backend' }, guard);
    case 'terminate_walsender':
      return port.signal('terminate', { ...identity, queryStart: null, backendType: 'walsender' }, guard);
    case 'drain':
      throw new Error('a drain is executed by the drain service');
  }
}

/** Signals every target, four at a time; the cluster going away stops them all and is thrown. */
async function signalAll(
  deps: RequestDeps,
  port: ClusterPort,
  request: KillRequest,
  outcomes: TargetOutcome[],
): Promise<void> {
  const queue = [...request.targets];
  let lost = false; // the cluster went away: the other workers stop too
  const worker = async () => {
    for (let target = queue.shift(); target && !lost; target = queue.shift()) {
      try {
        outcomes.push(await signalTarget(deps, port, request, target));
      } catch (error) {
        if (deps.isUnreachable(error)) {
          lost = true;
          throw error;
        }
        outcomes.push({ pid: target.pid, outcome: 'error', message: (error as Error).message });
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(4, request.targets.length) }, worker));
}

/** What signalling the bound request came to, and whether that is a failure. */
async function carryOut(
  deps: RequestDeps,
  request: KillRequest,
): Promise<{ result: ExecutionResult; status: 'executed' | 'failed' }> {
  if (request.action === 'drain')
    return deps.drain
      ? deps.drain(request)
      : { status: 'failed', result: { outcomes: [], message: 'drains are not available here' } };
  const port = deps.cluster(request.cluster);
  if (!port) return { result: { outcomes: [], message: EXECUTION_TEXT.noCluster }, status: 'failed' };
  const outcomes: TargetOutcome[] = [];
  try {
    await signalAll(deps, port, request, outcomes);
  } catch (error) {
    if (!deps.isUnreachable(error)) throw error;
    outcomes.sort((a, b) => a.pid - b.pid);
    const trouble = deps.troubleOf?.(error) ?? 'unreachable';
    const result: ExecutionResult = {
      outcomes,
      unreachable: true,
      ...(trouble === 'unreachable' ? {} : { trouble }),
      message: TROUBLE_SENTENCE[trouble],
    };
    return { result, status: 'failed' };
  }
  outcomes.sort((a, b) => a.pid - b.pid);
  const failed = outcomes.every((o) => o.outcome === 'permission_denied' || o.outcome === 'error');
  return { result: { outcomes }, status: failed ? 'failed' : 'executed' };
}

/** Update the message in place and tell the requester; Slack failures here must not undo the outcome. */
export async function tell(deps: RequestDeps, request: KillRequest, notify = true): Promise<void> {
  await deps.messages.update(request).catch(() => undefined);
  if (notify) await deps.messages.notifyRequester(request).catch(() => undefined);
}

/** Records the outcome and shows it, after the "approved" edit still in flight (the two edits stay in order). */
async function conclude(
  deps: RequestDeps,
  request: KillRequest,
  status: 'executed' | 'failed',
  result: ExecutionResult,
  shownApproved: Promise<unknown>,
): Promise<KillRequest> {
  const finished = await deps.state.finish(request.id, status, result);
  const shown = finished.ok ? finished.request : { ...request, status, result };
  await shownApproved;
  await tell(deps, shown);
  return shown;
}

/** shownApproved: the "approved" message update, still in flight; the outcome is shown only after it. */
export async function execute(
  deps: RequestDeps,
  request: KillRequest,
  shownApproved: Promise<unknown>,
): Promise<KillRequest> {
  // The intent is durable before any signal is sent: a crash from here on leaves a trace to reconcile.
  // Only the one caller that records it goes on to signal.
  const intent = await deps.state.markExecuting(request.id);
  if (!intent.ok && intent.code === 'tampered') {
    // The approval's binding did not match (audited by the store): nothing is signalled, the request fails.
    const result: ExecutionResult = { outcomes: [], message: FAILURE_MESSAGES.tampered };
    return conclude(deps, intent.request ?? request, 'failed', result, shownApproved);
  }
  if (!intent.ok) return request;
  // Signal exactly the row whose binding was just checked, not the copy read before it.
  const { result, status } = await carryOut(deps, intent.request);
  return conclude(deps, request, status, result, shownApproved);
}

/** What is true now of one interrupted request's targets; unreachable when the cluster did not answer. */
async function recheck(
  deps: RequestDeps,
  request: KillRequest,
): Promise<{ outcomes: TargetOutcome[]; unreachable: boolean }> {
  const port = deps.cluster(request.cluster);
  const outcomes: TargetOutcome[] = [];
  if (!port) return { outcomes, unreachable: false };
  for (const target of request.targets) {
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
      return { outcomes, unreachable: true };
    }
  }
  return { outcomes, unreachable: false };
}

/**
 * Requests approved before a crash or restart that never recorded an outcome: re-check each target and
 * record what is true now. Never re-run: the signal may already have been sent.
 */
export async function reconcile(deps: RequestDeps, olderThanSeconds: number): Promise<KillRequest[]> {
  const done: KillRequest[] = [];
  for (const request of await deps.state.findInterrupted(olderThanSeconds)) {
    const { outcomes, unreachable } = await recheck(deps, request);
    const result: ExecutionResult = {
      outcomes,
      interrupted: true,
      ...(unreachable ? { unreachable: true } : {}),
      message: EXECUTION_TEXT.requestInterrupted,
    };
    const finished = await deps.state.finish(request.id, 'failed', result);
    if (finished.ok) {
      await tell(deps, finished.request);
      done.push(finished.request);
    }
  }
  return done;
}
