// The Slack side of a rule's life: the proposal message in the channel where it was proposed, updated in
// place (chat.update) as it is decided and as it executes.
import type { WebClient } from '@slack/web-api';
import type { RuleMessagesPort } from '../domain/rules-service.js';
import { buildRuleMessage } from './blocks/rule.js';
import { sealed } from './blocks/mrkdwn.js';

/** `once` posts without retries: a retried post could leave a second copy with live buttons. */
export function createRuleMessages(client: WebClient, once: WebClient): RuleMessagesPort {
  return {
    async post(rule, preview) {
      const message = sealed(buildRuleMessage(rule, { preview }));
      const posted = await once.chat.postMessage({ channel: rule.channel, text: message.text, blocks: message.blocks });
      if (!posted.ts) throw new Error('chat.postMessage returned no ts');
      return posted.ts;
    },
    async update(rule) {
      if (!rule.messageTs) return;
      const message = sealed(buildRuleMessage(rule));
      await client.chat.update({ channel: rule.channel, ts: rule.messageTs, text: message.text, blocks: message.blocks });
    },
  };
}
