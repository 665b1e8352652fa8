// The watcher's part of standing approvals: every approved rule against the incidents just detected, each
// match claimed in the state database, then signalled by the same identity-checked statement as an approved
// kill; and, after a replica died between claim and outcome, each claim reconciled once, never re-run.
import type { AuditEntryInput } from './audit.js';
import type { Fence } from './lease.js';
import { EXECUTION_TEXT, TROUBLE_SENTENCE } from './messages.js';
import { isProtected, shapeQueryText, type QueryTextMode } from './policy.js';
import type { ClusterPort } from './request-service.js';
import { interruptedOutcome } from './request-execution.js';
import type { RuleContext, RuleExecution, StaleExecution } from './rule-service.js';
import { ruleMatches, ruleSummary, type Rule, type RuleExecutionOutcome, type RuleLastExecution } from './rules.js';
import type { RuleSpec } from './rules.js';
import type { ExecutionResult, TargetOutcome, TargetSnapshot } from './types.js';
import type { Incident, WatchThresholds } from './watch.js';

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

/** The rule's action on one claimed target (or, dry run, what it would have been). */
async function signalClaimed(
  ctx: RuleContext,
  port: ClusterPort,
  rule: Rule,
  target: TargetSnapshot,
): Promise<TargetOutcome> {
  const { settings } = ctx;
  if (rule.spec.dryRun) {
    const would = rule.spec.action === 'cancel' ? 'cancelled' : 'terminated';
    return {
      pid: target.pid,
      outcome: 'still_running',
      message: `dry run: would have ${would} it; nothing was signalled`,
    };
  }
  try {
    return await port.signal(
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
    const message = ctx.isUnreachable(error)
      ? TROUBLE_SENTENCE[ctx.troubleOf?.(error) ?? 'unreachable']
      : (error as Error).message;
    return { pid: target.pid, outcome: 'error', message };
  }
}

/** One match of one rule: claimed, signalled, recorded and shown; null when it was claimed already. */
async function executeMatch(
  ctx: RuleContext,
  at: { cluster: string; port: ClusterPort; fence: Fence | undefined },
  rule: Rule,
  incident: Incident,
): Promise<RuleExecution | null> {
  const target = targetOf(incident, ctx.settings.queryText);
  if (!target || isProtected(target, ctx.settings)) return null;
  const now = new Date().toISOString();
  const claim = { at: now, pid: target.pid, query: target.query, outcome: 'claimed' } as const;
  const claimed = await ctx.store.claim(rule, target, claim, incident.key, at.fence);
  if (!claimed) return null; // already executed for this statement, or the rule ended since it was read
  const outcome = await signalClaimed(ctx, at.port, rule, target);
  const shown: RuleExecutionOutcome = rule.spec.dryRun ? 'dry_run' : outcome.outcome;
  const last: RuleLastExecution = { at: now, pid: target.pid, query: target.query, outcome: shown };
  const result: ExecutionResult = { outcomes: [outcome] };
  const updated = await ctx.store.finish(
    claimed.executionId,
    shown,
    last,
    executedEntry(rule, at.cluster, { dryRun: rule.spec.dryRun, target, incident: incident.key, result }),
  );
  await ctx.show(updated);
  if (updated.status === 'exhausted') await ctx.tell(updated); // the execution that ended the rule at its cap
  return { rule: updated, incident, target, outcome: shown };
}

/**
 * The watcher's part, on every look of a cluster it leads: every approved rule against the incidents just
 * detected. Read-only mode stops every rule. Protected roles and applications are skipped here and again
 * in the signal statement (with the bot itself and walsenders, which a rule's root never is).
 */
export async function apply(
  ctx: RuleContext,
  cluster: string,
  candidates: (specs: readonly RuleSpec[]) => Incident[],
  fence?: Fence,
): Promise<RuleExecution[]> {
  if (ctx.settings.readOnly) return [];
  const port = ctx.cluster(cluster);
  if (!port) return [];
  const active = await ctx.store.active(cluster);
  if (active.length === 0) return [];
  const alert: WatchThresholds | null = ctx.settings.watchThresholds(cluster);
  if (!alert) return [];
  // Detected with the thresholds these rules need, which may be below the alert thresholds.
  const incidents = candidates(active.map((r) => r.spec));
  const done: RuleExecution[] = [];
  for (const rule of active) {
    // Each rule at its own thresholds: an incident seen for another rule's lower threshold is not this one's.
    for (const incident of ruleMatches(rule.spec, incidents, alert)) {
      const execution = await executeMatch(ctx, { cluster, port, fence }, rule, incident);
      if (!execution) continue;
      done.push(execution);
      if (execution.rule.status !== 'approved') break; // the loop stops at the execution that ended the rule
    }
  }
  return done;
}

/** Whether the target still runs (the statement, for a cancel): said, not acted on. Null when unknown. */
async function whatIsTrueNow(ctx: RuleContext, stale: StaleExecution): Promise<TargetOutcome | null> {
  const port = ctx.cluster(stale.cluster);
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
    const running = there !== null && (!cancel || there.state === 'active' || there.state === 'fastpath function call');
    return interruptedOutcome(t.pid, running);
  } catch (error) {
    if (!ctx.isUnreachable(error)) throw error;
    return null;
  }
}

/**
 * Claims left without an outcome by a replica that died between claim and signal outcome: each is recorded
 * once as 'interrupted' (whichever replica sweeps first), keeps its slot, is audited with what is true of
 * the target now, and is never re-run — the unique claim stops any replica from executing it again.
 */
export async function reconcile(ctx: RuleContext, olderThanSeconds: number): Promise<Rule[]> {
  const done: Rule[] = [];
  for (const stale of await ctx.store.stale(olderThanSeconds)) {
    const rule = await ctx.store.get(stale.ruleId);
    if (!rule) continue;
    const t = stale.target;
    const outcome = await whatIsTrueNow(ctx, stale);
    const last: RuleLastExecution = { at: stale.claimedAt, pid: t.pid, query: t.query, outcome: 'interrupted' };
    const result: ExecutionResult = {
      outcomes: outcome ? [outcome] : [],
      interrupted: true,
      ...(outcome ? {} : { unreachable: true }),
      message: EXECUTION_TEXT.ruleInterrupted,
    };
    const updated = await ctx.store.interrupt(
      stale.executionId,
      olderThanSeconds,
      last,
      executedEntry(rule, stale.cluster, { dryRun: stale.dryRun, target: t, incident: stale.incident, result }),
    );
    if (!updated) continue;
    await ctx.show(updated);
    if (updated.status === 'exhausted' && rule.status !== 'exhausted') await ctx.tell(updated);
    done.push(updated);
  }
  return done;
}
