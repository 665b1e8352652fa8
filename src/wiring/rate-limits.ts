// The per-person rate limits (requests, listings), shared by every replica through the state database; a slow
// state database falls back to this replica's own count for a few seconds, said in the log.
import type pg from 'pg';
import type { Config } from '../config.js';
import { createSharedRateLimiter, type SharedLimiter } from '../domain/shared-rate-limit.js';
import type { Logger } from '../logger.js';
import { describeConnectionError } from '../postgres/pools.js';
import { createRateBucketStore } from '../postgres/rate-bucket-store.js';

export function createRateLimiters(
  statePool: pg.Pool,
  limits: Config['rateLimits'],
  log: Logger,
  timeoutMs: number | undefined,
): { requestLimiter: SharedLimiter; readLimiter: SharedLimiter } {
  const buckets = createRateBucketStore(statePool);
  const onFallback = (reason: 'timeout' | 'error', error?: unknown) =>
    log.warn(
      { reason, ...(error ? { error: describeConnectionError(error) } : {}) },
      'rate limits: the state database did not answer in time, this replica counts alone for a few seconds',
    );
  const requestLimiter = createSharedRateLimiter({
    bucket: 'request',
    settings: limits.request,
    store: buckets,
    onFallback,
    timeoutMs,
  });
  const readLimiter = createSharedRateLimiter({
    bucket: 'listing',
    settings: limits.listing,
    store: buckets,
    onFallback,
    timeoutMs,
  });
  return { requestLimiter, readLimiter };
}
