// A request's execution in plain words (plain text: escape before putting it in mrkdwn), for the approval
// message, the requester's thread reply and the audit channel.
import type { ExecutionResult, TargetOutcome } from '../../domain/types.js';
import { TROUBLE_HEADLINE } from '../../domain/messages.js';

/** One target's outcome in plain words (plain text: escape before putting it in mrkdwn). */
export function describeOutcome(o: TargetOutcome): string {
  switch (o.outcome) {
    case 'terminated':
      return 'terminated';
    case 'cancelled':
      return 'cancelled';
    case 'still_running':
      return o.message ?? 'still running after the signal';
    case 'gone':
      return o.message ?? 'no longer running or changed — nothing killed';
    case 'permission_denied':
      return `permission denied: ${o.message ?? 'the server refused'}`;
    case 'refused':
      return o.message ? `refused (protected): ${o.message}` : 'refused (protected)';
    case 'error':
      return `failed: ${o.message ?? 'unknown error'}`;
  }
}

/** The whole execution in one line of plain words (plain text). */
export function describeResult(result: ExecutionResult | null): string {
  if (result === null) return 'no result recorded';
  if (result.unreachable && result.trouble) return `${TROUBLE_HEADLINE[result.trouble]} — nothing (more) was signalled`;
  if (result.unreachable)
    return `cluster unreachable — nothing was signalled${result.message ? `: ${result.message}` : ''}`;
  const prefix = result.interrupted ? 'interrupted by a restart — reconciled, not re-run' : '';
  const outcomes = result.outcomes;
  let body: string;
  if (outcomes.length === 0) {
    body = result.message ?? (result.interrupted ? '' : 'nothing to do');
  } else if (outcomes.length === 1) {
    body = describeOutcome(outcomes[0] as TargetOutcome);
  } else {
    // Count by wording, first-seen order: "12 terminated, 2 no longer running or changed — nothing killed".
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      const words =
        o.outcome === 'permission_denied' ? 'permission denied' : o.outcome === 'error' ? 'failed' : describeOutcome(o);
      counts.set(words, (counts.get(words) ?? 0) + 1);
    }
    body = [...counts].map(([words, n]) => `${n} ${words}`).join(', ');
  }
  return [prefix, body].filter((x) => x !== '').join(': ');
}
