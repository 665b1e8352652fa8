// The Slack side of a drain: its request message (posted and updated like any request's) and the end said in
// the request's thread. The audit channel hears it through the audit log's outbox, like every entry.
import type { WebClient } from '@slack/web-api';
import type { DrainMessagesPort } from '../../domain/drain-service.js';
import type { RequestMessagesPort } from '../../domain/request-service.js';
import { safeText } from '../blocks/mrkdwn.js';

export function createDrainMessages(client: WebClient, requestMessages: RequestMessagesPort): DrainMessagesPort {
  return {
    post: (request) => requestMessages.post(request),
    update: (request) => requestMessages.update(request),
    async ended(drain, sentence, threadTs) {
      await client.chat.postMessage({
        channel: drain.channel,
        ...(threadTs ? { thread_ts: threadTs } : {}),
        text: safeText(sentence, 2000),
      });
    },
  };
}
