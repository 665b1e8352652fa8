// What to say in Slack: which alert messages to post, update or settle now, and which go into the summary.
// Pure.
import type { LiveIncident } from './types.js';

export type DeliveryStep =
  | { kind: 'post'; incident: LiveIncident }
  | { kind: 'update'; incident: LiveIncident }
  /** Cleared before it was ever posted (or while summarised): nothing to show, mark it settled. */
  | { kind: 'settle'; incident: LiveIncident };

/**
 * What the watcher posts or updates now: one message per incident up to `cap` open messages per cluster
 * (the rest go into one summary), an update at most every gap unless the incident cleared or reopened,
 * nothing for a snoozed incident but its clearing, nothing before Slack's Retry-After.
 */
export function planDelivery(live: LiveIncident[], cap: number): { steps: DeliveryStep[]; summarised: LiveIncident[] } {
  const steps: DeliveryStep[] = [];
  const summarised: LiveIncident[] = [];
  let posted = live.filter((r) => r.status === 'open' && r.messageTs !== null).length;
  for (const r of live) {
    if (r.messageTs === null) {
      if (r.status === 'cleared') {
        steps.push({ kind: 'settle', incident: r });
        continue;
      }
      if (r.snoozed) continue;
      if (posted >= cap) {
        summarised.push(r);
        continue;
      }
      posted += 1; // its slot is taken even while Slack asks us to wait
      if (r.postDue) steps.push({ kind: 'post', incident: r });
      continue;
    }
    if (r.shownVersion >= r.version) continue;
    const statusChanged = r.shownStatus !== r.status;
    if (!r.postDue) continue;
    if (r.status === 'open' && r.snoozed && !statusChanged) continue;
    if (!statusChanged && !r.updateDue) continue;
    steps.push({ kind: 'update', incident: r });
  }
  return { steps, summarised };
}
