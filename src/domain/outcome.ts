// One vocabulary of outcomes for every use case a person drives: it went through (a value), or it was refused
// (a code a program can branch on, and one sentence from messages.ts a person can read). Only bugs throw.

/** Why a connection to a cluster failed: full, full at its pooler, busy (our pool taken), or no answer. */
export const TROUBLES = ['full', 'pooler_full', 'busy', 'unreachable'] as const;
export type Trouble = (typeof TROUBLES)[number];

/** Who refused a new connection: the server (max_connections, 53300) or a pooler in front of it (max_client_conn). */
export type RefusedBy = 'server' | 'pooler';

/** Every reason a request, a rule or a read is refused. */
export const REFUSAL_CODES = [
  // who may
  'read_only',
  'not_requester',
  'not_approver',
  'not_allowed',
  'not_viewer',
  'self_approval',
  'not_the_requester',
  'not_the_proposer',
  'rate_limited',
  // what was asked
  'reason_required',
  'unknown_cluster',
  'choose_cluster',
  'not_watched',
  'never_acts',
  'invalid_rule',
  'already_decided',
  'already_approved',
  'expired',
  'not_found',
  'tampered',
  // the session
  'session_gone',
  'session_changed',
  'protected',
  'not_client_backend',
  'not_walsender',
  'standby_process',
  'cancel_useless',
  'cannot_signal',
  'not_visible',
  'nothing_to_do',
  'nothing_to_cancel',
  'too_many',
  // the cluster or Slack
  'unreachable',
  'slow',
  'full',
  'cluster_full',
  'pooler_full',
  'cluster_busy',
  'read_failed',
  'post_failed',
] as const;
export type RefusalCode = (typeof REFUSAL_CODES)[number];

/**
 * A refusal: its code, and the sentence to show (plain text, no host, port or server message). The other
 * fields are there when the sentence names them, for renderers that format names (messages.ts).
 */
export interface Refusal<C extends RefusalCode = RefusalCode> {
  code: C;
  message: string;
  cluster?: string;
  known?: string[];
  refusedBy?: RefusedBy;
  /** The cluster name asked for, when it is not one of `known`. */
  asked?: string;
  /** What was slow, in the words of the timeout (no host or port). */
  detail?: string;
}

export type Outcome<T, C extends RefusalCode = RefusalCode> =
  | { ok: true; value: T }
  | { ok: false; refusal: Refusal<C> };

export const ok = <T>(value: T): { ok: true; value: T } => ({ ok: true, value });

export const refused = <C extends RefusalCode>(
  code: C,
  message: string,
  about: Omit<Refusal<C>, 'code' | 'message'> = {},
): { ok: false; refusal: Refusal<C> } => ({ ok: false, refusal: { code, message, ...about } });
