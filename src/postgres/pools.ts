// The only module that creates pg pools. Every pool names itself `pgsessions` and sends nothing else at
// start-up (PgBouncer refuses parameters it does not track): each statement runs in its own transaction
// that sets its server-side timeouts and date formats first (statement.ts) — the driver has no server-side
// timeout, and a client-side timeout alone would leave the query running on a struggling server. A pool
// given a lifeline (lifeline.ts) falls back to it when the server refuses new connections.
import pg from 'pg';
import type { Logger } from '../logger.js';
import { scrubSecrets } from '../logger.js';
import type { Lifeline } from './lifeline.js';
import { ClusterBusyError } from '../domain/errors.js';
import type { RefusedBy, Trouble } from '../domain/outcome.js';
import { DEFAULT_LIMITS, runStatement, type Lease, type StatementLimits } from './statement.js';

export const APPLICATION_NAME = 'pgsessions';

export interface PoolOptions {
  max?: number;
  statementTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** How long an unused connection stays open (default 30 s). */
  idleTimeoutMs?: number;
  /** The reserved connection to use when the server refuses a new one (full). */
  lifeline?: Lifeline;
}

interface PoolExtras {
  limits: StatementLimits;
  lifeline: Lifeline | null;
  connect: () => Promise<pg.PoolClient>;
}

const extras = new WeakMap<pg.Pool, PoolExtras>();

export function createPool(url: string, logger: Logger, options: PoolOptions = {}): pg.Pool {
  const statementTimeout = options.statementTimeoutMs ?? DEFAULT_LIMITS.statementTimeoutMs;
  const pool = new pg.Pool({
    connectionString: url,
    application_name: APPLICATION_NAME,
    max: options.max ?? 4,
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
    idleTimeoutMillis: options.idleTimeoutMs ?? 30_000,
    // A little longer than the server's own limit, for a server that no longer answers at all.
    query_timeout: statementTimeout + 5_000,
  });
  // A dropped connection, or the bot's own backend terminated by someone, must not crash the process.
  pool.on('error', (error) => {
    logger.warn(
      { err: { message: scrubSecrets(error.message), code: (error as { code?: string }).code } },
      'idle PostgreSQL connection failed',
    );
  });
  const limits = { ...DEFAULT_LIMITS, statementTimeoutMs: statementTimeout };
  extras.set(pool, { limits, lifeline: options.lifeline ?? null, connect: pool.connect.bind(pool) });
  // The stores call pool.query directly: here is where every one of those statements gets its transaction
  // and its limits. Only the (text, values) form is used in this code base.
  pool.query = (async (text: string, values?: unknown[]) =>
    runStatement(await acquire(pool), limits, text, values ?? [])) as unknown as pg.Pool['query'];
  return pool;
}

/** The limits a pool's statements run with (a pool not made here gets the defaults). */
export function limitsOf(pool: pg.Pool): StatementLimits {
  return extras.get(pool)?.limits ?? DEFAULT_LIMITS;
}

/**
 * A connection for one statement or transaction: from the pool, or — when the server refused a new one and
 * none is free — the pool's lifeline. `lifeline: false` for work that must not hold it (a Slack call inside).
 */
export async function acquire(pool: pg.Pool, options: { lifeline?: boolean } = {}): Promise<Lease> {
  const x = extras.get(pool);
  let client: pg.PoolClient;
  try {
    client = await (x ? x.connect() : pool.connect());
  } catch (error) {
    const refused = refusalOf(error);
    if (x?.lifeline && options.lifeline !== false && refused) return { ...(await x.lifeline.lease()), refused };
    throw error;
  }
  return { client, via: 'pool', release: (broken) => client.release(broken) };
}

/** Which refusal: the server's max_connections (or a role's or database's limit), or a pooler's own. */
export function refusalOf(error: unknown): RefusedBy | null {
  const e = error as { code?: unknown; message?: unknown };
  if (e?.code === '53300') return 'server';
  // PgBouncer at max_client_conn (08P01 there, with this text in every version).
  if (typeof e?.message === 'string' && /no more connections allowed \(max_client_conn\)/i.test(e.message))
    return 'pooler';
  return null;
}

export { ClusterBusyError };

const POOL_WAIT_TIMEOUT = /timeout exceeded when trying to connect/i;

/** Runs a query; a timed-out wait for a pool slot while every connection is in use becomes ClusterBusyError. */
export async function queryRows(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<Record<string, unknown>[]> {
  return (await queryRouted(pool, text, values)).rows;
}

/** queryRows, also saying whether the rows came through the lifeline because a new connection was refused. */
export async function queryRouted(
  pool: pg.Pool,
  text: string,
  values: unknown[] = [],
): Promise<{ rows: Record<string, unknown>[]; refused: RefusedBy | null }> {
  try {
    const lease = await acquire(pool);
    const result = await runStatement(lease, limitsOf(pool), text, values);
    return { rows: result.rows, refused: lease.refused ?? null };
  } catch (error) {
    const max = (pool as unknown as { options: { max?: number } }).options.max ?? 10;
    if (POOL_WAIT_TIMEOUT.test((error as Error).message ?? '') && pool.totalCount >= max && pool.idleCount === 0) {
      throw new ClusterBusyError(max);
    }
    throw error;
  }
}

/** Short, user-safe description of a connection failure (no host credentials). */
export function describeConnectionError(error: unknown): string {
  const e = error as { code?: string; message?: string };
  const message = scrubSecrets(e.message ?? String(error)).split('\n')[0] ?? 'unknown error';
  return e.code ? `${message} (${e.code})` : message;
}

/**
 * Why a read of a cluster failed, for a channel (a rule's preview): the kind of failure and its code, never
 * the error's text (it can name the host and port).
 */
export function describeReadFailure(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const tag = typeof code === 'string' && /^[A-Z0-9_]{1,20}$/.test(code) ? ` (${code})` : '';
  if (code === '57014') return `the read ran over its statement timeout${tag}`;
  if (error instanceof ClusterBusyError) return 'the cluster is too busy to answer now';
  const refused = refusalOf(error);
  if (refused === 'server') return `the cluster is full: max_connections reached${tag}`;
  if (refused === 'pooler') return 'the connection pooler in front of the cluster is full (max_client_conn)';
  if (isConnectionError(error)) return `the cluster could not be reached${tag}`;
  return `the read failed${tag}`;
}

/** Which trouble a failed call met, for the user's sentence; null for an error that is a bug or a statement's. */
export function troubleOf(error: unknown): Trouble | null {
  if (error instanceof ClusterBusyError) return 'busy';
  const refused = refusalOf(error);
  if (refused) return refused === 'server' ? 'full' : 'pooler_full';
  return isConnectionError(error) ? 'unreachable' : null;
}

/** True for errors that mean the server could not be reached or went away, not that a statement failed. */
export function isConnectionError(error: unknown): boolean {
  if (error instanceof ClusterBusyError) return true;
  const e = error as { code?: string; message?: string };
  if (typeof e.code === 'string') {
    if (['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'ETIMEDOUT', 'EHOSTUNREACH', 'EPIPE', 'EAI_AGAIN'].includes(e.code))
      return true;
    if (e.code.startsWith('08') || e.code === '57P01' || e.code === '57P02' || e.code === '57P03' || e.code === '53300')
      return true;
  }
  const message = e.message ?? '';
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Query read timeout/i.test(
    message,
  );
}
