// A standing approval's life under the two-person rule: proposed (posted with a preview of what it would
// match now), approved or denied by an approver who is not the proposer, withdrawn, revoked, expired. Each
// refusal is a value with its sentence (messages.ts); only bugs throw.
import { CANNOT_SIGNAL, PREVIEW_PROTECTED, RULE_FAILURES, type RuleFailure } from './messages.js';
import { ok, refused, type Outcome } from './outcome.js';
import { quorumFor, routingOf } from './routing.js';
import { isProtected, mayApprove, mayRequest } from './policy.js';
import { mayDecide } from './escalated-approver.js';
import type {
  FreshRead,
  PreviewMatch,
  Revoked,
  RuleContext,
  RuleDecision,
  RuleInFlight,
  RulePreview,
} from './rule-service.js';
import { protectedFilter, ruleDetectionThresholds, ruleFloor, ruleMatches, withAlertFloor } from './rules.js';
import type { Rule, RuleSpec } from './rules.js';
import { ruleCandidates, shapeIncident, type WatchThresholds } from './watch.js';

/** Matches of a preview checked one by one for whether the bot may signal them (the message shows ten). */
const PREVIEW_CHECKED = 10;
/** How often a revoke looks whether executions under way have finished. */
const IN_FLIGHT_POLL_MS = 50;

export const refuseRule = (code: RuleFailure) => refused(code, RULE_FAILURES[code]);

async function mayRequestOrApprove(ctx: RuleContext, user: string, cluster: string): Promise<boolean> {
  const rules = ctx.settings.rules(cluster);
  return (await mayApprove(user, rules, ctx.groups)) || (await mayRequest(user, rules, ctx.groups));
}

/**
 * What the rule would match right now, from a fresh read. Each match says what the rule would do, or that
 * it will never touch it: a protected role or application (the bot's own sessions are never read), or a
 * backend the server would not let the bot's role signal. A failed read is said, not hidden.
 */
export async function previewOf(
  ctx: RuleContext,
  cluster: string,
  spec: RuleSpec,
  thresholds: WatchThresholds,
): Promise<RulePreview> {
  let fresh: FreshRead;
  try {
    fresh = await ctx.readNow(cluster);
  } catch {
    fresh = refused('read_failed', 'the read failed');
  }
  if (!fresh.ok) return fresh;
  const port = ctx.cluster(cluster);
  const matches: PreviewMatch[] = [];
  // What this rule would be matched against on its next look: detected with its own thresholds.
  const candidates = ruleCandidates(fresh.value, ruleDetectionThresholds(thresholds, [spec]));
  for (const incident of ruleMatches(spec, candidates, thresholds)) {
    const root = incident.root!;
    const shown = shapeIncident(incident, ctx.settings.queryText);
    if (isProtected(root, ctx.settings)) {
      matches.push({ incident: shown, verdict: 'protected', why: PREVIEW_PROTECTED });
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
  return ok(matches);
}

export interface Proposal {
  cluster: string;
  spec: RuleSpec;
  proposer: string;
  channel: string;
}

export async function propose(ctx: RuleContext, ask: Proposal): Promise<Outcome<Rule>> {
  const { settings, store } = ctx;
  if (settings.readOnly) return refuseRule('read_only');
  if (!ctx.cluster(ask.cluster)) return refuseRule('unknown_cluster');
  const thresholds = settings.watchThresholds(ask.cluster);
  if (!thresholds) return refuseRule('not_watched');
  if (!(await mayRequest(ask.proposer, settings.rules(ask.cluster), ctx.groups))) return refuseRule('not_requester');
  const floor = ruleFloor(ask.spec, thresholds);
  if (!floor.ok) return floor;
  const shielded = protectedFilter(ask.spec, settings);
  if (shielded) return refused('never_acts', shielded);
  if (ctx.mayPropose && !(await ctx.mayPropose(ask.proposer))) return refuseRule('rate_limited');
  // Without a threshold of its own it acts at the alert threshold: frozen into it, and said in its message.
  const spec = withAlertFloor(ask.spec, thresholds);
  const preview = await previewOf(ctx, ask.cluster, spec, thresholds);
  const quorum = quorumFor(routingOf(settings, ask.cluster), spec.action);
  const rule = await store.create({ ...ask, spec, proposalTtlSeconds: settings.proposalTtlSeconds, quorum });
  try {
    const ts = await ctx.messages.post(rule, preview);
    await store.setMessageTs(rule.id, ts);
    const posted = { ...rule, messageTs: ts };
    // The approvers hear of it directly, without the proposer's answer waiting for it; never fails the proposal.
    ctx.notices?.tell({ kind: 'rule', rule: posted }, settings.rules(ask.cluster).approvers, 0).catch(() => undefined);
    return ok(posted);
  } catch {
    // Nobody can approve a proposal they cannot see.
    await store.withdraw(rule.id, rule.proposer);
    return refuseRule('post_failed');
  }
}

async function decided(ctx: RuleContext, result: RuleDecision, notify: boolean): Promise<Outcome<Rule>> {
  if (!result.ok) return refuseRule(result.code);
  await ctx.show(result.rule, { now: true });
  if (notify) await ctx.tell(result.rule);
  return ok(result.rule);
}

export async function approve(ctx: RuleContext, id: string, user: string): Promise<Outcome<Rule>> {
  const rule = await ctx.store.get(id);
  if (!rule) return refuseRule('not_found');
  if (ctx.settings.readOnly) return refuseRule('read_only');
  // Fresh group membership at click time, per-cluster approvers.
  if (
    !(await mayDecide(user, rule, ctx.settings.rules(rule.cluster), routingOf(ctx.settings, rule.cluster), ctx.groups))
  )
    return refuseRule('not_approver');
  return decided(ctx, await ctx.store.approve(id, user), true);
}

export async function deny(ctx: RuleContext, id: string, user: string): Promise<Outcome<Rule>> {
  const rule = await ctx.store.get(id);
  if (!rule) return refuseRule('not_found');
  if (
    !(await mayDecide(user, rule, ctx.settings.rules(rule.cluster), routingOf(ctx.settings, rule.cluster), ctx.groups))
  )
    return refuseRule('not_approver');
  return decided(ctx, await ctx.store.deny(id, user), true);
}

export async function withdraw(ctx: RuleContext, id: string, user: string): Promise<Outcome<Rule>> {
  const rule = await ctx.store.get(id);
  if (!rule) return refuseRule('not_found');
  if (rule.proposer !== user) return refuseRule('not_the_proposer');
  return decided(ctx, await ctx.store.withdraw(id, user), false);
}

/** Waits, bounded, until every execution begun before the rule ended has an outcome. */
async function settleInFlight(ctx: RuleContext, id: string): Promise<RuleInFlight[]> {
  const { scheduler, settings } = ctx;
  const deadline = scheduler.now() + (settings.revokeWaitMs ?? settings.terminateTimeoutMs + 5_000);
  for (;;) {
    const inFlight = await ctx.store.inFlightAtEnd(id);
    if (inFlight.every((e) => e.outcome !== null) || scheduler.now() >= deadline) return inFlight;
    await new Promise<void>((resolve) => scheduler.after(IN_FLIGHT_POLL_MS, resolve));
  }
}

/**
 * Revoked once the revoke has committed (no claim commits after it) AND every execution claimed before it
 * has its outcome: only then is it acknowledged — the clicker's answer and the message saying "revoked".
 * The wait is bounded; what did not finish within it is named, with its outcome unknown.
 */
export async function revoke(ctx: RuleContext, id: string, user: string): Promise<Outcome<Revoked>> {
  const rule = await ctx.store.get(id);
  if (!rule) return refuseRule('not_found');
  if (rule.proposer !== user && !(await mayRequestOrApprove(ctx, user, rule.cluster))) return refuseRule('not_allowed');
  const result = await ctx.store.revoke(id, user);
  if (!result.ok) return refuseRule(result.code);
  const inFlight = await settleInFlight(ctx, id);
  const ended = (await ctx.store.get(id)) ?? result.rule;
  await ctx.show(ended, { now: true });
  await ctx.tell(ended);
  return ok({ rule: ended, inFlight });
}

export async function expireDue(ctx: RuleContext): Promise<Rule[]> {
  const expired = await ctx.store.expireDue();
  for (const rule of expired) {
    await ctx.show(rule, { now: true });
    await ctx.tell(rule);
  }
  return expired;
}
