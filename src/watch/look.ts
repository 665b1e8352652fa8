// One look at a cluster this replica leads: read it, detect (and let the standing approvals act), then bring
// the incident store in line — open, refresh, clear with the reason read from the state database — and
// deliver. Decisions are the domain's (src/domain/watch.ts); this file only runs them in order.
import type { Fence } from '../domain/lease.js';
import { ruleDetectionThresholds, type RuleSpec } from '../domain/rules.js';
import {
  clearReasonFor,
  clusterDownIncident,
  detectIncidents,
  type Incident,
  type IncidentRecord,
  type LiveIncident,
  planIncidents,
  ruleCandidates,
  shapeIncident,
  type WatchSnapshot,
} from '../domain/watch.js';
import { describeConnectionError, describeReadFailure } from '../postgres/pools.js';
import { deliver } from './deliver.js';
import type { WatchContext, WatchedCluster } from './types.js';

type Read = { snapshot: WatchSnapshot; error: null } | { snapshot: null; error: string };

/** One look at a cluster this replica leads (false: another replica leads it, nothing was done). */
export async function look(ctx: WatchContext, c: WatchedCluster): Promise<boolean> {
  const { store } = ctx.deps;
  const fence = await ctx.deps.leadership.lead(c.name);
  if (!fence) return false;
  const read = await readCluster(ctx, c);
  const live = await store.live(c.name, ctx.deps.updateGapSeconds);
  const open = live.filter((r) => r.status === 'open');
  const detected = await detectedNow(ctx, c, fence, read, open);
  const plan = planIncidents(open, detected);
  for (const incident of plan.open) await store.open(incident, c.settings.channel, fence);
  for (const { record, incident } of plan.refresh) await store.refresh(record.id, incident, fence);
  for (const record of plan.clear) await clear(ctx, c, record, read.snapshot, fence);
  // Nothing written and no rule acting: what was read above is still what there is to deliver (one read of
  // the state database less per quiet look, which is most looks of most clusters).
  const unchanged = plan.open.length + plan.refresh.length + plan.clear.length === 0 && !ctx.ruled.has(c.name);
  await deliver(ctx, c, fence, unchanged ? live : undefined);
  return true;
}

async function readCluster(ctx: WatchContext, c: WatchedCluster): Promise<Read> {
  try {
    const snapshot = await c.reader.read({
      walsenders: c.settings.thresholds.replicationLagBytes !== null,
      connectionsShare: c.settings.thresholds.connectionsShare,
    });
    ctx.failures.set(c.name, 0);
    ctx.deps.onLook?.(c.name, c.reader.lastReadMs());
    return { snapshot, error: null };
  } catch (e) {
    ctx.failures.set(c.name, (ctx.failures.get(c.name) ?? 0) + 1);
    ctx.deps.logger.warn(
      { cluster: c.name, err: { message: describeConnectionError(e) } },
      'could not look at the cluster',
    );
    // The alert says what kind of failure, never the error's text: it names the host and port.
    return { snapshot: null, error: describeReadFailure(e) };
  }
}

/** What is there now: detected in the snapshot, or — while the cluster cannot be read — what was open. */
async function detectedNow(
  ctx: WatchContext,
  c: WatchedCluster,
  fence: Fence,
  read: Read,
  open: LiveIncident[],
): Promise<Incident[]> {
  const seen = read.snapshot;
  if (seen) {
    const raw = detectIncidents(seen, c.settings.thresholds);
    await applyRules(ctx, fence, (specs) =>
      ruleCandidates(seen, ruleDetectionThresholds(c.settings.thresholds, specs)),
    );
    // Query text is shaped (PGSESSIONS_QUERY_TEXT) before it is stored or posted.
    return raw.map((i) => shapeIncident(i, ctx.deps.queryText));
  }
  if ((ctx.failures.get(c.name) ?? 0) >= ctx.deps.downAfterFailures) {
    // What was open stays open as it was: nothing is known about it while the cluster cannot be read.
    return [
      ...open.filter((r) => r.cause !== 'cluster-down').map((r) => r.incident),
      clusterDownIncident(c.name, read.error ?? 'unknown error'),
    ];
  }
  return open.map((r) => r.incident);
}

async function applyRules(
  ctx: WatchContext,
  fence: Fence,
  candidates: (specs: readonly RuleSpec[]) => Incident[],
): Promise<void> {
  const { rules, logger } = ctx.deps;
  if (!rules) return;
  const cluster = fence.cluster;
  try {
    // One cheap EXISTS per look while no rule is active; the rules themselves are read only when one is.
    if (!(await rules.anyActive(cluster))) {
      ctx.ruled.delete(cluster);
      return;
    }
    ctx.ruled.add(cluster);
    // What they did is in the state database: the alert's clear reason is read from there.
    await rules.apply(cluster, candidates, fence);
  } catch (error) {
    // The state database or a bug: the alerts still go out; the next look tries the rules again.
    logger.error({ cluster, err: error }, 'applying standing approvals failed');
  }
}

/** Clears an incident no longer seen, with why: a rule, a bulk cancel of a storm, a request, or by itself. */
async function clear(
  ctx: WatchContext,
  c: WatchedCluster,
  record: IncidentRecord,
  snapshot: WatchSnapshot | null,
  fence: Fence,
): Promise<void> {
  const { store } = ctx.deps;
  const root = record.incident.root;
  // Read from the state database, not remembered: the replica that executed the rule may not be the
  // one clearing the alert (a leader change, a restart).
  const byRule =
    root && ctx.deps.rules ? await store.ruleExecutedOn(c.name, root.pid, root.backendStart, root.queryStart) : null;
  if (byRule) {
    const { ruleId, outcome: action, proposer, approver } = byRule;
    return store.clear(record.id, { kind: 'rule', ruleId, action, proposer, approver }, fence);
  }
  if (record.cause === 'query-storm') return clearStorm(ctx, c, record, snapshot, fence);
  let executed = root ? await store.executedOn(c.name, root.pid, root.backendStart) : null;
  // A cancel ended the incident only if it cancelled the query the incident was about.
  if (executed?.outcome === 'cancelled' && root && executed.queryStart !== root.queryStart) executed = null;
  const reason = clearReasonFor(
    record,
    snapshot,
    executed ? { requestId: executed.requestId, outcome: executed.outcome, approver: executed.approver } : null,
  );
  await store.clear(record.id, reason, fence);
}

/** A storm is relieved by the bulk cancel of its frozen sessions, whichever of them the root now is. */
async function clearStorm(
  ctx: WatchContext,
  c: WatchedCluster,
  record: IncidentRecord,
  snapshot: WatchSnapshot | null,
  fence: Fence,
): Promise<void> {
  const { store } = ctx.deps;
  const bulk = snapshot ? await store.stormRequestOn(c.name, record.incident.members) : null;
  // Still signalling: clear on a later look, when it can say how many were cancelled.
  if (bulk?.executing) return;
  const relievedBy =
    bulk && bulk.cancelled > 0
      ? {
          requestId: bulk.requestId,
          outcome: 'cancelled' as const,
          approver: bulk.approver,
          counts: { done: bulk.cancelled, of: bulk.targets },
        }
      : null;
  await store.clear(record.id, clearReasonFor(record, snapshot, relievedBy), fence);
}
