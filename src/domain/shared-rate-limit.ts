// Per-person rate limits shared by every replica: each token is taken from a bucket in the state database
// (one atomic statement, by its clock), so N replicas do not grant N times the rate. When the state database
// is slow or failing, a local bucket decides: it counts every try this replica let through, whichever way,
// so it runs dry only when this replica alone has used up the person's limit — it never refuses what the
// shared bucket would allow (it may allow more, for as long as the state database does not answer).
import { createRateLimiter, type Limiter, type RateLimitSettings } from './rate-limit.js';

export type BucketName = 'listing' | 'request';

/** Where the shared buckets live — src/postgres/rate-bucket-store.ts conforms. */
export interface RateBucketStore {
  /** Takes one of the person's tokens; false (and nothing taken) when there is none. */
  take(bucket: BucketName, person: string, limit: RateLimitSettings): Promise<boolean>;
  /** Gives a token back. */
  refund(bucket: BucketName, person: string, limit: RateLimitSettings): Promise<void>;
  /** Forgets buckets that are full again. */
  prune(bucket: BucketName, limit: RateLimitSettings): Promise<void>;
}

export interface SharedLimiterOptions {
  bucket: BucketName;
  /** null: no limit. */
  settings: RateLimitSettings | null;
  store: RateBucketStore;
  /** How long the shared bucket is waited for before the local one decides (default 500 ms). */
  timeoutMs?: number;
  /** After a slow or failed answer, the local bucket alone decides for this long (default 5 s). */
  backoffMs?: number;
  /** Takes between two prunes of full buckets (default 1000). */
  pruneEvery?: number;
  /** Called when the local bucket decides because the shared one did not answer in time, or failed. */
  onFallback?(reason: 'timeout' | 'error', error?: unknown): void;
  now?: () => number;
}

export interface SharedLimiter extends Limiter {
  take(user: string): Promise<boolean>;
}

const SLOW = Symbol('slow');

export function createSharedRateLimiter(options: SharedLimiterOptions): SharedLimiter {
  const { settings, store, bucket } = options;
  if (!settings) return { take: async () => true, refund: () => undefined };
  const now = options.now ?? Date.now;
  const timeoutMs = options.timeoutMs ?? 500;
  const backoffMs = options.backoffMs ?? 5_000;
  const pruneEvery = options.pruneEvery ?? 1_000;
  const local = createRateLimiter(settings, now);
  let localOnlyUntil = 0;
  let takes = 0;

  const fallBack = (reason: 'timeout' | 'error', error?: unknown) => {
    localOnlyUntil = now() + backoffMs;
    options.onFallback?.(reason, error);
  };

  async function shared(user: string): Promise<boolean | typeof SLOW> {
    let timer: NodeJS.Timeout | undefined;
    const asked = store.take(bucket, user, settings!);
    const slow = new Promise<typeof SLOW>((resolve) => {
      timer = setTimeout(() => resolve(SLOW), timeoutMs);
    });
    try {
      const answer = await Promise.race([asked, slow]);
      // A late answer is dropped (the token it took stays taken: the shared bucket errs on the strict side).
      if (answer === SLOW) asked.catch(() => undefined);
      return answer;
    } finally {
      clearTimeout(timer);
    }
  }

  return {
    async take(user) {
      // Counted here first, whatever the shared bucket says: the fallback must know this replica's own use.
      const locally = local.take(user);
      if (now() < localOnlyUntil) return locally;
      if (++takes >= pruneEvery) {
        takes = 0;
        store.prune(bucket, settings).catch(() => undefined);
      }
      let answer: boolean | typeof SLOW;
      try {
        answer = await shared(user);
      } catch (error) {
        fallBack('error', error);
        return locally;
      }
      if (answer === SLOW) {
        fallBack('timeout');
        return locally;
      }
      // Refused by the shared bucket: this try did not count here either.
      if (!answer && locally) local.refund(user);
      return answer;
    },
    refund(user) {
      local.refund(user);
      if (now() < localOnlyUntil) return;
      store.refund(bucket, user, settings).catch(() => undefined);
    },
  };
}
