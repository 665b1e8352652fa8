// One statement in its own transaction, with everything it relies on set for that transaction only.
//
// No session state: behind a transaction pooler (PgBouncer, Supabase's, Neon's pooled endpoint) the next
// statement may run on another server connection, and PgBouncer refuses start-up parameters it does not
// track ("unsupported startup parameter: statement_timeout"). So nothing beyond application_name goes in
// the start-up packet; each transaction opens with the timeouts and the date and time formats the code
// reads timestamps in (exact text, UTC) — SET LOCAL, gone at COMMIT or ROLLBACK.
import type pg from 'pg';
import { isStateReadOnly } from '../domain/errors.js';
import type { RefusedBy } from '../domain/outcome.js';

export interface StatementLimits {
  statementTimeoutMs: number;
  lockTimeoutMs: number;
  idleInTransactionTimeoutMs: number;
}

export const DEFAULT_LIMITS: StatementLimits = {
  statementTimeoutMs: 10_000,
  lockTimeoutMs: 2_000,
  idleInTransactionTimeoutMs: 60_000,
};

const whole = (name: string, value: number): number => {
  if (!Number.isSafeInteger(value) || value < 0)
    throw new Error(`${name} must be a whole number of milliseconds, not ${value}`);
  return value;
};

/**
 * BEGIN and the SET LOCALs as one simple-protocol message: one round trip. The values are whole numbers
 * checked here (never text from outside), which is why they may be written into the text: SET takes no
 * `$n` parameters, and the extended protocol, which does, allows one statement per message.
 */
export function beginSql(limits: StatementLimits): string {
  return [
    'BEGIN',
    `SET LOCAL statement_timeout = ${whole('statement_timeout', limits.statementTimeoutMs)}`,
    `SET LOCAL lock_timeout = ${whole('lock_timeout', limits.lockTimeoutMs)}`,
    `SET LOCAL idle_in_transaction_session_timeout = ${whole('idle_in_transaction_session_timeout', limits.idleInTransactionTimeoutMs)}`,
    "SET LOCAL TimeZone = 'UTC'",
    "SET LOCAL DateStyle = 'ISO, YMD'",
    "SET LOCAL IntervalStyle = 'postgres'",
  ].join('; ');
}

/** A client the caller holds for one statement or one transaction; `release(true)` destroys it. */
export interface Lease {
  client: pg.ClientBase;
  release(broken?: boolean | Error): void;
  /** Where the connection came from: the pool, or pgsessions' reserved connection (new ones were refused). */
  via: 'pool' | 'lifeline';
  /** Why the lifeline: who refused a new connection. */
  refused?: RefusedBy;
}

/** BEGIN with the limits, `work`, COMMIT; ROLLBACK and rethrow on failure. Reports a connection to drop. */
export async function transact<T>(
  lease: Lease,
  limits: StatementLimits,
  work: (client: pg.ClientBase) => Promise<T>,
): Promise<T> {
  let broken: Error | undefined;
  // A leased client has no pool error listener: a connection lost while idle in the transaction must not
  // be an uncaught 'error' event; the failure surfaces as the rejection of the next query.
  const onError = (error: Error) => {
    broken = error;
  };
  lease.client.on('error', onError);
  try {
    await lease.client.query(beginSql(limits));
    try {
      const value = await work(lease.client);
      await lease.client.query('COMMIT');
      return value;
    } catch (error) {
      await lease.client.query('ROLLBACK').catch((rollbackError: Error) => {
        broken = rollbackError;
      });
      throw error;
    }
  } catch (error) {
    // A client-side timeout leaves the connection mid-query: never hand it to the next caller. Nor is a
    // connection to a read-only server (25006) reused: after a failover a new one reaches the primary.
    if (/Query read timeout|Connection terminated/i.test((error as Error).message ?? '')) broken ??= error as Error;
    if (isStateReadOnly(error)) broken ??= error as Error;
    throw error;
  } finally {
    lease.client.off('error', onError);
    lease.release(broken ?? false);
  }
}

/** One statement, in its own transaction with the limits. */
export function runStatement<R extends pg.QueryResultRow = Record<string, unknown>>(
  lease: Lease,
  limits: StatementLimits,
  text: string,
  values: unknown[] = [],
): Promise<pg.QueryResult<R>> {
  return transact(lease, limits, (client) => client.query<R>(text, values));
}
