// Telling the person who typed or clicked: through the response_url first (it shows where they acted),
// and when Slack refuses it — it dies after 30 minutes and after 5 uses — through chat.postEphemeral in the
// same channel, so the answer still reaches them. Also the sentences for Slack's refusals a person can act on.
import type { WebClient } from '@slack/web-api';
import { GroupsUnavailable } from '../../domain/policy.js';
import { stateTroubleText } from '../../domain/messages.js';
import type { Logger } from '../../logger.js';
import { rateLimitRetryAfter, slackErrorCode } from './slack-errors.js';

export interface Person {
  user: string;
  channel: string | null;
  /** Bolt's respond(): absent when the payload had no response_url (a button in a modal). */
  respond?: ((message: object) => Promise<unknown>) | undefined;
}

export interface Said {
  text: string;
  blocks?: unknown[];
}

/** Answers the person privately; never throws (a reply that cannot be delivered is logged). */
export async function tellPerson(client: WebClient, person: Person, message: Said, logger: Logger): Promise<void> {
  if (typeof person.respond === 'function') {
    try {
      await person.respond({ response_type: 'ephemeral', replace_original: false, ...message });
      return;
    } catch (error) {
      logger.warn(
        {
          err: {
            message: (error as Error).message,
            status: (error as { response?: { status?: number } }).response?.status,
          },
        },
        'response_url refused (expired or used up): answering with chat.postEphemeral',
      );
    }
  }
  if (!person.channel) {
    logger.warn('nobody to answer: no response_url and no channel');
    return;
  }
  try {
    await client.chat.postEphemeral({
      channel: person.channel,
      user: person.user,
      text: message.text,
      ...(message.blocks ? { blocks: message.blocks as never } : {}),
    });
  } catch (error) {
    logger.warn({ err: error }, 'could not answer the person');
  }
}

/** What to tell a person when a step failed for a reason they can act on; `otherwise` for the rest. */
export function troubleSentence(error: unknown, otherwise: string): string {
  if (error instanceof GroupsUnavailable) return error.message;
  const stateTrouble = stateTroubleText(error);
  if (stateTrouble) return stateTrouble;
  const retryAfter = rateLimitRetryAfter(error);
  if (retryAfter !== undefined)
    return `Slack is rate-limiting pgsessions right now: nothing was done. Try again in ${Math.max(1, Math.ceil(retryAfter))} s.`;
  if (slackErrorCode(error) === 'expired_trigger_id') {
    return 'The form could not open: Slack allows 3 seconds between your click and the form, and that time ran out (Slack or pgsessions was slow). Nothing was requested. Press the button again.';
  }
  return otherwise;
}
