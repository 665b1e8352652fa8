// What every button listener does the same way: find the channel of the click, answer the person who
// clicked (through the response_url, or chat.postEphemeral when it is dead: see adapters/tell.ts), and say
// so when a button's value is not one pgsessions made.
import type { BlockAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { GroupsUnavailable } from '../../domain/policy.js';
import { stateTroubleText } from '../../domain/messages.js';
import type { Logger } from '../../logger.js';
import { tellPerson } from '../adapters/tell.js';
import { tellDirect } from '../adapters/home.js';

type Respond = ((message: object) => Promise<unknown>) | undefined;

/** The channel a button was clicked in: the message's, or its container's; null in a modal. */
export function channelOf(body: BlockAction): string | null {
  return body.channel?.id ?? (body.container as { channel_id?: string } | undefined)?.channel_id ?? null;
}

/** A private answer to the person who clicked; it never throws (what cannot be delivered is logged). */
export function clicker(
  click: { body: BlockAction; client: WebClient; respond?: Respond },
  logger: Logger,
): (text: string) => Promise<void> {
  const { body, client, respond } = click;
  // A click in a view (the Home tab, a modal) has neither: the answer goes to the person's direct message.
  if (typeof respond !== 'function' && channelOf(body) === null && body.view !== undefined)
    return (text) => tellDirect(client, body.user.id, text, logger);
  return (text) => tellPerson(client, { user: body.user.id, channel: channelOf(body), respond }, { text }, logger);
}

/** A button whose value pgsessions cannot read (forged, damaged, from an older version): `nothing was …`. */
export function notOurs(undone = 'done'): string {
  return `That button is not one pgsessions made (or it is damaged): nothing was ${undone}.`;
}

/**
 * Logs a step that threw, by what it means: user groups rate limited and a read-only state database are
 * expected (a warning; the person is told by troubleSentence), anything else is a bug (an error).
 */
export function logTrouble(logger: Logger, error: unknown, fields: Record<string, unknown>, what: string): void {
  if (error instanceof GroupsUnavailable)
    logger.warn({ ...fields, retryAfterSeconds: error.retryAfterSeconds }, `${what} put off: user groups rate limited`);
  else if (stateTroubleText(error))
    logger.warn(
      { ...fields, code: (error as { code?: unknown }).code },
      `${what} refused: the state database is read-only`,
    );
  else logger.error({ ...fields, err: error }, `${what} failed`);
}
