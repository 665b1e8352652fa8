// User-group membership for approver and requester lists (S… IDs), from usergroups.users.list — asked anew
// for every decision, never cached: someone removed from the approvers' group cannot approve the very next
// click. Approvals are rare, so one Web API call per group per click is cheap (Tier 2: 20+ a minute).
// A rate-limited read is not an empty group: it is retried after Slack's Retry-After while that fits in a
// few seconds, and otherwise reported as GroupsUnavailable, so a real approver hears "try again in N s"
// and never "not an approver".
import type { WebClient } from '@slack/web-api';
import { GroupsUnavailable, type GroupsPort } from '../../domain/policy.js';
import type { Logger } from '../../logger.js';
import { rateLimitRetryAfter } from './slack-errors.js';

export interface GroupsOptions {
  /** The longest total wait for Retry-After before giving up with GroupsUnavailable (default 5 s). */
  maxWaitSeconds?: number;
  sleep?: (ms: number) => Promise<void>;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function createGroups(client: WebClient, logger: Logger, options: GroupsOptions = {}): GroupsPort {
  const maxWait = options.maxWaitSeconds ?? 5;
  const sleep = options.sleep ?? defaultSleep;
  return {
    async members(groupId) {
      let waited = 0;
      for (;;) {
        try {
          const result = await client.usergroups.users.list({ usergroup: groupId });
          return result.users ?? [];
        } catch (error) {
          const retryAfter = rateLimitRetryAfter(error);
          if (retryAfter === undefined) {
            // Fail closed: an unknown membership grants nothing.
            logger.warn({ err: error, group: groupId }, 'could not read a user group');
            return [];
          }
          const wait = Math.max(1, retryAfter);
          if (waited + wait > maxWait) {
            logger.warn(
              { group: groupId, retryAfterSeconds: wait },
              'user group read rate limited by Slack: asking the person to try again',
            );
            throw new GroupsUnavailable(wait);
          }
          waited += wait;
          await sleep(wait * 1000);
        }
      }
    },
  };
}
