// The Slack side of a rule's life: the proposal message in the channel where it was proposed, updated in
// place (chat.update) as it is decided and as it executes, and thread replies telling the proposer when it
// is approved, denied, revoked, expired or reaches its cap.
import type { WebClient } from '@slack/web-api';
import type { ApproverNoticesPort } from '../../domain/approver-notices.js';
import type { Logger } from '../../logger.js';
import type { RuleMessagesPort } from '../../domain/rule-service.js';
import type { QueryTextMode } from '../../domain/policy.js';
import type { Rule } from '../../domain/rules.js';
import { buildRuleMessage, ruleNotice } from '../blocks/rule.js';
import { sealed } from '../blocks/mrkdwn.js';

/**
 * `once` posts without retries: a retried post could leave a second copy with live buttons. How often the
 * message is updated is the rule service's to decide (it coalesces executions); this only sends.
 */
export function createRuleMessages(
  client: WebClient,
  once: WebClient,
  logger?: Logger,
  queryText: QueryTextMode = 'full',
  notices?: ApproverNoticesPort,
): RuleMessagesPort {
  // The status each rule's direct messages last showed (this process): they change with it, not per execution.
  const dmStatus = new Map<string, Rule['status']>();
  return {
    async post(rule, preview) {
      const message = sealed(buildRuleMessage(rule, { preview, queryText }));
      const posted = await once.chat.postMessage({ channel: rule.channel, text: message.text, blocks: message.blocks });
      if (!posted.ts) throw new Error('chat.postMessage returned no ts');
      return posted.ts;
    },
    async update(rule) {
      if (!rule.messageTs) return;
      const message = sealed(buildRuleMessage(rule, { queryText }));
      await client.chat.update({
        channel: rule.channel,
        ts: rule.messageTs,
        text: message.text,
        blocks: message.blocks,
      });
      if (notices && dmStatus.get(rule.id) !== rule.status) {
        dmStatus.set(rule.id, rule.status);
        await notices.refresh({ kind: 'rule', rule });
      }
    },
    async notify(rule) {
      const text = ruleNotice(rule);
      // No message, no thread: a proposal whose post failed was withdrawn and concerns nobody.
      if (!text || !rule.messageTs) return;
      try {
        await client.chat.postMessage({ channel: rule.channel, thread_ts: rule.messageTs, text });
      } catch (error) {
        // The decision stands whatever Slack says; the proposer can still read the rule's message.
        logger?.warn({ err: error, rule: rule.id, status: rule.status }, 'could not tell the proposer in the thread');
      }
    },
  };
}
