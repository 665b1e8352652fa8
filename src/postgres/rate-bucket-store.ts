// Shared per-person token buckets in the state database (migration 011): the port the shared rate limiter
// (domain/shared-rate-limit.ts) takes its tokens from.
import type pg from 'pg';
import type { RateBucketStore } from '../domain/shared-rate-limit.js';
import { queryRows } from './pools.js';
import { SQL_PRUNE_BUCKETS, SQL_REFUND_TOKEN, SQL_TAKE_TOKEN } from './rate-bucket-sql.js';

export function createRateBucketStore(pool: pg.Pool): RateBucketStore {
  return {
    async take(bucket, person, limit) {
      const rows = await queryRows(pool, SQL_TAKE_TOKEN, [bucket, person, limit.burst, limit.perSecond]);
      return rows.length === 1;
    },
    async refund(bucket, person, limit) {
      await queryRows(pool, SQL_REFUND_TOKEN, [bucket, person, limit.burst, limit.perSecond]);
    },
    async prune(bucket, limit) {
      await queryRows(pool, SQL_PRUNE_BUCKETS, [bucket, limit.burst, limit.perSecond]);
    },
  };
}
