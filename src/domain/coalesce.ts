// Calm updates: a burst of changes to one thing (twenty executions of a rule in one look) becomes one run
// now and one trailing run at most `gapMs` later, which shows whatever is latest by then — instead of one
// Slack call per change (chat.update is rate limited per workspace). Runs of one key never overlap, so the
// last one to start is the last one to land.

export interface Scheduler {
  now(): number;
  /** Calls `fn` after `ms`; the returned function cancels it. `background`: it does not keep the process alive. */
  after(ms: number, fn: () => void, options?: { background?: boolean }): () => void;
}

export const realScheduler: Scheduler = {
  now: () => Date.now(),
  after(ms, fn, options = {}) {
    const timer = setTimeout(fn, ms);
    if (options.background) timer.unref();
    return () => clearTimeout(timer);
  },
};

interface Slot {
  lastStart: number;
  cancel: (() => void) | null;
  chain: Promise<void>;
}

export interface Coalescer {
  /** Asks for a run of `key`: now if none started within the gap (or `now` is set), else once, at the gap's end. */
  request(key: string, options?: { now?: boolean }): Promise<void>;
  /** Runs every pending trailing run now and waits for all runs. */
  close(): Promise<void>;
}

/** `run` learns whether the run was asked for `now` (an ending to show at once) or is a calm update. */
export function createCoalescer(
  run: (key: string, asked: { now: boolean }) => Promise<void>,
  gapMs: number,
  scheduler: Scheduler = realScheduler,
): Coalescer {
  const slots = new Map<string, Slot>();

  const slot = (key: string): Slot => {
    let s = slots.get(key);
    if (!s) {
      // Forget keys that are quiet (nothing pending, last run longer ago than the gap): memory stays flat.
      if (slots.size >= 256)
        for (const [k, v] of slots) if (!v.cancel && scheduler.now() - v.lastStart >= gapMs) slots.delete(k);
      s = { lastStart: Number.NEGATIVE_INFINITY, cancel: null, chain: Promise.resolve() };
      slots.set(key, s);
    }
    return s;
  };

  const start = (key: string, s: Slot, now: boolean): Promise<void> => {
    s.cancel?.();
    s.cancel = null;
    s.lastStart = scheduler.now();
    s.chain = s.chain.then(() => run(key, { now })).catch(() => undefined);
    return s.chain;
  };

  return {
    request(key, options = {}) {
      const s = slot(key);
      if (options.now) return start(key, s, true);
      if (s.cancel) return Promise.resolve(); // a trailing run is already due: it will show this change too
      const wait = s.lastStart + gapMs - scheduler.now();
      if (wait <= 0) return start(key, s, false);
      // A pending trailing update never keeps the process alive; close() runs it on the way out.
      s.cancel = scheduler.after(
        wait,
        () => {
          s.cancel = null;
          void start(key, s, false);
        },
        { background: true },
      );
      return Promise.resolve();
    },
    async close() {
      for (const [key, s] of slots) if (s.cancel) void start(key, s, false);
      await Promise.all([...slots.values()].map((s) => s.chain));
    },
  };
}
