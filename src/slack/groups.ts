// User-group membership for approver and requester lists (S… IDs), from usergroups.users.list, cached
// briefly: fresh enough that removing someone from the group takes effect within a minute.
import type { WebClient } from '@slack/web-api';
import type { GroupsPort } from '../domain/policy.js';
import type { Logger } from '../logger.js';

export function createGroups(client: WebClient, logger: Logger, ttlMs = 60_000): GroupsPort {
  const cache = new Map<string, { at: number; members: string[] }>();
  return {
    async members(groupId) {
      const hit = cache.get(groupId);
      if (hit && Date.now() - hit.at < ttlMs) return hit.members;
      try {
        const result = await client.usergroups.users.list({ usergroup: groupId });
        const members = result.users ?? [];
        cache.set(groupId, { at: Date.now(), members });
        return members;
      } catch (error) {
        // Fail closed: an unknown membership grants nothing.
        logger.warn({ err: error, group: groupId }, 'could not read a user group');
        return [];
      }
    },
  };
}
