// Sharing a listing: the person who asked sees it alone (ephemeral); a button posts a fresh copy of the same
// command's answer in the channel, saying who shared it — during an incident the whole channel should see
// the root blocker, not a paraphrase of it.
import type { KnownBlock } from '@slack/types';
import { ACTION } from './ids.js';
import { LIMITS, userMention, type RenderedMessage } from './mrkdwn.js';

/** Adds "Share in channel" carrying the command text, when it fits within Slack's limits. */
export function withShareButton(message: RenderedMessage, commandText: string): RenderedMessage {
  if (message.blocks.length >= LIMITS.blocksPerMessage || commandText.length > LIMITS.buttonValue) return message;
  // Slack refuses an empty button value (invalid_blocks); a bare `/pgsessions` is `top`.
  const value = commandText.length > 0 ? commandText : 'top';
  const share: KnownBlock = {
    type: 'actions',
    elements: [
      { type: 'button', action_id: ACTION.share, text: { type: 'plain_text', text: 'Share in channel' }, value },
    ],
  };
  return { ...message, blocks: [...message.blocks, share] };
}

/** The same answer as posted in the channel: who shared it, right under the header. */
export function asShared(message: RenderedMessage, user: string): RenderedMessage {
  const note: KnownBlock = { type: 'context', elements: [{ type: 'mrkdwn', text: `Shared by ${userMention(user)}` }] };
  const blocks = [...message.blocks];
  blocks.splice(blocks[0]?.type === 'header' ? 1 : 0, 0, note);
  // Stay within the block limit: drop from the end (the "N more not shown" footer or the last row) if needed.
  while (blocks.length > LIMITS.blocksPerMessage) blocks.pop();
  return { text: `${message.text}\n(shared by ${userMention(user)})`.slice(0, LIMITS.fallbackText), blocks };
}
