// The shared limiter with in-memory stores: the shared bucket decides when it answers; a failing or silent
// store leaves the decision to the local bucket, which counts every try this replica let through and so
// refuses only what the shared bucket would have refused too.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createSharedRateLimiter, type RateBucketStore } from '../../src/domain/shared-rate-limit.js';

const limit = { burst: 3, perSecond: 0 };

/** One shared bucket per person, as the state database keeps it; `mode` makes it fail or go silent. */
function store(mode: { now: 'ok' | 'error' | 'silent' }): RateBucketStore & { levels: Map<string, number> } {
  const levels = new Map<string, number>();
  const answer = <T>(value: () => T): Promise<T> =>
    mode.now === 'error'
      ? Promise.reject(new Error('state database down'))
      : mode.now === 'silent'
        ? new Promise<T>(() => undefined)
        : Promise.resolve(value());
  return {
    levels,
    take: (_bucket, person, l) =>
      answer(() => {
        const level = levels.get(person) ?? l.burst;
        if (level < 1) return false;
        levels.set(person, level - 1);
        return true;
      }),
    refund: (_bucket, person, l) =>
      answer(() => void levels.set(person, Math.min(l.burst, (levels.get(person) ?? 0) + 1))),
    prune: () => answer(() => undefined),
  };
}

test('the shared bucket decides while it answers: another replica’s takes count here', async () => {
  const shared = store({ now: 'ok' });
  const a = createSharedRateLimiter({ bucket: 'listing', settings: limit, store: shared });
  const b = createSharedRateLimiter({ bucket: 'listing', settings: limit, store: shared });
  const answers = [await a.take('U'), await b.take('U'), await a.take('U'), await b.take('U')];
  assert.deepEqual(answers, [true, true, true, false]);
});

for (const failure of ['error', 'silent'] as const) {
  test(`a store that goes ${failure}: the local bucket decides, and refuses only past what this replica used`, async () => {
    const mode = { now: 'ok' as 'ok' | 'error' | 'silent' };
    const fallbacks: string[] = [];
    const a = createSharedRateLimiter({
      bucket: 'request',
      settings: limit,
      store: store(mode),
      timeoutMs: 20,
      onFallback: (reason) => fallbacks.push(reason),
    });
    assert.equal(await a.take('U'), true);
    mode.now = failure;
    // The shared bucket would allow two more: the local one allows exactly those, then refuses.
    assert.deepEqual([await a.take('U'), await a.take('U'), await a.take('U')], [true, true, false]);
    assert.deepEqual(fallbacks, [failure === 'error' ? 'error' : 'timeout']);
  });
}

test('no settings: no limit, and the store is never asked', async () => {
  const a = createSharedRateLimiter({ bucket: 'listing', settings: null, store: store({ now: 'error' }) });
  for (let i = 0; i < 10; i++) assert.equal(await a.take('U'), true);
});
