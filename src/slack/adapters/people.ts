// What Slack says about the workspace and the people in it: the installing team (auth.test, asked at
// start-up and again while unknown) and whether someone is a guest (users.info, which needs `users:read`),
// cached briefly and asked with a short deadline so that a command is still acknowledged within 3 s.
import type { WebClient } from '@slack/web-api';
import type { Account, PeoplePort } from '../../domain/workspaces.js';
import type { Logger } from '../../logger.js';

const ACCOUNT_TTL_MS = 5 * 60_000;
// Two lookups at most (auth.test while the workspace is unknown, then users.info) must fit before the 3 s ack.
const DEADLINE_MS = 1_000;
const MAX_ACCOUNTS = 10_000;

function within<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from Slack within ${ms} ms`)), ms);
  });
  return Promise.race([work, late]).finally(() => clearTimeout(timer));
}

export function createPeople(client: WebClient, logger: Logger, knownHome: string | null): PeoplePort {
  let home = knownHome;
  const accounts = new Map<string, { at: number; account: Account }>();
  return {
    async home() {
      if (home !== null) return home;
      try {
        home = (await within(DEADLINE_MS, client.auth.test())).team_id ?? null;
      } catch (error) {
        logger.warn({ err: error }, 'could not learn the installing workspace from Slack');
      }
      return home;
    },
    async account(user) {
      const hit = accounts.get(user);
      if (hit && Date.now() - hit.at < ACCOUNT_TTL_MS) return hit.account;
      try {
        const found = (await within(DEADLINE_MS, client.users.info({ user }))).user;
        if (!found) return null;
        const account: Account = {
          guest: found.is_restricted === true || found.is_ultra_restricted === true,
          team: found.team_id ?? null,
        };
        // Bounded: the oldest entry goes first (a Map keeps insertion order), so memory stays flat.
        accounts.delete(user);
        if (accounts.size >= MAX_ACCOUNTS) accounts.delete(accounts.keys().next().value as string);
        accounts.set(user, { at: Date.now(), account });
        return account;
      } catch (error) {
        // Fail closed: someone Slack cannot vouch for gets nothing.
        logger.warn({ err: error, user }, 'could not read a user from Slack');
        return null;
      }
    },
  };
}
