// The channel side of an escalation (docs/approvals.md "Escalation"): a reply in the request's or proposal's
// thread saying nobody decided in time and who was told now, then its channel message refreshed.
import type { WebClient } from '@slack/web-api';
import type { EscalationMessagesPort, EscalationStep } from '../../domain/escalation.js';
import { formatDuration } from '../../domain/duration.js';
import type { Rule } from '../../domain/rules.js';
import type { KillRequest } from '../../domain/types.js';
import { escapeMrkdwn, userMention } from '../blocks/mrkdwn.js';

/** A group mention (shown as its @handle) when `id` looks like a user-group ID, otherwise the escaped text. */
function groupMention(id: string): string {
  return /^S[A-Z0-9]{1,30}$/.test(id) ? `<!subteam^${id}>` : escapeMrkdwn(id);
}

/** `5 min`, `90 s`, or `1m 30s` when it is not whole minutes. */
function delayWords(seconds: number): string {
  if (seconds < 60) return `${seconds} s`;
  return seconds % 60 === 0 ? `${seconds / 60} min` : formatDuration(seconds);
}

/** "No decision in 5 min: escalated to @x, @y (group @dba-oncall)." */
export function escalationSentence(step: EscalationStep): string {
  const people = step.told.map(userMention);
  const groups = step.to.filter((p) => p.startsWith('S')).map((g) => `group ${groupMention(g)}`);
  const who = people.length > 0 ? people.join(', ') : 'nobody new (everyone named was already told)';
  const tier = step.tier > 1 ? ` (tier ${step.tier})` : '';
  return `:mega: No decision in ${delayWords(step.afterSeconds)}: escalated${tier} to ${who}${groups.length > 0 ? ` (${groups.join(', ')})` : ''}.`;
}

export interface EscalationRefresh {
  request(request: KillRequest): Promise<void>;
  rule(rule: Rule): Promise<void>;
}

/** `once` posts without retries: a retried thread reply that had landed would say it twice. */
export function createEscalationMessages(once: WebClient, refresh: EscalationRefresh): EscalationMessagesPort {
  return {
    async escalated(subject, step) {
      const { channel, messageTs } = subject.kind === 'request' ? subject.request : subject.rule;
      const text = escalationSentence(step);
      // A subject whose channel message was never posted still gets the sentence, in the channel itself.
      await once.chat.postMessage({ channel, text, ...(messageTs ? { thread_ts: messageTs } : {}) });
      if (subject.kind === 'request') await refresh.request(subject.request);
      else await refresh.rule(subject.rule);
    },
  };
}
