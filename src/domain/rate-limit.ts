// Per-user token buckets: generous for a person at an incident, a wall for a script. In memory, per
// replica; shared-rate-limit.ts shares them through the state database so N replicas do not allow N times
// the rate, with this one as its fallback. The point is to keep one user from starving the database, the
// approvers and the audit channel. Pure: no Slack, no pg.
import { FAILURE_MESSAGES } from './messages.js';
import { refused, type Outcome } from './outcome.js';
import type { RequestService } from './request-service.js';
import type { KillRequest } from './types.js';

export interface RateLimitSettings {
  /** Tokens a user starts with and can save up. */
  burst: number;
  /** Tokens given back per second. */
  perSecond: number;
}

/** What callers need of a limiter: a take they await (the shared one asks the state database), a refund. */
export interface Limiter {
  take(user: string): boolean | Promise<boolean>;
  refund(user: string): void;
}

export interface RateLimiter extends Limiter {
  /** Takes one of the user's tokens; false (and nothing taken) when there is none. */
  take(user: string): boolean;
  /** Gives a token back (a try that turned out not to count). */
  refund(user: string): void;
  /** Users with a bucket in memory (full buckets are forgotten). */
  size(): number;
}

/** null settings: no limit. */
export function createRateLimiter(settings: RateLimitSettings | null, now: () => number = Date.now): RateLimiter {
  if (!settings) return { take: () => true, refund: () => undefined, size: () => 0 };
  const { burst, perSecond } = settings;
  const buckets = new Map<string, { tokens: number; at: number }>();
  let sincePrune = 0;

  const level = (bucket: { tokens: number; at: number }, t: number) =>
    Math.min(burst, bucket.tokens + ((t - bucket.at) / 1000) * perSecond);

  // A bucket that has filled up again is the same as none: forget it, so memory follows recent users only.
  const prune = (t: number) => {
    for (const [user, bucket] of buckets) if (level(bucket, t) >= burst) buckets.delete(user);
  };

  return {
    take(user) {
      const t = now();
      if (++sincePrune >= 1_000) {
        sincePrune = 0;
        prune(t);
      }
      const bucket = buckets.get(user);
      const tokens = bucket ? level(bucket, t) : burst;
      if (tokens < 1) return false;
      buckets.set(user, { tokens: tokens - 1, at: t });
      return true;
    },
    refund(user) {
      const bucket = buckets.get(user);
      if (!bucket) return;
      const t = now();
      bucket.tokens = Math.min(burst, level(bucket, t) + 1);
      bucket.at = t;
    },
    size: () => buckets.size,
  };
}

/**
 * Kill requests, and decisions that are refused, cost a token of the user's bucket: every request is
 * audited and posted, and a refused click is somebody (or something) trying what they may not. A decision
 * that goes through costs nothing. Refused here, nothing reaches the store, the audit or Slack's channel.
 */
export function limitRequests(service: RequestService, limiter: Limiter): RequestService {
  const limited = (): Outcome<KillRequest> => refused('rate_limited', FAILURE_MESSAGES.rate_limited);
  const decision =
    (decide: (id: string, user: string) => Promise<Outcome<KillRequest>>) =>
    async (id: string, user: string): Promise<Outcome<KillRequest>> => {
      if (!(await limiter.take(user))) return limited();
      const result = await decide(id, user);
      if (result.ok) limiter.refund(user);
      return result;
    };
  return {
    ...service,
    requestOne: async (ask) => ((await limiter.take(ask.requester)) ? service.requestOne(ask) : limited()),
    requestAll: async (ask) => ((await limiter.take(ask.requester)) ? service.requestAll(ask) : limited()),
    requestFrozenCancel: async (ask) =>
      (await limiter.take(ask.requester)) ? service.requestFrozenCancel(ask) : limited(),
    approve: decision(service.approve),
    deny: decision(service.deny),
    withdraw: decision(service.withdraw),
  };
}
