// The channels pgsessions cannot post in, in plain words with what to do, for `/pgsessions status`.
import type { KnownBlock } from '@slack/types';
import type { ChannelProblem } from '../adapters/channel-health.js';
import { channelMention, inlineText, LIMITS, truncate, type RenderedMessage } from './mrkdwn.js';

const ROLE = { audit: 'audit channel', watch: 'watch channel' } as const;

/** One line per problem: which channel, what Slack says, and what to do about it. */
export function describeChannelProblem(p: ChannelProblem): string {
  const where = `The ${ROLE[p.role]} ${channelMention(p.channel)}`;
  const kept =
    p.role === 'audit'
      ? ' Audit entries wait in the outbox meanwhile: each is delivered once, in order, when this is fixed.'
      : '';
  switch (p.code) {
    case 'not_in_channel':
      return `:x: ${where} refuses posts: the bot is not in it (\`not_in_channel\`). Invite it with \`/invite @pgsessions\`.${kept}`;
    case 'channel_not_found':
      return `:x: ${where} was not found (\`channel_not_found\`): it was deleted, or it is private and the bot is not in it. Invite the bot, or set another channel.${kept}`;
    case 'is_archived':
      return `:x: ${where} is archived (\`is_archived\`). Unarchive it, or set another channel.${kept}`;
    default:
      return `:warning: ${where}: Slack would not say whether pgsessions may post there (\`${inlineText(p.code, 60)}\`).${kept}`;
  }
}

/** `status` with a section on the channels, when any has a problem (within the block limit). */
export function withChannelProblems(message: RenderedMessage, problems: ChannelProblem[]): RenderedMessage {
  if (problems.length === 0) return message;
  const section: KnownBlock = {
    type: 'section',
    text: { type: 'mrkdwn', text: truncate(problems.map(describeChannelProblem).join('\n'), LIMITS.sectionText) },
  };
  // Right after the usage: before the per-cluster sections, which are cut first when there are too many.
  const blocks = [...message.blocks.slice(0, 2), section, ...message.blocks.slice(2)].slice(0, LIMITS.blocksPerMessage);
  return {
    text: truncate(
      `${message.text} Channel problems: ${problems.map((p) => `${p.channel} ${p.code}`).join(', ')}.`,
      LIMITS.fallbackText,
    ),
    blocks,
  };
}
