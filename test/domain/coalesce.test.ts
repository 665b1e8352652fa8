// The coalescing of rule-message updates, on a hand-driven clock: a burst becomes one run now and one
// trailing run; an urgent request runs at once and replaces a trailing one; runs of a key never overlap.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createCoalescer, type Scheduler } from '../../src/domain/coalesce.js';

function manualClock() {
  let now = 0;
  const timers: Array<{ at: number; fn: () => void; cancelled: boolean }> = [];
  const scheduler: Scheduler = {
    now: () => now,
    after(ms, fn) {
      const t = { at: now + ms, fn, cancelled: false };
      timers.push(t);
      return () => {
        t.cancelled = true;
      };
    },
  };
  return {
    scheduler,
    pending: () => timers.filter((t) => !t.cancelled && t.at > now).length,
    async advance(ms: number) {
      now += ms;
      for (const t of timers.splice(0)) {
        if (t.cancelled) continue;
        if (t.at <= now) t.fn();
        else timers.push(t);
      }
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

test('a burst of twenty requests within the gap runs twice: at once, and once at the end of the gap', async () => {
  const clock = manualClock();
  const runs: Array<{ key: string; at: number }> = [];
  const c = createCoalescer(async (key) => void runs.push({ key, at: clock.scheduler.now() }), 2_000, clock.scheduler);
  for (let i = 0; i < 20; i++) {
    await c.request('r1');
    await clock.advance(50);
  }
  assert.deepEqual(runs, [{ key: 'r1', at: 0 }], 'one run now; the rest wait for the gap');
  await clock.advance(999);
  assert.equal(runs.length, 1, 'not before the gap is over');
  await clock.advance(1);
  assert.deepEqual(
    runs.map((r) => r.at),
    [0, 2_000],
    'one trailing run at the gap, for all nineteen',
  );
  await clock.advance(10_000);
  assert.equal(runs.length, 2, 'nothing more once quiet');
  await c.request('r1');
  assert.equal(runs.length, 3, 'after a quiet gap the next change goes out at once');
});

test('an urgent request runs at once and replaces the trailing run; keys are independent', async () => {
  const clock = manualClock();
  const runs: string[] = [];
  const c = createCoalescer(async (key) => void runs.push(key), 2_000, clock.scheduler);
  await c.request('a');
  await c.request('a');
  await c.request('b');
  assert.deepEqual(runs, ['a', 'b']);
  assert.equal(clock.pending(), 1, 'a trailing run of a is due');
  await c.request('a', { now: true });
  assert.deepEqual(runs, ['a', 'b', 'a']);
  assert.equal(clock.pending(), 0, 'the urgent run showed the latest: no trailing run left');
  await clock.advance(5_000);
  assert.deepEqual(runs, ['a', 'b', 'a']);
});

test('runs of one key never overlap, and close() sends what is still held back', async () => {
  const clock = manualClock();
  let active = 0;
  let most = 0;
  const release: Array<() => void> = [];
  let runs = 0;
  const c = createCoalescer(
    async () => {
      active++;
      most = Math.max(most, active);
      await new Promise<void>((resolve) => release.push(resolve));
      active--;
      runs++;
    },
    2_000,
    clock.scheduler,
  );
  const first = c.request('a', { now: true });
  const second = c.request('a', { now: true });
  await new Promise((resolve) => setImmediate(resolve));
  assert.equal(release.length, 1, 'the second waits for the first');
  release.shift()!();
  await first;
  await new Promise((resolve) => setImmediate(resolve));
  release.shift()!();
  await second;
  assert.equal(most, 1);
  await c.request('a'); // within the gap: held back
  assert.equal(runs, 2);
  const closing = c.close();
  await new Promise((resolve) => setImmediate(resolve));
  release.shift()!();
  await closing;
  assert.equal(runs, 3, 'the held-back update went out on close');
});

test('a failing run does not stop later ones', async () => {
  const clock = manualClock();
  let calls = 0;
  const c = createCoalescer(
    async () => {
      calls++;
      if (calls === 1) throw new Error('slack down');
    },
    2_000,
    clock.scheduler,
  );
  await c.request('a', { now: true });
  await c.request('a', { now: true });
  assert.equal(calls, 2);
});
