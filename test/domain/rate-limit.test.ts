// Per-user token buckets with a hand-moved clock, and the request-service decorator with an in-memory fake:
// who pays a token, when a refused try costs nothing downstream, and that memory follows recent users only.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { createRateLimiter, limitRequests } from '../../src/domain/rate-limit.js';
import { FAILURE_MESSAGES } from '../../src/domain/messages.js';
import type { Outcome } from '../../src/domain/outcome.js';
import type { RequestService } from '../../src/domain/request-service.js';
import type { KillRequest } from '../../src/domain/types.js';

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

describe('createRateLimiter', () => {
  test('a burst of 10, then 30 a minute: one token back every 2 s, per user', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 10, perSecond: 30 / 60 }, c.now);
    for (let i = 0; i < 10; i++) assert.equal(limiter.take('UA'), true, `take ${i + 1}`);
    assert.equal(limiter.take('UA'), false, 'the 11th at once is refused');
    assert.equal(limiter.take('UB'), true, 'another user has a bucket of their own');
    c.advance(1_999);
    assert.equal(limiter.take('UA'), false);
    c.advance(1);
    assert.equal(limiter.take('UA'), true, 'one token after 2 s');
    assert.equal(limiter.take('UA'), false);
    // Over a minute of steady use: 30 more, not 31.
    let granted = 0;
    for (let s = 0; s < 60; s++) {
      c.advance(1_000);
      while (limiter.take('UA')) granted += 1;
    }
    assert.equal(granted, 30);
  });

  test('never saves up more than the burst', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 3, perSecond: 1 }, c.now);
    limiter.take('UA');
    c.advance(3_600_000);
    let n = 0;
    while (limiter.take('UA')) n += 1;
    assert.equal(n, 3);
  });

  test('refund gives one token back, never above the burst', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 2, perSecond: 0.001 }, c.now);
    assert.ok(limiter.take('UA') && limiter.take('UA'));
    assert.equal(limiter.take('UA'), false);
    limiter.refund('UA');
    assert.equal(limiter.take('UA'), true);
    limiter.refund('UA');
    limiter.refund('UA');
    limiter.refund('UA');
    assert.ok(limiter.take('UA') && limiter.take('UA'));
    assert.equal(limiter.take('UA'), false);
  });

  test('buckets that have filled up again are forgotten: memory follows recent users only', () => {
    const c = clock();
    const limiter = createRateLimiter({ burst: 10, perSecond: 0.5 }, c.now);
    for (let i = 0; i < 5_000; i++) limiter.take(`U${i}`);
    assert.ok(limiter.size() <= 5_000);
    c.advance(60_000); // every bucket is full again
    for (let i = 0; i < 1_000; i++) limiter.take('UACTIVE');
    assert.ok(limiter.size() <= 2, `${limiter.size()} buckets kept`);
  });

  test('null settings: no limit', () => {
    const limiter = createRateLimiter(null);
    for (let i = 0; i < 10_000; i++) assert.equal(limiter.take('UA'), true);
  });
});

describe('limitRequests', () => {
  const request = { id: 'r1' } as KillRequest;
  function fakeService(decision: Outcome<KillRequest>) {
    const calls: string[] = [];
    const service = {
      requestOne: async (ask: { requester: string }) => {
        calls.push(`requestOne:${ask.requester}`);
        return { ok: true, value: request };
      },
      requestAll: async (ask: { requester: string }) => {
        calls.push(`requestAll:${ask.requester}`);
        return { ok: true, value: request };
      },
      approve: async (_id: string, user: string) => {
        calls.push(`approve:${user}`);
        return decision;
      },
      deny: async (_id: string, user: string) => {
        calls.push(`deny:${user}`);
        return decision;
      },
      withdraw: async (_id: string, user: string) => {
        calls.push(`withdraw:${user}`);
        return decision;
      },
    } as unknown as RequestService;
    return { service, calls };
  }
  const ask = (requester: string) => ({
    cluster: 'default',
    action: 'terminate' as const,
    pid: 1,
    reason: 'r',
    requester,
    channel: 'C1',
  });

  test('each request costs a token; past the limit the service is not called and the answer is rate_limited', async () => {
    const { service, calls } = fakeService({ ok: true, value: request });
    const limited = limitRequests(service, createRateLimiter({ burst: 3, perSecond: 0.0001 }));
    const results = [];
    for (let i = 0; i < 5; i++) results.push(await limited.requestOne(ask('UA')));
    results.push(
      await limited.requestAll({
        cluster: 'default',
        scope: { database: 'shop' },
        reason: 'r',
        requester: 'UA',
        channel: 'C1',
      }),
    );
    assert.deepEqual(
      results.map((r) => r.ok),
      [true, true, true, false, false, false],
    );
    assert.deepEqual(results[3], {
      ok: false,
      refusal: { code: 'rate_limited', message: FAILURE_MESSAGES.rate_limited },
    });
    assert.equal(calls.length, 3, 'the refused ones never reached the service (no store, no audit, no post)');
    assert.equal((await limited.requestOne(ask('UB'))).ok, true, 'another user is served');
  });

  test('refused decisions cost a token; decisions that go through cost nothing', async () => {
    const refused = fakeService({
      ok: false,
      refusal: { code: 'self_approval', message: FAILURE_MESSAGES.self_approval },
    });
    const limiter = createRateLimiter({ burst: 3, perSecond: 0.0001 });
    const limited = limitRequests(refused.service, limiter);
    const codes = [];
    for (let i = 0; i < 5; i++) {
      const r = await limited.approve('id', 'UA');
      codes.push(r.ok ? 'ok' : r.refusal.code);
    }
    assert.deepEqual(codes, ['self_approval', 'self_approval', 'self_approval', 'rate_limited', 'rate_limited']);
    assert.equal(refused.calls.length, 3);

    const granted = fakeService({ ok: true, value: request });
    const free = limitRequests(granted.service, createRateLimiter({ burst: 3, perSecond: 0.0001 }));
    for (let i = 0; i < 10; i++) assert.equal((await free.deny('id', 'UA')).ok, true);
    assert.equal(granted.calls.length, 10);
  });
});
