// Can pgsessions post where it must? The audit channel and each watch channel are looked at with
// conversations.info at start-up and on `/pgsessions status`; a post refused there (not_in_channel,
// channel_not_found, is_archived) is remembered until a post succeeds again. Nothing here drops or retries
// anything: the audit outbox keeps undelivered entries and delivers each once when the channel is fixed.
import type { WebClient } from '@slack/web-api';
import type { Logger } from '../../logger.js';
import { slackErrorCode } from './slack-errors.js';

export type ChannelRole = 'audit' | 'watch';

export interface ChannelProblem {
  channel: string;
  role: ChannelRole;
  /** Slack's word for it: not_in_channel, channel_not_found, is_archived, or another error of conversations.info. */
  code: string;
}

/** The refusals of a post that a person must fix in Slack (invite the bot, unarchive, name another channel). */
export const CHANNEL_REFUSALS: ReadonlySet<string> = new Set(['not_in_channel', 'channel_not_found', 'is_archived']);

export interface ChannelHealth {
  /** Asks Slack now about every channel, and adds refusals met by posts since; [] when all is well. */
  check(): Promise<ChannelProblem[]>;
  /** A post to `channel` failed with `error`: remembered when it is a refusal a person must fix. */
  postFailed(channel: string, error: unknown): void;
  /** A post to `channel` went through: forget what was remembered. */
  posted(channel: string): void;
}

export function createChannelHealth(
  client: WebClient,
  channels: Array<{ channel: string; role: ChannelRole }>,
  logger: Logger,
): ChannelHealth {
  const refused = new Map<string, string>();
  // Several watched clusters may share one channel: look at each channel once per role.
  const watched = [...new Map(channels.map((c) => [`${c.role}:${c.channel}`, c])).values()];

  async function lookAt(channel: string): Promise<string | null> {
    try {
      const info = await client.conversations.info({ channel });
      return info.channel?.is_archived ? 'is_archived' : null;
    } catch (error) {
      const code = slackErrorCode(error);
      // Slack unreachable or slow says nothing about the channel: not a problem to report.
      if (code === undefined) {
        logger.warn({ channel, err: { message: (error as Error).message } }, 'could not look at a channel');
        return null;
      }
      return code;
    }
  }

  return {
    async check() {
      const problems: ChannelProblem[] = [];
      for (const { channel, role } of watched) {
        const code = (await lookAt(channel)) ?? refused.get(channel) ?? null;
        if (code) problems.push({ channel, role, code });
      }
      return problems;
    },
    postFailed(channel, error) {
      const code = slackErrorCode(error);
      if (code && CHANNEL_REFUSALS.has(code)) refused.set(channel, code);
    },
    posted(channel) {
      refused.delete(channel);
    },
  };
}
