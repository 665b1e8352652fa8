// The outbox worker's `post`: one audit entry as a message in the audit channel. A refusal a person must
// fix (not_in_channel, is_archived…) is remembered for `/pgsessions status` until a post succeeds again;
// the error is thrown on either way, so the worker keeps the entry and retries it.
import type { WebClient } from '@slack/web-api';
import type { AuditEntry } from '../domain/audit.js';
import type { QueryTextMode } from '../domain/policy.js';
import type { ChannelHealth } from '../slack/adapters/channel-health.js';
import { sealed } from '../slack/blocks/mrkdwn.js';
import { buildAuditMessage } from './message.js';

export function auditPoster(
  client: WebClient,
  channel: string,
  health: Pick<ChannelHealth, 'postFailed' | 'posted'>,
  queryText: QueryTextMode,
): (entry: AuditEntry) => Promise<void> {
  return async (entry) => {
    const message = sealed(buildAuditMessage(entry, { queryText }));
    try {
      await client.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
    } catch (error) {
      health.postFailed(channel, error);
      throw error;
    }
    health.posted(channel);
  };
}
