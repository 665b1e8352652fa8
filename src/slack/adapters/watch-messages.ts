// The Slack side of watching: alert messages posted once (no client retries: a post that timed out may
// have landed, and the incident store's claim decides when to try again) and updated in place. Slack's
// 429 comes back as the Retry-After to honour, never as a crash.
import type { WebClient } from '@slack/web-api';
import type { AlertMessagesPort, Delivered } from '../../domain/ports.js';
import { buildIncidentMessage, buildWatchSummary } from '../blocks/watch.js';
import { sealed } from '../blocks/mrkdwn.js';

function failure(error: unknown): Delivered {
  const e = error as { code?: string; retryAfter?: number; data?: { error?: string }; message?: string };
  if (e.code === 'slack_webapi_rate_limited_error')
    return { ok: false, retryAfterSeconds: Math.max(1, Number(e.retryAfter ?? 1)), error: 'ratelimited' };
  return { ok: false, retryAfterSeconds: null, error: e.data?.error ?? e.code ?? 'error' };
}

export function createWatchMessages(once: WebClient): AlertMessagesPort {
  return {
    async post(incident) {
      const message = sealed(buildIncidentMessage({ incident, now: new Date() }));
      try {
        const posted = await once.chat.postMessage({
          channel: incident.channel,
          text: message.text,
          blocks: message.blocks,
        });
        return posted.ts ? { ok: true, ts: posted.ts } : { ok: false, retryAfterSeconds: null, error: 'no ts' };
      } catch (error) {
        return failure(error);
      }
    },
    async update(incident) {
      if (!incident.messageTs) return { ok: false, retryAfterSeconds: null, error: 'not posted' };
      const message = sealed(buildIncidentMessage({ incident, now: new Date() }));
      try {
        await once.chat.update({
          channel: incident.channel,
          ts: incident.messageTs,
          text: message.text,
          blocks: message.blocks,
        });
        return { ok: true, ts: incident.messageTs };
      } catch (error) {
        return failure(error);
      }
    },
    async summary(cluster, channel, ts, rest) {
      const message = sealed(buildWatchSummary(cluster, rest));
      try {
        if (ts) {
          await once.chat.update({ channel, ts, text: message.text, blocks: message.blocks });
          return { ok: true, ts };
        }
        const posted = await once.chat.postMessage({ channel, text: message.text, blocks: message.blocks });
        return posted.ts ? { ok: true, ts: posted.ts } : { ok: false, retryAfterSeconds: null, error: 'no ts' };
      } catch (error) {
        return failure(error);
      }
    },
    summaryBody(_cluster, rest) {
      return rest.length === 0 ? '' : rest.map((r) => r.key).join('\n');
    },
  } satisfies AlertMessagesPort;
}
