// A state database that refuses writes (a standby after a failover, or default_transaction_read_only) is an
// expected state, not a bug: the person who asked is told so in one sentence, and nothing was written (each
// request or decision is one transaction with its audit entry). Recognised by SQLSTATE, never by message.

/** SQLSTATE read_only_sql_transaction: "cannot execute INSERT in a read-only transaction". */
export const READ_ONLY_SQLSTATE = '25006';

export const STATE_READ_ONLY_TEXT =
  'The state database is read-only (25006): nothing can be requested or approved until it is writable again.';

export function isStateReadOnly(error: unknown): boolean {
  return typeof error === 'object' && error !== null && (error as { code?: unknown }).code === READ_ONLY_SQLSTATE;
}

/** The sentence for a state-database refusal a person can act on, or null for anything else (a bug). */
export function stateTroubleText(error: unknown): string | null {
  return isStateReadOnly(error) ? STATE_READ_ONLY_TEXT : null;
}
