// Carries audit entries from the outbox to the audit channel, in seq order, until each is delivered. Slack
// being down or rate limiting only delays entries: the worker never drops one, and after a restart it
// continues with whatever is undelivered. `post` is a port: this file knows nothing of Slack beyond the
// shape of a rate-limit error (slack/adapters/slack-errors.ts).
import type { Logger } from 'pino';
import type { AuditEntry } from '../domain/audit.js';
import { PostTimedOut } from '../domain/errors.js';
import type { DeliverResult, OutboxPort } from '../domain/state-ports.js';
import { rateLimitRetryAfter } from '../slack/adapters/slack-errors.js';
import { spellLog } from '../spell-log.js';

export interface Backoff {
  /** First retry delay, doubled on each further failure. Default 1. */
  baseSeconds: number;
  /** Never wait longer than this. Default 300 (5 minutes). */
  maxSeconds: number;
}

export const DEFAULT_BACKOFF: Backoff = { baseSeconds: 1, maxSeconds: 300 };

export interface OutboxWorkerOptions {
  store: Pick<OutboxPort, 'deliverNext'>;
  post: (entry: AuditEntry) => Promise<void>;
  logger: Logger;
  /** How often to look for due entries. Default 1000. */
  intervalMs?: number;
  backoff?: Partial<Backoff>;
  /** A post that takes longer counts as failed (and is retried). Default 30000. */
  postTimeoutMs?: number;
  /** Observes every delivery attempt (metrics). */
  onResult?: (result: DeliverResult) => void;
}

export interface OutboxWorker {
  /** Stops polling and waits for the delivery in flight, if any. */
  stop(): Promise<void>;
  /** Delivers everything due now (waiting for another instance that is delivering), for tests and shutdown. */
  drain(): Promise<void>;
}

/** A failed post in one word, for the delivery-failure metric: rate_limited, http_NNN, Slack's error, network, other. */
export function deliveryFailureKind(error: unknown): string {
  if (rateLimitRetryAfter(error) !== undefined) return 'rate_limited';
  const e = error as { code?: string; statusCode?: number; data?: { error?: string } };
  if (e.statusCode) return `http_${e.statusCode}`;
  if (e.data?.error) return e.data.error;
  return e.code === 'slack_webapi_request_error' ? 'network' : 'other';
}

/**
 * How long to wait after a failed post: what a rate limit says, otherwise exponential (base, 2·base, 4·base …
 * capped) — for 5xx, network and timeout errors alike, and for errors a person must fix (a missing channel),
 * which must not be dropped either.
 */
export function retryDelaySeconds(error: unknown, attempts: number, backoff: Backoff = DEFAULT_BACKOFF): number {
  const retryAfter = rateLimitRetryAfter(error);
  if (retryAfter !== undefined) return retryAfter;
  return Math.min(backoff.maxSeconds, backoff.baseSeconds * 2 ** Math.max(0, attempts - 1));
}

function errorForLog(error: unknown): { code?: string; message: string } {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  return {
    ...(typeof code === 'string' ? { code } : {}),
    message: error instanceof Error ? error.message : String(error),
  };
}

async function withTimeout(work: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new PostTimedOut(ms));
    }, ms);
  });
  try {
    await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** While the state database fails every pass, passes come this far apart at most often (no spinning). */
const TROUBLE_INTERVAL_MS = 5_000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** A delivery worth a line: one that needed retries, or one that failed (and will be retried). */
function logResult(logger: Logger, result: DeliverResult): void {
  if (result.status === 'delivered' && result.attempts > 1) {
    logger.info({ seq: result.seq, attempts: result.attempts }, 'audit entry delivered after retries');
  } else if (result.status === 'failed') {
    const rateLimited = rateLimitRetryAfter(result.error) !== undefined;
    logger.warn(
      {
        seq: result.seq,
        attempts: result.attempts,
        retryAfterSeconds: result.retryAfterSeconds,
        err: errorForLog(result.error),
      },
      rateLimited ? 'audit channel rate limited: retrying later' : 'audit entry not delivered: retrying later',
    );
  }
}

export function startOutboxWorker(options: OutboxWorkerOptions): OutboxWorker {
  const { store, post, logger } = options;
  const intervalMs = options.intervalMs ?? 1000;
  const postTimeoutMs = options.postTimeoutMs ?? 30_000;
  const backoff: Backoff = { ...DEFAULT_BACKOFF, ...options.backoff };
  const deliverOptions = {
    retryDelaySeconds: (error: unknown, attempts: number) => retryDelaySeconds(error, attempts, backoff),
  };
  const timedPost = (entry: AuditEntry) => withTimeout(post(entry), postTimeoutMs);

  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  // One delivery pass at a time within this worker; other instances are kept out by the store's lock.
  let running: Promise<void> = Promise.resolve();
  const exclusive = (work: () => Promise<void>): Promise<void> => {
    const next = running.then(work, work);
    running = next.catch(() => undefined);
    return next;
  };

  /** Delivers until nothing is due. waitWhileBusy: wait for another instance rather than leave it to it. */
  async function pass(waitWhileBusy: boolean): Promise<void> {
    for (;;) {
      const result = await store.deliverNext(timedPost, deliverOptions);
      options.onResult?.(result);
      logResult(logger, result);
      switch (result.status) {
        case 'delivered':
          continue;
        case 'busy':
          if (!waitWhileBusy) return;
          await sleep(Math.min(50, intervalMs));
          continue;
        case 'failed':
        case 'waiting':
        case 'idle':
          return;
      }
    }
  }

  // A state database that cannot be read or written (read-only after a failover) fails every pass: said once.
  const trouble = spellLog(logger, 'audit outbox pass failed: retrying later', 'audit outbox passes work again');
  function schedule(): void {
    if (stopped) return;
    timer = setTimeout(
      () => {
        void exclusive(() => pass(false))
          .then(
            () => trouble.succeeded(),
            (error: unknown) => trouble.failed(error),
          )
          .finally(schedule);
      },
      trouble.failing() ? Math.max(intervalMs, TROUBLE_INTERVAL_MS) : intervalMs,
    );
    timer.unref();
  }

  schedule();

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
    drain() {
      return exclusive(() => pass(true));
    },
  };
}
