// Standing approvals as use cases: propose (posted like a kill request, with a preview of what it would
// match now), approve/deny/withdraw under the same two-person rule and approver lists, revoke, and apply —
// the watcher's part: each match claimed in the state database, then signalled by the same identity-checked
// statement as an approved kill. Expected outcomes are values with a sentence; only bugs throw.
import type { AuditEntryInput } from './audit.js';
import { TROUBLE_SENTENCE, type Trouble } from './trouble.js';
import type { Fence } from './lease.js';
import { createCoalescer, realScheduler, type Scheduler } from './coalesce.js';
import {
  isProtected,
  mayApprove,
  mayRequest,
  shapeQueryText,
  type AccessRules,
  type GroupsPort,
  type Protection,
  type QueryTextMode,
} from './policy.js';
import { interruptedOutcome, type ClusterPort } from './requests.js';
import {
  protectedFilter,
  ruleDetectionThresholds,
  ruleFloor,
  ruleMatches,
  ruleSummary,
  withAlertFloor,
  type Rule,
  type RuleAction,
  type RuleExecutionOutcome,
  type RuleLastExecution,
  type RuleSpec,
} from './rules.js';
import type { ExecutionResult, SignalBlocker, TargetOutcome, TargetSnapshot } from './types.js';
import { ruleCandidates, shapeIncident, type Incident, type WatchSnapshot, type WatchThresholds } from './watch.js';

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
  }): Promise<Rule>;
  setMessageTs(id: string, ts: string): Promise<void>;
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
export type RulePreview = { ok: true; matches: PreviewMatch[] } | { ok: false; reason: string };

/** One read of the cluster as the watcher reads it, or why it could not be read (no host or port). */
export type FreshRead = { ok: true; snapshot: WatchSnapshot } | { ok: false; reason: string };

/** The Slack adapter. */
export interface RuleMessagesPort {
  post(rule: Rule, preview: RulePreview): Promise<string>;
  update(rule: Rule): Promise<void>;
  /** A thread reply under the rule's message telling its proposer what became of it. */
  notify(rule: Rule): Promise<void>;
}

export interface RuleSettings extends Protection {
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
}

/** Matches of a preview checked one by one for whether the bot may signal them (the message shows ten). */
const PREVIEW_CHECKED = 10;

export const RULE_FAILURES = {
  read_only: 'pgsessions is in read-only mode (PGSESSIONS_READ_ONLY): no rule can be proposed, approved or applied.',
  not_requester:
    'You are not allowed to request a cancel or terminate on this cluster, so you cannot propose a rule for it.',
  not_approver: 'Only an approver of this cluster can do that (PGSESSIONS_APPROVERS).',
  not_allowed: 'Only someone allowed to request or approve on this cluster can revoke its rules.',
  self_approval: 'You proposed this rule: a second person has to approve it.',
  already_decided: 'This rule was already decided (or has ended).',
  expired: 'This proposal has expired. Propose it again if it is still wanted.',
  not_found: 'That rule does not exist.',
  not_the_proposer: 'Only the proposer can withdraw a proposal.',
  unknown_cluster: 'Unknown cluster.',
  never_acts: 'This rule would never act on this cluster: nothing was proposed.',
  not_watched:
    'Rules are applied by the watcher, and this cluster is not watched (set PGSESSIONS_WATCH_CHANNEL): nothing was proposed.',
  post_failed:
    'The proposal could not be posted in this channel (in a private channel, invite the app first). Nothing was proposed.',
  rate_limited:
    'You are sending requests faster than pgsessions accepts from one person: wait a minute and try again. Nothing was done.',
  tampered:
    'This proposal was changed in the state database without pgsessions\u2019 key since it was made (its seal does not match): it was not approved. The tampering is in the audit log.',
} as const;
export type RuleFailure = keyof typeof RULE_FAILURES;
export type RuleResult<T> = { ok: true; value: T } | { ok: false; code: RuleFailure; message: string };
const fail = <T>(code: RuleFailure): RuleResult<T> => ({ ok: false, code, message: RULE_FAILURES[code] });

/** A revoke, acknowledged: the rule as it ended and what was still under way when it did. */
export interface Revoked {
  rule: Rule;
  /** Executions begun before the revoke, each with its outcome — null if it was not known within the wait. */
  inFlight: RuleInFlight[];
}

/** How often a revoke looks whether executions under way have finished. */
const IN_FLIGHT_POLL_MS = 50;
const DEFAULT_MESSAGE_GAP_MS = 2_000;

/** One match handled by apply(): what was (or, dry run, would have been) done. */
export interface RuleExecution {
  rule: Rule;
  incident: Incident;
  target: TargetSnapshot;
  outcome: RuleExecutionOutcome;
}

function targetOf(incident: Incident, mode: QueryTextMode): TargetSnapshot | null {
  const r = incident.root;
  if (!r) return null;
  return {
    pid: r.pid,
    backendStart: r.backendStart,
    queryStart: r.queryStart,
    xactStart: r.xactStart,
    backendType: 'client backend',
    user: r.user,
    database: r.database,
    application: r.application,
    client: null,
    state: r.state,
    query: shapeQueryText(r.query, mode),
  };
}

/** The audit entry of one execution (or its reconciliation), built once the rule's slot is settled. */
function executedEntry(
  rule: Rule,
  cluster: string,
  e: { dryRun: boolean; target: TargetSnapshot; incident: string; result: ExecutionResult },
): (settled: Rule) => AuditEntryInput {
  return (settled) => ({
    event: 'rule_executed',
    actor: null,
    cluster,
    details: {
      ...ruleSummary(rule),
      approver: rule.approver,
      dryRun: e.dryRun,
      used: settled.used,
      target: e.target,
      incident: e.incident,
      result: e.result,
    },
  });
}

/** Why the server would refuse the bot's signal, in the words of the preview. */
const CANNOT_SIGNAL: Record<SignalBlocker, string> = {
  superuser: "a superuser's session: the bot's role cannot signal it",
  no_role: "a process without a role: the bot's role cannot signal it",
  autovacuum_worker: "an autovacuum worker: the bot's role cannot signal it",
  other_role: "another role's session, and the bot's role lacks pg_signal_backend",
};

export function createRuleService(deps: RuleDeps) {
  const { store, messages, groups, settings } = deps;

  async function mayRequestOrApprove(user: string, cluster: string): Promise<boolean> {
    const rules = settings.rules(cluster);
    return (await mayApprove(user, rules, groups)) || (await mayRequest(user, rules, groups));
  }

  const scheduler = deps.scheduler ?? realScheduler;
  // The message always shows the rule as it is in the state database when the update goes out: a trailing
  // update after a burst shows the final count, and never an older state than one shown before.
  const updates = createCoalescer(
    async (id, asked) => {
      const rule = await store.get(id);
      // A calm update shows counts of a live rule. An ending (revoked, expired, at its cap) is shown by the
      // path that ends it, when it is true: a revoke only once what was under way has finished. A calm update
      // that reads the rule after a revoke committed must not say "revoked" before that.
      if (rule && (asked.now || rule.status === 'approved')) await messages.update(rule);
    },
    settings.messageGapMs ?? DEFAULT_MESSAGE_GAP_MS,
    scheduler,
  );

  /** Executions are coalesced (at most one update per gap); a decision or an ending is shown at once. */
  async function show(rule: Rule, options: { now?: boolean } = {}): Promise<void> {
    await updates.request(rule.id, { now: options.now ?? rule.status !== 'approved' }).catch(() => undefined);
  }

  /** Tells the proposer in the rule's thread; a failure is the adapter's to log and never blocks anything. */
  async function tell(rule: Rule): Promise<void> {
    await messages.notify(rule).catch(() => undefined);
  }

  /** Waits, bounded, until every execution begun before the rule ended has an outcome. */
  async function settleInFlight(id: string): Promise<RuleInFlight[]> {
    const deadline = scheduler.now() + (settings.revokeWaitMs ?? settings.terminateTimeoutMs + 5_000);
    for (;;) {
      const inFlight = await store.inFlightAtEnd(id);
      if (inFlight.every((e) => e.outcome !== null) || scheduler.now() >= deadline) return inFlight;
      await new Promise<void>((resolve) => scheduler.after(IN_FLIGHT_POLL_MS, resolve));
    }
  }

  /**
   * What the rule would match right now, from a fresh read. Each match says what the rule would do, or that
   * it will never touch it: a protected role or application (the bot's own sessions are never read), or a
   * backend the server would not let the bot's role signal. A failed read is said, not hidden.
   */
  async function previewOf(cluster: string, spec: RuleSpec, thresholds: WatchThresholds): Promise<RulePreview> {
    let fresh: FreshRead;
    try {
      fresh = await deps.readNow(cluster);
    } catch {
      fresh = { ok: false, reason: 'the read failed' };
    }
    if (!fresh.ok) return fresh;
    const port = deps.cluster(cluster);
    const matches: PreviewMatch[] = [];
    // What this rule would be matched against on its next look: detected with its own thresholds.
    const candidates = ruleCandidates(fresh.snapshot, ruleDetectionThresholds(thresholds, [spec]));
    for (const incident of ruleMatches(spec, candidates, thresholds)) {
      const root = incident.root!;
      const shown = shapeIncident(incident, settings.queryText);
      if (isProtected(root, settings)) {
        matches.push({
          incident: shown,
          verdict: 'protected',
          why: 'a protected role or application (PGSESSIONS_PROTECTED_ROLES, PGSESSIONS_PROTECTED_APPS)',
        });
        continue;
      }
      // Only the first few are shown: ask the server about those, not about hundreds.
      const blocker =
        matches.length < PREVIEW_CHECKED && port
          ? await port.byPid(root.pid).then(
              (s) => (s?.backendStart === root.backendStart ? (s.signalBlocker ?? null) : null),
              () => null,
            )
          : null;
      matches.push(
        blocker
          ? { incident: shown, verdict: 'protected', why: CANNOT_SIGNAL[blocker] }
          : { incident: shown, verdict: spec.action, why: null },
      );
    }
    return { ok: true, matches };
  }

  async function propose(ask: {
    cluster: string;
    spec: RuleSpec;
    proposer: string;
    channel: string;
  }): Promise<RuleResult<Rule>> {
    if (settings.readOnly) return fail('read_only');
    if (!deps.cluster(ask.cluster)) return fail('unknown_cluster');
    const thresholds = settings.watchThresholds(ask.cluster);
    if (!thresholds) return fail('not_watched');
    if (!(await mayRequest(ask.proposer, settings.rules(ask.cluster), groups))) return fail('not_requester');
    const floor = ruleFloor(ask.spec, thresholds);
    if (!floor.ok) return { ok: false, code: 'never_acts', message: floor.message };
    const shielded = protectedFilter(ask.spec, settings);
    if (shielded) return { ok: false, code: 'never_acts', message: shielded };
    if (deps.mayPropose && !(await deps.mayPropose(ask.proposer))) return fail('rate_limited');
    // Without a threshold of its own it acts at the alert threshold: frozen into it, and said in its message.
    const spec = withAlertFloor(ask.spec, thresholds);
    const preview = await previewOf(ask.cluster, spec, thresholds);
    const rule = await store.create({ ...ask, spec, proposalTtlSeconds: settings.proposalTtlSeconds });
    try {
      const ts = await messages.post(rule, preview);
      await store.setMessageTs(rule.id, ts);
      return { ok: true, value: { ...rule, messageTs: ts } };
    } catch {
      // Nobody can approve a proposal they cannot see.
      await store.withdraw(rule.id, rule.proposer);
      return fail('post_failed');
    }
  }

  async function decided(result: RuleDecision, notify: boolean): Promise<RuleResult<Rule>> {
    if (!result.ok) return fail(result.code);
    await show(result.rule, { now: true });
    if (notify) await tell(result.rule);
    return { ok: true, value: result.rule };
  }

  async function approve(id: string, user: string): Promise<RuleResult<Rule>> {
    const rule = await store.get(id);
    if (!rule) return fail('not_found');
    if (settings.readOnly) return fail('read_only');
    // Fresh group membership at click time, per-cluster approvers.
    if (!(await mayApprove(user, settings.rules(rule.cluster), groups))) return fail('not_approver');
    return decided(await store.approve(id, user), true);
  }

  async function deny(id: string, user: string): Promise<RuleResult<Rule>> {
    const rule = await store.get(id);
    if (!rule) return fail('not_found');
    if (!(await mayApprove(user, settings.rules(rule.cluster), groups))) return fail('not_approver');
    return decided(await store.deny(id, user), true);
  }

  async function withdraw(id: string, user: string): Promise<RuleResult<Rule>> {
    const rule = await store.get(id);
    if (!rule) return fail('not_found');
    if (rule.proposer !== user) return fail('not_the_proposer');
    return decided(await store.withdraw(id, user), false);
  }

  /**
   * Revoked once the revoke has committed (no claim commits after it) AND every execution claimed before it
   * has its outcome: only then is it acknowledged — the clicker's answer and the message saying "revoked".
   * The wait is bounded; what did not finish within it is named, with its outcome unknown.
   */
  async function revoke(id: string, user: string): Promise<RuleResult<Revoked>> {
    const rule = await store.get(id);
    if (!rule) return fail('not_found');
    if (rule.proposer !== user && !(await mayRequestOrApprove(user, rule.cluster))) return fail('not_allowed');
    const result = await store.revoke(id, user);
    if (!result.ok) return fail(result.code);
    const inFlight = await settleInFlight(id);
    const ended = (await store.get(id)) ?? result.rule;
    await show(ended, { now: true });
    await tell(ended);
    return { ok: true, value: { rule: ended, inFlight } };
  }

  async function expireDue(): Promise<Rule[]> {
    const expired = await store.expireDue();
    for (const rule of expired) {
      await show(rule, { now: true });
      await tell(rule);
    }
    return expired;
  }

  /**
   * The watcher's part, on every look of a cluster it leads: every approved rule against the incidents just
   * detected. Read-only mode stops every rule. Protected roles and applications are skipped here and again
   * in the signal statement (with the bot itself and walsenders, which a rule's root never is).
   */
  async function apply(
    cluster: string,
    candidates: (specs: readonly RuleSpec[]) => Incident[],
    fence?: Fence,
  ): Promise<RuleExecution[]> {
    if (settings.readOnly) return [];
    const port = deps.cluster(cluster);
    if (!port) return [];
    const active = await store.active(cluster);
    if (active.length === 0) return [];
    const alert = settings.watchThresholds(cluster);
    if (!alert) return [];
    // Detected with the thresholds these rules need, which may be below the alert thresholds.
    const incidents = candidates(active.map((r) => r.spec));
    const done: RuleExecution[] = [];
    for (const rule of active) {
      // Each rule at its own thresholds: an incident seen for another rule's lower threshold is not this one's.
      for (const incident of ruleMatches(rule.spec, incidents, alert)) {
        const target = targetOf(incident, settings.queryText);
        if (!target) continue;
        if (isProtected(target, settings)) continue;
        const at = new Date().toISOString();
        const claimed = await store.claim(
          rule,
          target,
          { at, pid: target.pid, query: target.query, outcome: 'claimed' },
          incident.key,
          fence,
        );
        if (!claimed) continue; // already executed for this statement, or the rule ended since it was read
        let outcome: TargetOutcome;
        if (rule.spec.dryRun) {
          outcome = {
            pid: target.pid,
            outcome: 'still_running',
            message: `dry run: would have ${rule.spec.action === 'cancel' ? 'cancelled' : 'terminated'} it; nothing was signalled`,
          };
        } else {
          try {
            outcome = await port.signal(
              rule.spec.action,
              {
                pid: target.pid,
                backendStart: target.backendStart,
                queryStart: rule.spec.action === 'cancel' ? target.queryStart : null,
                backendType: 'client backend',
              },
              {
                protectedRoles: settings.protectedRoles,
                protectedApps: settings.protectedApps,
                terminateTimeoutMs: settings.terminateTimeoutMs,
                cancelWaitMs: 1_000,
              },
            );
          } catch (error) {
            outcome = {
              pid: target.pid,
              outcome: 'error',
              message: deps.isUnreachable(error)
                ? TROUBLE_SENTENCE[deps.troubleOf?.(error) ?? 'unreachable']
                : (error as Error).message,
            };
          }
        }
        const shown: RuleExecutionOutcome = rule.spec.dryRun ? 'dry_run' : outcome.outcome;
        const last: RuleLastExecution = { at, pid: target.pid, query: target.query, outcome: shown };
        const result: ExecutionResult = { outcomes: [outcome] };
        const updated = await store.finish(
          claimed.executionId,
          shown,
          last,
          executedEntry(rule, cluster, { dryRun: rule.spec.dryRun, target, incident: incident.key, result }),
        );
        await show(updated);
        if (updated.status === 'exhausted') await tell(updated); // the execution that ended the rule at its cap: the loop stops here
        done.push({ rule: updated, incident, target, outcome: shown });
        if (updated.status !== 'approved') break;
      }
    }
    return done;
  }

  /**
   * Claims left without an outcome by a replica that died between claim and signal outcome: each is recorded
   * once as 'interrupted' (whichever replica sweeps first), keeps its slot, is audited with what is true of
   * the target now, and is never re-run — the unique claim stops any replica from executing it again.
   */
  async function reconcile(olderThanSeconds: number): Promise<Rule[]> {
    const done: Rule[] = [];
    for (const stale of await store.stale(olderThanSeconds)) {
      const rule = await store.get(stale.ruleId);
      if (!rule) continue;
      const t = stale.target;
      const outcome = await whatIsTrueNow(stale);
      const last: RuleLastExecution = { at: stale.claimedAt, pid: t.pid, query: t.query, outcome: 'interrupted' };
      const result: ExecutionResult = {
        outcomes: outcome ? [outcome] : [],
        interrupted: true,
        ...(outcome ? {} : { unreachable: true }),
        message: 'interrupted by a restart between claim and outcome: reconciled, not re-run',
      };
      const updated = await store.interrupt(
        stale.executionId,
        olderThanSeconds,
        last,
        executedEntry(rule, stale.cluster, { dryRun: stale.dryRun, target: t, incident: stale.incident, result }),
      );
      if (!updated) continue;
      await show(updated);
      if (updated.status === 'exhausted' && rule.status !== 'exhausted') await tell(updated);
      done.push(updated);
    }
    return done;
  }

  /** Whether the target still runs (the statement, for a cancel): said, not acted on. Null when unknown. */
  async function whatIsTrueNow(stale: StaleExecution): Promise<TargetOutcome | null> {
    const port = deps.cluster(stale.cluster);
    if (!port) return null;
    const t = stale.target;
    const cancel = stale.action === 'cancel';
    try {
      const there = await port.stillThere({
        pid: t.pid,
        backendStart: t.backendStart,
        queryStart: cancel ? t.queryStart : null,
        backendType: 'client backend',
      });
      const running =
        there !== null && (!cancel || there.state === 'active' || there.state === 'fastpath function call');
      return interruptedOutcome(t.pid, running);
    } catch (error) {
      if (!deps.isUnreachable(error)) throw error;
      return null;
    }
  }

  return {
    propose,
    approve,
    deny,
    withdraw,
    revoke,
    expireDue,
    apply,
    reconcile,
    list: (cluster?: string) => store.live(cluster),
    anyActive: (cluster: string) => store.anyActive(cluster),
    /** Sends the updates still held back by the coalescing (on the way out). */
    close: () => updates.close(),
  };
}

export type RuleService = ReturnType<typeof createRuleService>;
