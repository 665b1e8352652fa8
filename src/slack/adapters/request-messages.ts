// The Slack side of a request's life: the approval message in the channel where it was asked (updated in
// place with chat.update: a response_url dies after 30 minutes and 5 uses), and a thread reply that tells
// the requester the outcome.
import type { WebClient } from '@slack/web-api';
import type { ApproverNoticesPort } from '../../domain/approver-notices.js';
import type { RequestMessagesPort } from '../../domain/request-service.js';
import { shapeQueryText, type QueryTextMode } from '../../domain/policy.js';
import type { KillRequest } from '../../domain/types.js';
import { describeResult } from '../blocks/outcome.js';
import { buildApprovalMessage } from '../blocks/request.js';
import { safeText, sealed, userMention } from '../blocks/mrkdwn.js';
import { slackErrorCode } from './slack-errors.js';

export function outcomeSentence(request: KillRequest): string {
  const who = request.decidedBy ? userMention(request.decidedBy) : 'nobody';
  switch (request.status) {
    case 'executed':
    case 'failed':
      // The outcome can carry the server's own words: escaped, never live mrkdwn.
      return `${userMention(request.requester)} approved by ${who}: ${safeText(describeResult(request.result), 2000)}`;
    case 'denied':
      return `${userMention(request.requester)} your request was denied by ${who}. Nothing was killed.`;
    case 'expired':
      return `${userMention(request.requester)} your request expired without approval. Nothing was killed.`;
    case 'withdrawn':
      return `${userMention(request.requester)} you withdrew the request. Nothing was killed.`;
    default:
      return `${userMention(request.requester)} your request is ${request.status}.`;
  }
}

/**
 * `once` posts the approval request without retries: a post that timed out may still have landed, and a
 * retry would put a second copy with live buttons in the channel that is never updated. One failed try
 * withdraws the request and the requester asks again.
 */
export function createRequestMessages(
  client: WebClient,
  once: WebClient,
  queryText: QueryTextMode = 'full',
  notices?: ApproverNoticesPort,
): RequestMessagesPort {
  // A request stores its query text shaped by the setting of its day; shape again with today's, so that
  // lowering PGSESSIONS_QUERY_TEXT also governs the messages of requests made before.
  const shaped = (request: KillRequest): KillRequest => ({
    ...request,
    targets: request.targets.map((t) => ({ ...t, query: shapeQueryText(t.query, queryText) })),
  });
  // Requests whose message Slack no longer has (deleted: chat.update answers message_not_found) → the ts of
  // the copy posted anew, which later updates and the outcome reply go to. Per process: after a restart a
  // further update meets message_not_found again and posts once more, which is still better than silence.
  const reposted = new Map<string, string>();
  const tsOf = (request: KillRequest) => reposted.get(request.id) ?? request.messageTs;
  return {
    async post(request) {
      const message = sealed(buildApprovalMessage({ request: shaped(request), now: new Date() }));
      const posted = await once.chat.postMessage({
        channel: request.channel,
        text: message.text,
        blocks: message.blocks,
      });
      if (!posted.ts) throw new Error('chat.postMessage returned no ts');
      return posted.ts;
    },
    async update(request) {
      const ts = tsOf(request);
      if (!ts) return;
      const message = sealed(buildApprovalMessage({ request: shaped(request), now: new Date() }));
      try {
        await client.chat.update({ channel: request.channel, ts, text: message.text, blocks: message.blocks });
      } catch (error) {
        // Someone deleted the approval message: the decision stands, so its state is posted anew.
        if (slackErrorCode(error) !== 'message_not_found') throw error;
        const posted = await once.chat.postMessage({
          channel: request.channel,
          text: message.text,
          blocks: message.blocks,
        });
        if (posted.ts) reposted.set(request.id, posted.ts);
      }
      // Every path that changes a request shows it here: the approvers' direct messages follow (never throws).
      await notices?.refresh({ kind: 'request', request });
    },
    async notifyRequester(request) {
      const ts = tsOf(request);
      await client.chat.postMessage({
        channel: request.channel,
        ...(ts ? { thread_ts: ts } : {}),
        text: outcomeSentence(request),
      });
    },
  };
}
