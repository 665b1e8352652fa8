// Standing approvals: a rule two people agree in advance ("cancel any statement of app rails-migrate that has
// waited ≥ 5 s on a lock while ≥ 3 sessions wait behind it"), applied by the watcher to the incidents it sees.
// Pure: what a rule may say, how it reads in plain words, and whether an incident matches it.
import { ok, refused, type Outcome } from './outcome.js';
import { runsAQuery, type Protection } from './policy.js';
import type { RuleSummary } from './audit.js';
import type { TargetOutcomeCode } from './types.js';
import type { Incident, IncidentCause, WatchThresholds } from './watch.js';
import { FLOOR } from './rule-floor.js';
import { clock, describeRule, formatDuration, ruleText } from './rule-words.js';

export { clock, describeRule, formatDuration, ruleText };

/** The watch causes a rule may act on: each has one root session to signal. */
export const RULE_CAUSES = [
  'lock-queue-head',
  'root-blocker',
  'idle-in-transaction',
  'active',
] as const satisfies readonly IncidentCause[];
export type RuleCause = (typeof RULE_CAUSES)[number];

export const RULE_ACTIONS = ['cancel', 'terminate'] as const;
export type RuleAction = (typeof RULE_ACTIONS)[number];

export const MAX_RULE_LIFETIME_SECONDS = 24 * 3600;
export const DEFAULT_RULE_MAX = 5;
export const MAX_RULE_MAX = 1000;

/** Who a rule may touch: at least one of these is required, so that no rule matches everything. */
export interface RuleFilters {
  application?: string;
  user?: string;
  database?: string;
  queryId?: string;
}

/** All given thresholds must be met (≥). */
export interface RuleThresholds {
  /** Seconds the root has waited on a lock (lock-queue head), or the longest wait behind it (root blocker). */
  waitingSeconds?: number;
  /** Sessions waiting behind the root. */
  blocking?: number;
  /** Seconds idle in transaction. */
  idleSeconds?: number;
  /** Seconds the current statement has run. */
  runningSeconds?: number;
}

export interface RuleSpec {
  action: RuleAction;
  cause: RuleCause;
  filters: RuleFilters;
  thresholds: RuleThresholds;
  lifetimeSeconds: number;
  maxExecutions: number;
  dryRun: boolean;
  reason: string;
  /**
   * The alert threshold this rule acts at because it gives no threshold of its own for its cause, frozen when
   * it is proposed (so the rule acts at what the people who agreed to it were shown). Absent when the rule
   * gives its own, and in rules stored before it existed (those fall back to the cluster's alert threshold).
   */
  alertFloorSeconds?: number;
  /** blocking:/waiting: also count sessions waiting on advisory locks (any database user can take those). */
  advisoryLocks?: boolean;
}

/** A rule as the state database keeps it. */
export type RuleStatus = 'proposed' | 'approved' | 'denied' | 'withdrawn' | 'revoked' | 'expired' | 'exhausted';
export const RULE_STATUSES: readonly RuleStatus[] = [
  'proposed',
  'approved',
  'denied',
  'withdrawn',
  'revoked',
  'expired',
  'exhausted',
];

export interface RuleLastExecution {
  at: string;
  pid: number;
  query: string | null;
  outcome: string;
}

/**
 * What an execution may end as: a signal outcome (src/domain/types.ts), a dry run, or 'interrupted' — a
 * claim whose replica died before recording an outcome (reconciled, never re-run).
 */
export type RuleExecutionOutcome = TargetOutcomeCode | 'dry_run' | 'interrupted';

/**
 * The cap counts what acted. These outcomes signalled nothing — the target was gone or no longer the same
 * statement, a protected role or application, or the server refused — so their slot is given back. Every
 * other outcome keeps it: a signal went out (cancelled, terminated, still_running), may have gone out
 * (error, interrupted), or a dry run simulated one.
 */
export const UNSIGNALLED_OUTCOMES = [
  'gone',
  'refused',
  'permission_denied',
] as const satisfies readonly RuleExecutionOutcome[];

export function givesSlotBack(outcome: RuleExecutionOutcome): boolean {
  return (UNSIGNALLED_OUTCOMES as readonly string[]).includes(outcome);
}

export interface Rule {
  id: string;
  cluster: string;
  spec: RuleSpec;
  status: RuleStatus;
  proposer: string;
  approver: string | null;
  /** Who ended it (denied, withdrawn, revoked). */
  endedBy: string | null;
  channel: string;
  messageTs: string | null;
  createdAt: string;
  /** A proposal nobody decided on expires at this time. */
  proposalExpiresAt: string;
  /** Set on approval: approval time + lifetime. */
  expiresAt: string | null;
  used: number;
  last: RuleLastExecution | null;
  /** Distinct approvers it needs, frozen when proposed (rule-quorum.ts); absent: 1. */
  quorum?: number;
  /** Who approved so far, in order — only approvals carrying pgsessions' MAC; absent: none read. */
  approvers?: string[];
}

export type RuleCheck = Outcome<RuleSpec, 'invalid_rule'>;

/** What the parser collected, before the safety checks. */
export interface RuleDraft {
  action: string;
  cause: string;
  filters: RuleFilters;
  thresholds: RuleThresholds;
  lifetimeSeconds: number | null;
  maxExecutions: number | null;
  dryRun: boolean;
  reason: string;
  /** The `advisory` word. */
  advisoryLocks?: boolean;
}

/** The safety checks: a rule that is unsafe or means nothing is refused with a sentence; nothing is stored. */
export function checkRule(d: RuleDraft): RuleCheck {
  const no = (message: string): RuleCheck => refused('invalid_rule', message);
  if (!(RULE_ACTIONS as readonly string[]).includes(d.action))
    return no(`A rule's action is cancel or terminate, got “${d.action}”.`);
  if (!(RULE_CAUSES as readonly string[]).includes(d.cause))
    return no(`A rule's cause is one of ${RULE_CAUSES.join(', ')}; got “${d.cause}”.`);
  const action = d.action as RuleAction;
  const cause = d.cause as RuleCause;
  const f = d.filters;
  if (f.application === undefined && f.user === undefined && f.database === undefined && f.queryId === undefined) {
    return no(
      'A rule needs at least one narrowing filter — app:, user:, db: or query_id: — so that it cannot match every session.',
    );
  }
  if (d.lifetimeSeconds === null) return no('A rule needs a lifetime: for:2h (at most 24h).');
  if (d.lifetimeSeconds <= 0 || d.lifetimeSeconds > MAX_RULE_LIFETIME_SECONDS)
    return no('for: must be more than 0 and at most 24h.');
  const max = d.maxExecutions ?? DEFAULT_RULE_MAX;
  if (!Number.isInteger(max) || max < 1 || max > MAX_RULE_MAX)
    return no(`max: must be a whole number from 1 to ${MAX_RULE_MAX}.`);
  const t = d.thresholds;
  if (action === 'cancel' && cause === 'idle-in-transaction') {
    return no('An idle transaction runs no statement: cancelling does nothing. Use terminate for idle-in-transaction.');
  }
  if (t.idleSeconds !== undefined && cause !== 'idle-in-transaction' && cause !== 'root-blocker') {
    return no(`idle: applies to idle-in-transaction (or root-blocker), not ${cause}.`);
  }
  if (t.runningSeconds !== undefined && cause === 'idle-in-transaction')
    return no('running: does not apply to an idle transaction; use idle:.');
  if (
    (t.waitingSeconds !== undefined || t.blocking !== undefined) &&
    (cause === 'idle-in-transaction' || cause === 'active')
  ) {
    return no(`waiting: and blocking: apply to lock-queue-head and root-blocker; ${cause} alerts have nobody waiting.`);
  }
  if (d.advisoryLocks && cause !== 'lock-queue-head' && cause !== 'root-blocker') {
    return no(
      `advisory counts waits on advisory locks for lock-queue-head and root-blocker; ${cause} alerts have nobody waiting.`,
    );
  }
  if (d.reason.trim().length === 0) return no('Give a reason: it goes into the audit trail.');
  const spec: RuleSpec = {
    action,
    cause,
    filters: { ...f },
    thresholds: { ...t },
    lifetimeSeconds: d.lifetimeSeconds,
    maxExecutions: max,
    dryRun: d.dryRun,
    reason: d.reason.trim(),
  };
  if (d.advisoryLocks) spec.advisoryLocks = true;
  return ok(spec);
}

// ---- what the watcher must look for ---------------------------------------------------------------------------

/**
 * How long a session must be in the rule's cause before the watcher sees it: the rule's own threshold where it
 * gives one (a rule saying waiting:1s acts at 1 s even if the cluster alerts at 30 s), the cluster's alert
 * threshold otherwise. Null when the cluster does not look for that cause and the rule gives no threshold:
 * such a rule would never act, so it is refused with a sentence saying what to add.
 */
export function ruleFloor(spec: RuleSpec, alert: WatchThresholds): Outcome<number, 'never_acts'> {
  const f = FLOOR[spec.cause];
  const own = spec.thresholds[f.rule] ?? spec.alertFloorSeconds;
  if (own !== undefined) return ok(own);
  const fromAlerts = alert[f.key];
  if (fromAlerts !== null) return ok(fromAlerts);
  return refused(
    'never_acts',
    `This cluster's watcher does not look for ${spec.cause} (${f.setting} is off) and the rule gives no ${f.word}, so it would never act. Add ${f.word} (for example ${f.word}30s). Nothing was proposed.`,
  );
}

/**
 * The rule as proposed: a rule with no threshold of its own for its cause acts at the cluster's alert
 * threshold, frozen into it now, so that its message can say so and a later change of the setting does not
 * change what two people agreed to. Unchanged when the rule gives its own (or the cause is not watched).
 */
export function withAlertFloor(spec: RuleSpec, alert: WatchThresholds): RuleSpec {
  const f = FLOOR[spec.cause];
  if (spec.thresholds[f.rule] !== undefined || spec.alertFloorSeconds !== undefined) return spec;
  const seconds = alert[f.key];
  return seconds === null ? spec : { ...spec, alertFloorSeconds: seconds };
}

/**
 * The thresholds one rule is matched with: its own, with its floor (ruleFloor) in place of the one it does not
 * give. The watcher detects with the lowest thresholds any active rule needs (ruleDetectionThresholds), so an
 * incident seen for another rule's sake must still meet this rule's own floor — never another rule's. Null
 * when the rule could never act (its cause is not watched and it gives no threshold).
 */
export function effectiveThresholds(spec: RuleSpec, alert: WatchThresholds): RuleThresholds | null {
  const floor = ruleFloor(spec, alert);
  if (!floor.ok) return null;
  return { ...spec.thresholds, [FLOOR[spec.cause].rule]: floor.value };
}

/**
 * The thresholds the watcher detects with when it applies rules: each lowered to what the active rules need
 * (never raised), so that a rule acts on its own thresholds, not on the alert's. Alerts keep the cluster's own.
 */
export function ruleDetectionThresholds(alert: WatchThresholds, specs: readonly RuleSpec[]): WatchThresholds {
  const out = { ...alert };
  for (const spec of specs) {
    const floor = ruleFloor(spec, alert);
    if (!floor.ok) continue;
    const key = FLOOR[spec.cause].key;
    const current = out[key];
    out[key] = current === null ? floor.value : Math.min(current, floor.value);
  }
  return out;
}

/**
 * A rule whose filter names a protected role or application could never act (protected sessions are never
 * signalled, whatever a rule says): refused with a sentence rather than approved to do nothing.
 */
export function protectedFilter(spec: RuleSpec, protection: Protection): string | null {
  const f = spec.filters;
  if (f.user !== undefined && protection.protectedRoles.includes(f.user)) {
    return `Role ${f.user} is protected (PGSESSIONS_PROTECTED_ROLES or a managed service's own role): pgsessions never signals its sessions, so this rule would never act. Nothing was proposed.`;
  }
  if (f.application !== undefined && protection.protectedApps.includes(f.application)) {
    return `Application ${f.application} is protected (PGSESSIONS_PROTECTED_APPS): pgsessions never signals its sessions, so this rule would never act. Nothing was proposed.`;
  }
  return null;
}

// ---- matching ------------------------------------------------------------------------------------------------

/** Does this incident fall under the rule? Only the root session is ever a rule's target. */
export function matchesRule(spec: RuleSpec, incident: Incident): boolean {
  if (incident.cause !== spec.cause) return false;
  const r = incident.root;
  if (!r) return false;
  const f = spec.filters;
  if (f.application !== undefined && r.application !== f.application) return false;
  if (f.user !== undefined && r.user !== f.user) return false;
  if (f.database !== undefined && r.database !== f.database) return false;
  if (f.queryId !== undefined && r.queryId !== f.queryId) return false;
  // A cancel needs a running statement to name; terminate needs none.
  if (spec.action === 'cancel' && !runsAQuery(r)) return false;
  const t = spec.thresholds;
  const idle = (r.state ?? '').startsWith('idle in transaction');
  // Any database user can queue sessions on an advisory lock: they count only when the rule says so.
  const waits =
    spec.advisoryLocks || !incident.lockWaits
      ? { waiting: incident.waiting, oldestWaitSeconds: incident.oldestWaitSeconds }
      : incident.lockWaits;
  if (t.waitingSeconds !== undefined) {
    const waited = incident.cause === 'lock-queue-head' ? (r.waitSeconds ?? 0) : waits.oldestWaitSeconds;
    if (waited < t.waitingSeconds) return false;
  }
  if (t.blocking !== undefined && waits.waiting < t.blocking) return false;
  if (t.idleSeconds !== undefined && !(idle && r.ageSeconds >= t.idleSeconds)) return false;
  if (t.runningSeconds !== undefined && !(r.state === 'active' && r.ageSeconds >= t.runningSeconds)) return false;
  return true;
}

/**
 * The root of each incident the rule matches at its own thresholds (effectiveThresholds: its floor where it
 * gives none), at most once per session.
 */
export function ruleMatches(spec: RuleSpec, incidents: Incident[], alert: WatchThresholds): Incident[] {
  const thresholds = effectiveThresholds(spec, alert);
  if (!thresholds) return [];
  const own: RuleSpec = { ...spec, thresholds };
  const seen = new Set<string>();
  return incidents.filter((i) => {
    if (!matchesRule(own, i) || !i.root) return false;
    const k = `${i.root.pid}:${i.root.backendStart}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}

/** How every audit entry of a rule names it. */
export function ruleSummary(rule: Rule): RuleSummary {
  return {
    rule: rule.id,
    text: ruleText(rule.spec),
    words: describeRule(rule.spec, rule.expiresAt),
    reason: rule.spec.reason,
    proposer: rule.proposer,
  };
}

/** Rule statuses in which a rule can still act or be approved. */
export const LIVE_RULE_STATUSES: readonly RuleStatus[] = ['proposed', 'approved'];
