// The two-person rule. A request names exactly the sessions that were seen (request-asks.ts); an approver
// who is not the requester approves; only then is the target re-checked and signalled, once
// (request-execution.ts). Expected outcomes are values with a sentence for the user; only real bugs throw.
import type { ApproverNoticesPort } from './approver-notices.js';
import { ok, type Outcome, type Trouble } from './outcome.js';
import type { AccessRules, GroupsPort, Protection, QueryTextMode } from './policy.js';
import {
  refuseRequest,
  requestAll,
  requestFrozenCancel,
  requestOne,
  requestRelief,
  type BulkAsk,
  type FrozenCancelAsk,
  type ReliefAsk,
  type SingleAsk,
} from './request-asks.js';
import { execute, reconcile, tell } from './request-execution.js';
import { approvalRefused } from './quorum-refusals.js';
import type { ClusterPort } from './ports.js';
import { routingOf, type RoutingSettings } from './routing.js';
import { mayDecide } from './escalated-approver.js';
import type { StatePort } from './state-ports.js';
import type { ExecutionResult, KillRequest } from './types.js';

// ---- ports ---------------------------------------------------------------------------------------------

export type { StatePort } from './state-ports.js';
export type { ClusterPort, SignalTarget as SignalTargetPort } from './ports.js';

/** Messages about a request — the Slack adapter. */
export interface RequestMessagesPort {
  /** Posts the approval request where it was asked; returns the message ts. */
  post(request: KillRequest): Promise<string>;
  /** Shows the request's current status in place. */
  update(request: KillRequest): Promise<void>;
  /** Tells the requester the outcome (thread reply). */
  notifyRequester(request: KillRequest): Promise<void>;
}

export interface RequestSettings extends Protection, RoutingSettings {
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
  /** Direct messages to the approvers (docs/approvals.md "Direct messages"); absent, only the channel hears. */
  notices?: ApproverNoticesPort;
}

// ---- decisions -------------------------------------------------------------------------------------------

export type { BulkAsk, FrozenCancelAsk, ReliefAsk, SingleAsk } from './request-asks.js';
export { interruptedOutcome } from './request-execution.js';

export async function approve(deps: RequestDeps, id: string, user: string): Promise<Outcome<KillRequest>> {
  const { state, settings } = deps;
  const request = await state.get(id);
  if (!request) return refuseRequest('not_found');
  // The approver first: a non-approver's click writes nothing, not even a refusal in the audit log.
  if (
    !(await mayDecide(
      user,
      request,
      settings.rules(request.cluster),
      routingOf(settings, request.cluster),
      deps.groups,
    ))
  )
    return refuseRequest('not_approver');
  if (settings.readOnly) {
    await state.appendAudit({
      requestId: id,
      event: 'refused',
      actor: user,
      cluster: request.cluster,
      details: { why: 'read_only' },
    });
    return refuseRequest('read_only');
  }
  const decided = await state.approve(id, user);
  if (!decided.ok) return approvalRefused(decided);
  // Counted towards the quorum, not yet reached: show the progress; nothing is executed.
  if (decided.request.status === 'pending') {
    // Read again: an approval on another replica may have reached the quorum since, and owns the message then.
    const now = await state.get(id).catch(() => null);
    if (now?.status === 'pending') await deps.messages.update(now).catch(() => undefined);
    return ok(decided.request);
  }
  // Show "approved" without making the kill wait on Slack: a slow or failing Web API must not delay it.
  const shownApproved = deps.messages.update(decided.request).catch(() => undefined);
  return ok(await execute(deps, decided.request, shownApproved));
}

export async function deny(deps: RequestDeps, id: string, user: string): Promise<Outcome<KillRequest>> {
  const request = await deps.state.get(id);
  if (!request) return refuseRequest('not_found');
  if (
    !(await mayDecide(
      user,
      request,
      deps.settings.rules(request.cluster),
      routingOf(deps.settings, request.cluster),
      deps.groups,
    ))
  )
    return refuseRequest('not_approver');
  const decided = await deps.state.deny(id, user);
  if (!decided.ok) return refuseRequest(decided.code);
  await tell(deps, decided.request);
  return ok(decided.request);
}

export async function withdraw(deps: RequestDeps, id: string, user: string): Promise<Outcome<KillRequest>> {
  const decided = await deps.state.withdraw(id, user);
  if (!decided.ok) return refuseRequest(decided.code === 'not_requester' ? 'not_the_requester' : decided.code);
  await tell(deps, decided.request, false);
  return ok(decided.request);
}

/** Expire what is due and show it, without waiting for anyone to click. */
export async function expireDue(deps: RequestDeps): Promise<KillRequest[]> {
  const expired = await deps.state.expireDue();
  for (const request of expired) await tell(deps, request);
  return expired;
}

/** The use cases bound to their dependencies, as the listeners and the decorators (rate limit, metrics) take them. */
export function createRequestService(deps: RequestDeps) {
  return {
    requestOne: (ask: SingleAsk) => requestOne(deps, ask),
    requestAll: (ask: BulkAsk) => requestAll(deps, ask),
    requestFrozenCancel: (ask: FrozenCancelAsk) => requestFrozenCancel(deps, ask),
    requestRelief: (ask: ReliefAsk) => requestRelief(deps, ask),
    approve: (id: string, user: string) => approve(deps, id, user),
    deny: (id: string, user: string) => deny(deps, id, user),
    withdraw: (id: string, user: string) => withdraw(deps, id, user),
    expireDue: () => expireDue(deps),
    reconcile: (olderThanSeconds: number) => reconcile(deps, olderThanSeconds),
    listPending: (cluster?: string) => deps.state.listPending(cluster),
    /** An approval written elsewhere (break-glass): shown, then executed by the one path. */
    executeApproved: (request: KillRequest) =>
      execute(
        deps,
        request,
        deps.messages.update(request).catch(() => undefined),
      ),
  };
}

export type RequestService = ReturnType<typeof createRequestService>;
