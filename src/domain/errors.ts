// Every error class of pgsessions, in one place. An expected refusal is a value (outcome.ts), not an error:
// these are thrown where one call ends a whole decision (a group nobody can read now, a session whose details
// are hidden) or where a failure has to cross a library (a pool, a transaction, a parser). Each carries what
// its catcher needs as typed fields, so nobody reads a code back with a cast.
import type { Rule } from './rules.js';

/**
 * A group's membership cannot be read now (Slack rate-limits the read): neither a yes nor a no. Thrown, not
 * returned, because it ends the whole decision; the listener tells the person when to try again.
 */
export class GroupsUnavailable extends Error {
  readonly code = 'groups_unavailable';
  constructor(readonly retryAfterSeconds: number) {
    super(
      `Slack is rate-limiting pgsessions, so it could not check the approvers' and requesters' user groups: nothing was done. Try again in ${retryAfterSeconds} s.`,
    );
    this.name = 'GroupsUnavailable';
  }
}

/**
 * ClusterPort.byPid: the session exists, but the bot's role may not see its details (no backend_start without
 * pg_read_all_stats), so there is no identity to freeze into a request.
 */
export class SessionNotVisible extends Error {
  readonly code = 'session_not_visible';
  constructor(readonly pid: number) {
    super(`the details of pid ${pid} are hidden from the bot's role`);
    this.name = 'SessionNotVisible';
  }
}

/**
 * Every connection the bot keeps to a cluster is busy with earlier queries: the cluster is slow, not down.
 * pg-pool reports a wait in its queue with the same words as a failed connect, so the pool is asked.
 */
export class ClusterBusyError extends Error {
  readonly code = 'PGSESSIONS_CLUSTER_BUSY';
  constructor(readonly connections: number) {
    super(
      `all ${connections} of pgsessions' connections to it are busy with earlier queries (each is cut off after 10 s)`,
    );
    this.name = 'ClusterBusyError';
  }
}

/** The configuration cannot start pgsessions: every problem found, each one line. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`pgsessions cannot start:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** A slash command that does not parse: the message is the sentence shown to the person who typed it. */
export class InvalidCommand extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'InvalidCommand';
  }
}

/**
 * A rule's claim rolls back: no slot was reserved (the rule no longer holds), or its seal does not match its
 * row (`tampered`, audited after the rollback).
 */
export class NotReserved extends Error {
  constructor(readonly tampered?: { rule: Rule; why: string; row: Record<string, unknown> }) {
    super('not reserved');
    this.name = 'NotReserved';
  }
}

/** A post to Slack that did not answer in time; `code` as Node's own timeouts say it. */
export class PostTimedOut extends Error {
  readonly code = 'ETIMEDOUT';
  constructor(readonly ms: number) {
    super(`post timed out after ${ms} ms`);
    this.name = 'PostTimedOut';
  }
}

/** The playground's page server: an HTTP status and the sentence sent with it. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

/** SQLSTATE read_only_sql_transaction: "cannot execute INSERT in a read-only transaction". */
export const READ_ONLY_SQLSTATE = '25006';

/**
 * A state database that refuses writes (a standby after a failover, or default_transaction_read_only) is an
 * expected state, not a bug. Recognised by SQLSTATE (a pg error's `code`), never by message.
 */
export function isStateReadOnly(error: unknown): boolean {
  return typeof error === 'object' && error !== null && 'code' in error && error.code === READ_ONLY_SQLSTATE;
}
