// What Slack says of a break-glass use: each approver by direct message (through the approver notices when
// wired, else a post to the person's app DM), and the request's own thread; later, who reviewed it.
import type { WebClient } from '@slack/web-api';
import type { BreakGlassTellPort } from '../../domain/break-glass.js';
import type { Logger } from '../../logger.js';
import { breakGlassReviewedMessage, breakGlassUsedMessage } from '../blocks/break-glass.js';
import { sealed } from '../blocks/mrkdwn.js';

/** ApproverNoticesPort.say's shape (src/domain/approver-notices.ts): a plain DM to each, groups expanded. */
export type SayPort = (principals: string[], message: { text: string; blocks?: unknown[] }) => Promise<string[]>;

export function createBreakGlassMessages(client: WebClient, logger: Logger, say?: SayPort): BreakGlassTellPort {
  // Without the notices port: chat.postMessage to a user id posts in the app's DM with that person.
  const dm: SayPort =
    say ??
    (async (people, message) => {
      const told: string[] = [];
      for (const user of people) {
        try {
          await client.chat.postMessage({ channel: user, text: message.text, blocks: message.blocks as never });
          told.push(user);
        } catch (error) {
          logger.warn({ err: error, user }, 'could not tell an approver of a break-glass use');
        }
      }
      return told;
    });
  return {
    async used(request, use, approvers) {
      const message = sealed(breakGlassUsedMessage(request, use));
      await client.chat
        .postMessage({
          channel: request.channel,
          ...(request.messageTs ? { thread_ts: request.messageTs } : {}),
          text: message.text,
          blocks: message.blocks,
        })
        .catch((error: unknown) => logger.warn({ err: error }, 'could not say the break-glass use in its thread'));
      return dm(approvers, message);
    },
    async reviewed(request, use, reviewer) {
      if (!request) return;
      const message = sealed(breakGlassReviewedMessage(request, use, reviewer));
      await client.chat.postMessage({
        channel: request.channel,
        ...(request.messageTs ? { thread_ts: request.messageTs } : {}),
        text: message.text,
        blocks: message.blocks,
      });
    },
  };
}
