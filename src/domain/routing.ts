// How approvals find their people (issue 16): how many distinct approvers each kind of action needs (quorum),
// who hears of a request nobody decided in time (escalation), and whether a requester may act alone once
// nobody answered (break-glass). Global settings (PGSESSIONS_QUORUM, PGSESSIONS_ESCALATE_*,
// PGSESSIONS_BREAK_GLASS*) with per-cluster overrides in the clusters file. Pure: parsing and lookups only.
import { parseDuration } from './duration.js';
import type { Action } from './types.js';

/** Every action is one of two kinds for quorum and break-glass: it stops a query, or it ends sessions. */
export const ROUTING_KINDS = ['cancel', 'terminate'] as const;
export type RoutingKind = (typeof ROUTING_KINDS)[number];

export interface Escalation {
  /** Seconds a request may wait undecided before the next tier is told (≥ 10). */
  afterSeconds: number;
  /** Users (U…/W…) and user groups (S…) told then; groups are read when the escalation fires. */
  to: string[];
}

export interface BreakGlass {
  /** The kinds of action a requester may execute alone; empty: break-glass is off. */
  kinds: RoutingKind[];
  /** Seconds a request must have waited undecided first (≥ 10). */
  afterSeconds: number;
}

export interface ApprovalRouting {
  /** Distinct approvers, none of them the requester, each kind needs; 1 is the two-person rule. */
  quorum: Record<RoutingKind, number>;
  /** null: no escalation. */
  escalate: Escalation | null;
  breakGlass: BreakGlass;
}

export const QUORUM_MAX = 10;
export const ROUTING_MIN_DELAY_SECONDS = 10;
export const BREAK_GLASS_DEFAULT_AFTER_SECONDS = 600;

/** Today's behaviour: one approver for everything, no escalation, no break-glass. */
export const DEFAULT_ROUTING: ApprovalRouting = {
  quorum: { cancel: 1, terminate: 1 },
  escalate: null,
  breakGlass: { kinds: [], afterSeconds: BREAK_GLASS_DEFAULT_AFTER_SECONDS },
};

/** A cancel stops a query; everything else ends sessions (a cancel-then-terminate may, a drain does). */
export function routingKind(action: Action | 'cancel' | 'terminate'): RoutingKind {
  return action === 'cancel' || action === 'cancel_all' ? 'cancel' : 'terminate';
}

/** How many distinct approvers this action needs here. */
export function quorumFor(routing: ApprovalRouting, action: Action): number {
  return routing.quorum[routingKind(action)];
}

/** Whether a requester may execute this action alone (once routing.breakGlass.afterSeconds passed). */
export function breakGlassAllows(routing: ApprovalRouting, action: Action): boolean {
  return routing.breakGlass.kinds.includes(routingKind(action));
}

export type Parsed<T> = { ok: true; value: T } | { ok: false; problem: string };

/** `terminate:2,cancel:1` (either kind may be left out: it keeps `base`'s count). */
export function parseQuorum(text: string, base: Record<RoutingKind, number>): Parsed<Record<RoutingKind, number>> {
  const out = { ...base };
  for (const part of text
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^(cancel|terminate)\s*:\s*(\d{1,2})$/i.exec(part);
    const n = m ? Number(m[2]) : NaN;
    if (!m || !(n >= 1 && n <= QUORUM_MAX)) {
      return { ok: false, problem: `must be like terminate:2,cancel:1 (each 1 to ${QUORUM_MAX})` };
    }
    out[m[1]!.toLowerCase() as RoutingKind] = n;
  }
  return { ok: true, value: out };
}

/** `cancel` or `cancel,terminate`; `off` or empty: none. */
export function parseKinds(text: string): Parsed<RoutingKind[]> {
  const parts = text
    .split(',')
    .map((p) => p.trim().toLowerCase())
    .filter(Boolean);
  if (parts.length === 1 && parts[0] === 'off') return { ok: true, value: [] };
  const kinds: RoutingKind[] = [];
  for (const part of parts) {
    if (part !== 'cancel' && part !== 'terminate') return { ok: false, problem: 'must be cancel, terminate, or both' };
    if (!kinds.includes(part)) kinds.push(part);
  }
  return { ok: true, value: kinds };
}

/** A delay of at least ROUTING_MIN_DELAY_SECONDS (and at most a day: past the longest approval time). */
export function parseDelay(text: string): Parsed<number> {
  const seconds = parseDuration(text);
  if (seconds === null || seconds < ROUTING_MIN_DELAY_SECONDS || seconds > 86_400) {
    return { ok: false, problem: `must be a duration from ${ROUTING_MIN_DELAY_SECONDS}s to 24h, such as 5m` };
  }
  return { ok: true, value: seconds };
}

/** What services take: per-cluster routing, absent where nothing routes yet (then today's behaviour). */
export interface RoutingSettings {
  routing?(cluster: string): ApprovalRouting;
}

export function routingOf(settings: RoutingSettings, cluster: string): ApprovalRouting {
  return settings.routing?.(cluster) ?? DEFAULT_ROUTING;
}
