// Break-glass (issue 16 part 4, docs/approvals.md): the night nobody answers. Where the environment or the
// clusters file allows it for the request's kind of action (never the database), once the request has waited
// routing.breakGlass.afterSeconds undecided (the state database's clock, from its sealed created_at), its
// requester may execute it alone after typing a reason. Every approver hears of it, and it stays "awaiting
// review" (in `/pgsessions status` and the Home tab) until an approver presses Reviewed.
import { BREAK_GLASS_TEXT, READ_ONLY_TEXT } from './messages.js';
import { ok, refused, type Outcome } from './outcome.js';
import { isProtected, mayApprove, type GroupsPort } from './policy.js';
import type { RequestSettings } from './request-service.js';
import { breakGlassAllows, routingOf, type RoutingSettings } from './routing.js';
import type { KillRequest } from './types.js';

/** A break-glass use as the audit log has it (the break_glass entry's seq). */
export interface BreakGlassUse {
  seq: number;
  requestId: string;
  cluster: string;
  requester: string;
  action: string;
  why: string;
  at: string;
}

/** The longest reason a break-glass use takes. */
export const BREAK_GLASS_WHY_MAX = 500;

/** A pending request as the state database sees it now: how long it has waited, on its own clock. */
export interface WaitedRequest {
  request: KillRequest;
  waitedSeconds: number;
  pastExpiry: boolean;
}

export type BreakGlassCode = 'not_found' | 'already_decided' | 'expired' | 'too_early' | 'tampered' | 'not_requester';

export interface BreakGlassStorePort {
  waited(id: string): Promise<WaitedRequest | null>;
  /**
   * pending → approved with the requester as decider, in one locked transaction that checks the status, the
   * expiry, the seal and the time waited (database clock), writes the break-glass binding and audits
   * `break_glass` (review: awaiting).
   */
  breakGlass(
    id: string,
    requester: string,
    afterSeconds: number,
    why: string,
  ): Promise<{ ok: true; request: KillRequest; use: BreakGlassUse } | { ok: false; code: BreakGlassCode }>;
  /** Audits `break_glass_reviewed` once per use (serialised on the request's row). */
  review(
    requestId: string,
    reviewer: string,
  ): Promise<
    { ok: true; use: BreakGlassUse } | { ok: false; code: 'not_found' } | { ok: false; code: 'reviewed'; by: string }
  >;
  /** Break-glass uses with no break_glass_reviewed entry yet, newest first. */
  listUnreviewed(clusters?: string[]): Promise<BreakGlassUse[]>;
}

/** What is said, and to whom, when the glass is broken and when a use is reviewed (the Slack adapter). */
export interface BreakGlassTellPort {
  /** Each approver (groups expanded, never the requester) by DM, and the request's thread; returns who was DMed. */
  used(request: KillRequest, use: BreakGlassUse, approvers: string[]): Promise<string[]>;
  /** The request's thread says who reviewed it. */
  reviewed(request: KillRequest | null, use: BreakGlassUse, reviewer: string): Promise<void>;
}

export interface BreakGlassDeps {
  store: BreakGlassStorePort;
  settings: RequestSettings;
  groups: GroupsPort;
  /** The normal execution path of an approved request (request-execution.ts), shown in its message. */
  execute(request: KillRequest): Promise<KillRequest>;
  get(id: string): Promise<KillRequest | null>;
  tell: BreakGlassTellPort;
}

/** When break-glass opens for a request: its created_at plus the cluster's afterSeconds, or null when off. */
export function breakGlassOpensAt(settings: RoutingSettings, request: KillRequest): string | null {
  const routing = routingOf(settings, request.cluster);
  if (!breakGlassAllows(routing, request.action)) return null;
  const created = Date.parse(request.createdAt);
  if (!Number.isFinite(created)) return null;
  return new Date(created + routing.breakGlass.afterSeconds * 1000).toISOString();
}

/** "HH:MM UTC", or "HH:MM:SS UTC" when the time is not on a whole minute. */
export function utcClock(iso: string): string {
  const d = new Date(iso);
  if (!Number.isFinite(d.getTime())) return iso;
  const hm = d.toISOString().slice(11, 16);
  return d.getUTCSeconds() === 0 ? `${hm} UTC` : `${d.toISOString().slice(11, 19)} UTC`;
}

const refuse = (code: Parameters<typeof refused>[0], text: string) => refused(code, text);

/** Everything but the time: who, which mode, which cluster's settings, which sessions. */
function mayTry(deps: BreakGlassDeps, request: KillRequest, user: string): Outcome<number> {
  const { settings } = deps;
  if (request.requester !== user) return refuse('not_the_requester', BREAK_GLASS_TEXT.notRequester);
  if (settings.readOnly) return refuse('read_only', READ_ONLY_TEXT);
  const routing = routingOf(settings, request.cluster);
  if (!breakGlassAllows(routing, request.action)) return refuse('not_allowed', BREAK_GLASS_TEXT.off);
  if (request.targets.some((t) => isProtected(t, settings))) return refuse('protected', BREAK_GLASS_TEXT.protected);
  return ok(routing.breakGlass.afterSeconds);
}

/** Whether the requester may break the glass now (the button, before the form opens). */
export async function mayBreakGlass(
  deps: BreakGlassDeps,
  id: string,
  user: string,
): Promise<Outcome<{ request: KillRequest; afterSeconds: number }>> {
  const found = await deps.store.waited(id);
  if (!found) return refuse('not_found', BREAK_GLASS_TEXT.notFound);
  const { request, waitedSeconds, pastExpiry } = found;
  const allowed = mayTry(deps, request, user);
  if (!allowed.ok) return allowed;
  if (request.status !== 'pending') return refuse('already_decided', BREAK_GLASS_TEXT.decided);
  if (pastExpiry) return refuse('expired', BREAK_GLASS_TEXT.expired);
  if (waitedSeconds < allowed.value) {
    const opens = new Date(Date.now() + (allowed.value - waitedSeconds) * 1000).toISOString();
    return refuse('not_allowed', BREAK_GLASS_TEXT.tooEarly(utcClock(opens)));
  }
  return ok({ request, afterSeconds: allowed.value });
}

/** Everyone who approves on the request's cluster, groups expanded, never the requester. */
async function approversOf(deps: BreakGlassDeps, request: KillRequest): Promise<string[]> {
  const people = new Set<string>();
  for (const principal of deps.settings.rules(request.cluster).approvers) {
    if (!principal.startsWith('S')) people.add(principal);
    else for (const member of await deps.groups.members(principal).catch(() => [])) people.add(member);
  }
  people.delete(request.requester);
  return [...people];
}

/** The confirmation form's submission: the request executes with the requester as its only decider. */
export async function breakGlass(
  deps: BreakGlassDeps,
  id: string,
  user: string,
  why: string,
): Promise<Outcome<{ request: KillRequest; use: BreakGlassUse; told: string[] }>> {
  const reason = why.trim();
  if (reason.length === 0) return refuse('reason_required', BREAK_GLASS_TEXT.reasonRequired);
  if (reason.length > BREAK_GLASS_WHY_MAX) return refuse('reason_required', BREAK_GLASS_TEXT.reasonTooLong);
  const may = await mayBreakGlass(deps, id, user);
  if (!may.ok) return may;
  const done = await deps.store.breakGlass(id, user, may.value.afterSeconds, reason);
  if (!done.ok) {
    if (done.code === 'too_early') {
      const opens = breakGlassOpensAt(deps.settings, may.value.request);
      return refuse('not_allowed', BREAK_GLASS_TEXT.tooEarly(opens ? utcClock(opens) : 'a later time'));
    }
    if (done.code === 'tampered') return refuse('tampered', BREAK_GLASS_TEXT.tampered);
    if (done.code === 'expired') return refuse('expired', BREAK_GLASS_TEXT.expired);
    if (done.code === 'not_found') return refuse('not_found', BREAK_GLASS_TEXT.notFound);
    return refuse('already_decided', BREAK_GLASS_TEXT.decided);
  }
  const executed = await deps.execute(done.request);
  const told = await deps.tell.used(executed, done.use, await approversOf(deps, done.request)).catch(() => []);
  return ok({ request: executed, use: done.use, told });
}

/** Reviewed: an approver of the cluster, not the requester, acknowledges a break-glass use (once). */
export async function review(deps: BreakGlassDeps, requestId: string, user: string): Promise<Outcome<BreakGlassUse>> {
  const request = await deps.get(requestId);
  if (!request) return refuse('not_found', BREAK_GLASS_TEXT.notFound);
  if (request.requester === user) return refuse('self_approval', BREAK_GLASS_TEXT.selfReview);
  if (!(await mayApprove(user, deps.settings.rules(request.cluster), deps.groups)))
    return refuse('not_approver', BREAK_GLASS_TEXT.notApprover);
  const done = await deps.store.review(requestId, user);
  if (!done.ok) {
    return done.code === 'reviewed'
      ? refuse('already_decided', BREAK_GLASS_TEXT.alreadyReviewed(done.by))
      : refuse('not_found', BREAK_GLASS_TEXT.notUsed);
  }
  await deps.tell.reviewed(request, done.use, user).catch(() => undefined);
  return ok(done.use);
}

export function createBreakGlassService(deps: BreakGlassDeps) {
  return {
    opensAt: (request: KillRequest) => breakGlassOpensAt(deps.settings, request),
    mayBreakGlass: (id: string, user: string) => mayBreakGlass(deps, id, user),
    breakGlass: (id: string, user: string, why: string) => breakGlass(deps, id, user, why),
    review: (requestId: string, user: string) => review(deps, requestId, user),
    listUnreviewed: (clusters?: string[]) => deps.store.listUnreviewed(clusters),
  };
}

export type BreakGlassService = ReturnType<typeof createBreakGlassService>;
