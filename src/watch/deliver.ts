// Delivery: the alert messages of one cluster brought in line with its incidents, as planDelivery says —
// post (after claiming the post, so a leader change never posts twice), update, settle — then the summary of
// what did not fit. Slack's Retry-After is honoured: nothing more goes to Slack this look.
import type { Fence } from '../domain/lease.js';
import type { Delivered } from '../domain/ports.js';
import { type DeliveryStep, type LiveIncident, planDelivery } from '../domain/watch.js';
import type { WatchContext, WatchedCluster } from './types.js';

/** `known`: the cluster's live incidents as just read, when nothing was written since. */
export async function deliver(
  ctx: WatchContext,
  c: WatchedCluster,
  fence: Fence,
  known?: LiveIncident[],
): Promise<void> {
  const live = known ?? (await ctx.deps.store.live(c.name, ctx.deps.updateGapSeconds));
  const { steps, summarised } = planDelivery(live, ctx.deps.maxOpenMessages);
  for (const step of steps) {
    const sent = await deliverStep(ctx, c, fence, step);
    if (sent && !sent.ok && sent.retryAfterSeconds !== null) return; // rate limited: nothing more to Slack this look
  }
  await deliverSummary(ctx, c, summarised);
}

/** One step; what Slack said, or null when nothing was sent (settled, or another watcher posts it). */
async function deliverStep(
  ctx: WatchContext,
  c: WatchedCluster,
  fence: Fence,
  step: DeliveryStep,
): Promise<Delivered | null> {
  const { store, messages, logger } = ctx.deps;
  const r = step.incident;
  if (step.kind === 'settle') {
    await store.shown(r.id, r.version, r.status);
    return null;
  }
  if (step.kind === 'post') {
    const claim = await store.claimPost(r.id, fence);
    if (!claim) return null;
    const sent = await messages.post(r);
    if (sent.ok) {
      await store.posted(r.id, sent.ts, r.version, r.status);
      return sent;
    }
    await store.postFailed(r.id, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
    logger.warn({ cluster: c.name, incident: r.id, error: sent.error }, 'alert not posted; will try again');
    return sent;
  }
  const sent = await messages.update(r);
  if (sent.ok) {
    await store.shown(r.id, r.version, r.status);
    return sent;
  }
  await store.updateFailed(r.id, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
  logger.warn({ cluster: c.name, incident: r.id, error: sent.error }, 'alert not updated; will try again');
  return sent;
}

/** The one message per cluster that lists the incidents past the cap of open messages. */
async function deliverSummary(ctx: WatchContext, c: WatchedCluster, summarised: LiveIncident[]): Promise<void> {
  const { store, messages } = ctx.deps;
  const body = messages.summaryBody(c.name, summarised);
  const summary = await store.summary(c.name, ctx.deps.updateGapSeconds);
  if (body === (summary?.body ?? '') || (summary && !summary.postDue)) return;
  if (body === '' && !summary?.messageTs) return;
  const sent = await messages.summary(c.name, c.settings.channel, summary?.messageTs ?? null, summarised);
  if (sent.ok) await store.summaryShown(c.name, c.settings.channel, sent.ts, body);
  else await store.summaryFailed(c.name, c.settings.channel, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
}
