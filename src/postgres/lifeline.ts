// pgsessions' reserved connection to one server: opened at start-up, kept open (a health check every 10 s,
// reopened with backoff when lost), and used when the server refuses new connections — a full cluster
// (max_connections reached) is exactly when somebody needs to list and terminate sessions. The pools fall
// back to it (pools.ts); nothing else uses it. One caller at a time holds it, for one statement or one
// transaction, never across a call to Slack.
import pg from 'pg';
import type { Logger } from '../logger.js';
import { scrubSecrets } from '../logger.js';
import type { Lease, StatementLimits } from './statement.js';
import { DEFAULT_LIMITS } from './statement.js';

export interface LifelineOptions {
  applicationName: string;
  limits?: StatementLimits;
  /** Between two health checks (default 10 s). */
  healthIntervalMs?: number;
  connectTimeoutMs?: number;
  /** Longest wait between two attempts to reopen it (default 30 s; the first is after 0.5 s, doubling). */
  maxBackoffMs?: number;
}

export interface Lifeline {
  /** Opens it and starts keeping it open; resolves false (and keeps trying in the background) when the server cannot be reached now. */
  open(): Promise<boolean>;
  /** The reserved connection for one statement or transaction, after whoever holds it now; opened if lost. */
  lease(): Promise<Lease>;
  /** The backend's pid on a direct connection (behind a pooler, the pooler's own number); null when lost. */
  pid(): number | null;
  close(): Promise<void>;
}

const HEALTH_SQL = 'SELECT 1';

/** One holder at a time: each `turn()` resolves when the previous holder called its `done`. */
function createTurns() {
  let queue: Promise<void> = Promise.resolve();
  return {
    async turn(): Promise<() => void> {
      let done!: () => void;
      const mine = new Promise<void>((resolve) => {
        done = resolve;
      });
      const before = queue;
      queue = before.then(() => mine);
      await before;
      return done;
    },
    /** Resolves when everyone who asked so far is done. */
    idle: () => queue,
  };
}

/** The one connection: opened on demand (one attempt at a time), dropped when lost, with a backoff. */
function createKeeper(url: string, logger: Logger, options: LifelineOptions, limits: StatementLimits) {
  const maxBackoffMs = options.maxBackoffMs ?? 30_000;
  let client: pg.Client | null = null;
  let opening: Promise<pg.Client> | null = null;
  let backoffMs = 500;
  let retryAt = 0;
  let closed = false;

  const lose = (why: string) => {
    const old = client;
    if (!old) return;
    client = null;
    logger.warn({ why: scrubSecrets(why) }, 'lost the reserved connection: reopening it');
    old.end().catch(() => undefined);
  };

  const attempt = async (): Promise<pg.Client> => {
    const c = new pg.Client({
      connectionString: url,
      application_name: options.applicationName,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      query_timeout: limits.statementTimeoutMs + 5_000,
      keepAlive: true,
    });
    c.on('error', (error) => {
      if (client === c) lose(error.message);
    });
    c.on('end', () => {
      if (client === c) lose('connection ended');
    });
    try {
      await c.connect();
    } catch (error) {
      c.end().catch(() => undefined);
      retryAt = Date.now() + backoffMs;
      backoffMs = Math.min(backoffMs * 2, maxBackoffMs);
      throw error;
    }
    if (closed) {
      await c.end().catch(() => undefined);
      throw new Error('the reserved connection is closed');
    }
    backoffMs = 500;
    client = c;
    logger.debug({ pid: backendPid(c) }, 'reserved connection open');
    return c;
  };

  return {
    connect(): Promise<pg.Client> {
      if (closed) return Promise.reject(new Error('the reserved connection is closed'));
      if (client) return Promise.resolve(client);
      opening ??= attempt().finally(() => {
        opening = null;
      });
      return opening;
    },
    lose,
    /** False while lost and the backoff has not run out: the periodic check then leaves it alone. */
    due: () => client !== null || Date.now() >= retryAt,
    current: () => client,
    async close() {
      closed = true;
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
    },
  };
}

export function createLifeline(url: string, logger: Logger, options: LifelineOptions): Lifeline {
  const limits = options.limits ?? DEFAULT_LIMITS;
  const healthIntervalMs = options.healthIntervalMs ?? 10_000;
  const keeper = createKeeper(url, logger, options, limits);
  const turns = createTurns();
  let timer: NodeJS.Timeout | null = null;

  const lease = async (): Promise<Lease> => {
    const done = await turns.turn();
    try {
      const c = await keeper.connect();
      return {
        client: c,
        via: 'lifeline',
        release(broken) {
          if (broken) keeper.lose(broken instanceof Error ? broken.message : 'released as broken');
          done();
        },
      };
    } catch (error) {
      done();
      throw error;
    }
  };

  // Keep it open: a SELECT 1 now and then (also what stops an idle_session_timeout or a NAT from ending it),
  // and reopen it when it was lost, no sooner than the backoff allows.
  const check = async () => {
    if (!keeper.due()) return;
    let held: Lease | null = null;
    try {
      held = await lease();
      await held.client.query({ text: HEALTH_SQL, query_timeout: Math.min(2_000, healthIntervalMs) } as pg.QueryConfig);
      held.release();
    } catch (error) {
      held?.release(error as Error);
      logger.debug(
        { err: { message: scrubSecrets((error as Error).message ?? ''), code: (error as { code?: string }).code } },
        'reserved connection check failed',
      );
    }
  };

  return {
    async open() {
      timer ??= setInterval(() => void check(), healthIntervalMs);
      timer.unref();
      try {
        await keeper.connect();
        return true;
      } catch (error) {
        logger.warn(
          { err: { message: scrubSecrets((error as Error).message ?? ''), code: (error as { code?: string }).code } },
          'could not open the reserved connection: will try again',
        );
        return false;
      }
    },
    lease,
    pid: () => {
      const c = keeper.current();
      return c ? backendPid(c) : null;
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      // Whoever holds it or waits for it finishes first (each statement has its timeout).
      const last = await turns.turn();
      await keeper.close();
      last();
      await turns.idle();
    },
  };
}

/** The pid the server sent at start-up (BackendKeyData); pg keeps it but does not type it. */
function backendPid(client: pg.Client): number | null {
  const pid = (client as unknown as { processID?: unknown }).processID;
  return typeof pid === 'number' ? pid : null;
}
