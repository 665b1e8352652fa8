// Standing approvals as use cases: propose (posted like a kill request, with a preview of what it would
// match now), approve/deny/withdraw under the same two-person rule and approver lists, revoke
// (rule-decisions.ts), and apply — the watcher's part: each match claimed in the state database, then
// signalled by the same identity-checked statement as an approved kill (rule-apply.ts). Expected outcomes
// are values with a sentence; only bugs throw.
import type { ApproverNoticesPort } from './approver-notices.js';
import type { RoutingSettings } from './routing.js';
import type { AuditEntryInput } from './audit.js';
import { createCoalescer, realScheduler, type Scheduler } from './coalesce.js';
import type { Fence } from './lease.js';
import type { Outcome, Trouble } from './outcome.js';
import type { AccessRules, GroupsPort, Protection, QueryTextMode } from './policy.js';
import type { ClusterPort } from './request-service.js';
import { apply, reconcile } from './rule-apply.js';
import { approve, deny, expireDue, propose, revoke, withdraw, type Proposal } from './rule-decisions.js';
import type { Rule, RuleAction, RuleExecutionOutcome, RuleLastExecution, RuleSpec } from './rules.js';
import type { TargetSnapshot } from './types.js';
import type { Incident, WatchSnapshot, WatchThresholds } from './watch.js';

/** tampered: the proposal's seal does not match what its row says now (changed without the key); audited. */
export type RuleFailureCode = 'self_approval' | 'already_decided' | 'expired' | 'not_found' | 'tampered';
export type RuleDecision = { ok: true; rule: Rule } | { ok: false; code: RuleFailureCode; rule?: Rule };

/** src/postgres/rule-store.ts */
export interface RuleStorePort {
  get(id: string): Promise<Rule | null>;
  create(input: {
    cluster: string;
    spec: RuleSpec;
    proposer: string;
    channel: string;
    proposalTtlSeconds: number;
    /** Distinct approvers it needs (quorumFor its action), frozen now; absent: 1. */
    quorum?: number;
  }): Promise<Rule>;
  setMessageTs(id: string, ts: string): Promise<void>;
  /** ok with the rule still proposed: the approval was counted (once) short of its quorum. */
  approve(id: string, approver: string): Promise<RuleDecision>;
  deny(id: string, user: string): Promise<RuleDecision>;
  withdraw(id: string, user: string): Promise<RuleDecision>;
  revoke(id: string, user: string): Promise<RuleDecision>;
  /** The rule's executions that had no outcome yet when it ended (and still have none, or got it since). */
  inFlightAtEnd(id: string): Promise<RuleInFlight[]>;
  expireDue(): Promise<Rule[]>;
  live(cluster?: string): Promise<Rule[]>;
  active(cluster: string): Promise<Rule[]>;
  anyActive(cluster: string): Promise<boolean>;
  /** Every cluster with an approved, unexpired rule, in one read. */
  activeClusters(): Promise<Set<string>>;
  /**
   * Claims one execution and reserves a slot of the cap; null when this statement was already claimed, or
   * the rule no longer holds (revoked, expired, every slot taken), or the watcher's lease (`fence`) was taken
   * over by another replica. The rule does not end here.
   */
  claim(
    rule: Rule,
    target: TargetSnapshot,
    last: RuleLastExecution,
    incident?: string,
    fence?: Fence,
  ): Promise<{ executionId: string; rule: Rule } | null>;
  /**
   * Records the outcome once, gives the slot back when nothing was signalled (givesSlotBack), audits it, and
   * ends the rule at its cap when nothing of it is still in flight (audited rule_ended, once).
   */
  finish(
    executionId: string,
    outcome: RuleExecutionOutcome,
    last: RuleLastExecution,
    audit: (rule: Rule) => AuditEntryInput,
  ): Promise<Rule>;
  /** Claims with no outcome after this long: their replica died between claim and outcome. */
  stale(olderThanSeconds: number): Promise<StaleExecution[]>;
  /** Records 'interrupted' (the slot kept) once across replicas, audited, with the same end-of-cap check; null when another did. */
  interrupt(
    executionId: string,
    olderThanSeconds: number,
    last: RuleLastExecution,
    audit: (rule: Rule) => AuditEntryInput,
  ): Promise<Rule | null>;
}

/** A claim left without an outcome, as the store keeps it. */
export interface StaleExecution {
  executionId: string;
  ruleId: string;
  cluster: string;
  action: RuleSpec['action'];
  dryRun: boolean;
  claimedAt: string;
  target: TargetSnapshot;
  incident: string;
}

/** An execution begun before its rule ended; outcome null while its signal is still out. */
export interface RuleInFlight {
  id: string;
  pid: number;
  outcome: string | null;
}

/** One session the rule would match right now: what it would do to it, or why it never will. */
export interface PreviewMatch {
  /** The incident, its query text shaped per PGSESSIONS_QUERY_TEXT. */
  incident: Incident;
  /** The rule's action; 'protected' when it will never touch this session, whatever it matches. */
  verdict: RuleAction | 'protected';
  /** Why it is never touched (verdict 'protected'). */
  why: string | null;
}

/** The proposal's "Would match right now": from a fresh read of the cluster, or why it could not be read. */
export type RulePreview = Outcome<PreviewMatch[], 'read_failed'>;

/** One read of the cluster as the watcher reads it, or why it could not be read (no host or port). */
export type FreshRead = Outcome<WatchSnapshot, 'read_failed'>;

/** The Slack adapter. */
export interface RuleMessagesPort {
  post(rule: Rule, preview: RulePreview): Promise<string>;
  update(rule: Rule): Promise<void>;
  /** A thread reply under the rule's message telling its proposer what became of it. */
  notify(rule: Rule): Promise<void>;
}

export interface RuleSettings extends Protection, RoutingSettings {
  readOnly: boolean;
  queryText: QueryTextMode;
  proposalTtlSeconds: number;
  terminateTimeoutMs: number;
  rules(cluster: string): AccessRules;
  /** Rules act through the watcher: a cluster nobody watches (null) cannot have any. Its alert thresholds otherwise. */
  watchThresholds(cluster: string): WatchThresholds | null;
  /** How long a revoke waits for executions already under way (default: terminateTimeoutMs + 5 s). */
  revokeWaitMs?: number;
  /** At most one update of a rule's message per this many ms while it executes (default 2 s). */
  messageGapMs?: number;
}

export interface RuleDeps {
  store: RuleStorePort;
  cluster(name: string): ClusterPort | undefined;
  messages: RuleMessagesPort;
  groups: GroupsPort;
  settings: RuleSettings;
  /**
   * The cluster read now, for the preview (not the watcher's last look, which may be a whole interval old
   * or not have happened yet).
   */
  readNow(cluster: string): Promise<FreshRead>;
  isUnreachable(error: unknown): boolean;
  /** Which connection failure (full, busy, unreachable), to say what it is; unreachable when absent. */
  troubleOf?(error: unknown): Trouble | null;
  /** A per-user budget for proposals (the request rate limit). */
  mayPropose?(user: string): boolean | Promise<boolean>;
  /** Timers of the message coalescing and the revoke's wait (tests pass their own clock). */
  scheduler?: Scheduler;
  /** Direct messages to the approvers (docs/approvals.md "Direct messages"); absent, only the channel hears. */
  notices?: ApproverNoticesPort;
}

/** A revoke, acknowledged: the rule as it ended and what was still under way when it did. */
export interface Revoked {
  rule: Rule;
  /** Executions begun before the revoke, each with its outcome — null if it was not known within the wait. */
  inFlight: RuleInFlight[];
}

/** One match handled by apply(): what was (or, dry run, would have been) done. */
export interface RuleExecution {
  rule: Rule;
  incident: Incident;
  target: TargetSnapshot;
  outcome: RuleExecutionOutcome;
}

const DEFAULT_MESSAGE_GAP_MS = 2_000;

/** What the operations share: the dependencies, the clock, and how a rule's message is shown and told. */
export interface RuleContext extends RuleDeps {
  scheduler: Scheduler;
  /** Executions are coalesced (at most one update per gap); a decision or an ending is shown at once. */
  show(rule: Rule, options?: { now?: boolean }): Promise<void>;
  /** Tells the proposer in the rule's thread; a failure is the adapter's to log and never blocks anything. */
  tell(rule: Rule): Promise<void>;
}

/** The closure holds the one thing that lives between calls: the coalescing of message updates. */
export function createRuleService(deps: RuleDeps) {
  const scheduler = deps.scheduler ?? realScheduler;
  // The message always shows the rule as it is in the state database when the update goes out: a trailing
  // update after a burst shows the final count, and never an older state than one shown before.
  const updates = createCoalescer(
    async (id, asked) => {
      const rule = await deps.store.get(id);
      // A calm update shows counts of a live rule. An ending (revoked, expired, at its cap) is shown by the
      // path that ends it, when it is true: a revoke only once what was under way has finished. A calm update
      // that reads the rule after a revoke committed must not say "revoked" before that.
      if (rule && (asked.now || rule.status === 'approved')) await deps.messages.update(rule);
    },
    deps.settings.messageGapMs ?? DEFAULT_MESSAGE_GAP_MS,
    scheduler,
  );
  const ctx: RuleContext = {
    ...deps,
    scheduler,
    show: async (rule, options = {}) => {
      await updates.request(rule.id, { now: options.now ?? rule.status !== 'approved' }).catch(() => undefined);
    },
    tell: async (rule) => {
      await deps.messages.notify(rule).catch(() => undefined);
    },
  };
  return {
    propose: (ask: Proposal) => propose(ctx, ask),
    approve: (id: string, user: string) => approve(ctx, id, user),
    deny: (id: string, user: string) => deny(ctx, id, user),
    withdraw: (id: string, user: string) => withdraw(ctx, id, user),
    revoke: (id: string, user: string) => revoke(ctx, id, user),
    expireDue: () => expireDue(ctx),
    apply: (cluster: string, candidates: (specs: readonly RuleSpec[]) => Incident[], fence?: Fence) =>
      apply(ctx, cluster, candidates, fence),
    reconcile: (olderThanSeconds: number) => reconcile(ctx, olderThanSeconds),
    list: (cluster?: string) => deps.store.live(cluster),
    anyActive: (cluster: string) => deps.store.anyActive(cluster),
    activeClusters: () => deps.store.activeClusters(),
    /** Sends the updates still held back by the coalescing (on the way out). */
    close: () => updates.close(),
  };
}

export type RuleService = ReturnType<typeof createRuleService>;
