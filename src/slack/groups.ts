// User-group membership for approver and requester lists (S… IDs), from usergroups.users.list — asked anew
// for every decision, never cached: someone removed from the approvers' group cannot approve the very next
// click. Approvals are rare, so one Web API call per group per click is cheap (Tier 2: 20+ a minute).
import type { WebClient } from '@slack/web-api';
import type { GroupsPort } from '../domain/policy.js';
import type { Logger } from '../logger.js';

export function createGroups(client: WebClient, logger: Logger): GroupsPort {
  return {
    async members(groupId) {
      try {
        const result = await client.usergroups.users.list({ usergroup: groupId });
        return result.users ?? [];
      } catch (error) {
        // Fail closed: an unknown membership grants nothing.
        logger.warn({ err: error, group: groupId }, 'could not read a user group');
        return [];
      }
    },
  };
}
