// Signalling one session: the identity re-checked and the signal sent in one statement (session-sql.ts),
// then what happened found out — gone, refused by the guard, still running, or done — and a refusal by the
// server explained from the catalogs. Never throws for an expected refusal.
import type pg from 'pg';
import { SIGNAL_BLOCKER_HINTS } from '../domain/policy.js';
import type { TargetOutcome } from '../domain/types.js';
import type { Logger } from '../logger.js';
import { queryRows } from './pools.js';
import { blocker, str } from './session-rows.js';
import type { SignalGuard, SignalKind, SignalTarget } from '../domain/ports.js';
import { identityQuery, signalBlockerQuery, signalQuery } from './session-sql.js';

/** What a signal needs of its cluster: listings' pool (for the catalogs), the signal pool, and the version. */
export interface SignalDb {
  name: string;
  pool: pg.Pool;
  signalPool: pg.Pool;
  logger: Logger;
  versionNum(): Promise<number>;
}

/** Is this exact session (and query, when given) still there? With its state. */
export async function stillThere(signalPool: pg.Pool, target: SignalTarget): Promise<{ state: string | null } | null> {
  const query = identityQuery(target);
  const rows = await queryRows(signalPool, query.text, query.values);
  return rows[0] ? { state: str(rows[0].state) } : null;
}

export async function signalSession(
  db: SignalDb,
  kind: SignalKind,
  target: SignalTarget,
  guard: SignalGuard,
): Promise<TargetOutcome> {
  const v = await db.versionNum();
  try {
    const query = signalQuery(v, kind, target, guard);
    const row = (await queryRows(db.signalPool, query.text, query.values))[0];
    if (!row) return notSignalled(db, kind, target);
    if (row.signalled !== true) {
      // terminate with a timeout returns false when the backend outlived it; a signal to a pid that
      // vanished in between returns false with a warning.
      const still = await stillThere(db.signalPool, {
        ...target,
        queryStart: kind === 'cancel' ? target.queryStart : null,
      });
      return { pid: target.pid, outcome: still ? 'still_running' : 'gone' };
    }
    return kind === 'terminate' ? terminated(db, v, target) : cancelled(db, target, guard);
  } catch (error) {
    const e = error as { code?: string; message?: string; detail?: string };
    // Decided on the SQLSTATE alone: the wording differs between versions and managed services. What
    // would help is read from the catalogs, not from the message.
    if (e.code === '42501') return permissionDenied(db, v, target, e);
    db.logger.warn({ err: { message: e.message, code: e.code }, cluster: db.name, pid: target.pid }, 'signal failed');
    throw error;
  }
}

/**
 * Not signalled: either it is no longer that session (or query), or it is still there but the guard
 * refused it — it took a protected role or application name since the request was made.
 */
async function notSignalled(db: SignalDb, kind: SignalKind, target: SignalTarget): Promise<TargetOutcome> {
  const there = await stillThere(db.signalPool, target);
  if (!there) return { pid: target.pid, outcome: 'gone' };
  // A cancel's query that already ended on its own: nothing was running to cancel.
  if (kind === 'cancel' && there.state !== 'active' && there.state !== 'fastpath function call') {
    return { pid: target.pid, outcome: 'gone', message: 'the query had already finished: nothing was cancelled' };
  }
  return {
    pid: target.pid,
    outcome: 'refused',
    message: 'it now runs as a protected role or application (or as the bot itself)',
  };
}

/** From PostgreSQL 14 pg_terminate_backend waits itself; before, the session is watched until it is gone. */
async function terminated(db: SignalDb, v: number, target: SignalTarget): Promise<TargetOutcome> {
  if (v >= 140_000) return { pid: target.pid, outcome: 'terminated' };
  return (await waitUntil(async () => (await stillThere(db.signalPool, target)) === null, 5_000))
    ? { pid: target.pid, outcome: 'terminated' }
    : { pid: target.pid, outcome: 'still_running', message: 'signal sent, the session has not ended yet' };
}

/** A cancel worked when this query is no longer running: it was interrupted, so it's no longer active. */
async function cancelled(db: SignalDb, target: SignalTarget, guard: SignalGuard): Promise<TargetOutcome> {
  const stopped = await waitUntil(async () => {
    const now = await stillThere(db.signalPool, target);
    return now?.state !== 'active';
  }, guard.cancelWaitMs ?? 3_000);
  return stopped
    ? { pid: target.pid, outcome: 'cancelled' }
    : { pid: target.pid, outcome: 'still_running', message: 'cancel sent, the query is still running' };
}

async function permissionDenied(
  db: SignalDb,
  v: number,
  target: SignalTarget,
  e: { message?: string; detail?: string },
): Promise<TargetOutcome> {
  const query = signalBlockerQuery(v, target.pid);
  const why = await queryRows(db.pool, query.text, query.values).then(
    (rows) => blocker(rows[0]?.signal_blocker),
    () => null,
  );
  const hint = why ? SIGNAL_BLOCKER_HINTS[why] : 'the server refused the bot\u2019s role the right to signal it';
  return {
    pid: target.pid,
    outcome: 'permission_denied',
    message: [e.message, e.detail, hint].filter(Boolean).join(' — '),
  };
}

async function waitUntil(check: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
