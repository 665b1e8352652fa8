// Every sentence a person reads about a refusal or a failure, in one place: requests, standing approvals,
// reads, a cluster that did not answer, a state database that refuses writes. Plain words, never a host,
// port or server message (those go to the log). Renderers format these; they do not write their own.
import { isStateReadOnly } from './errors.js';
import type { RefusedBy, Refusal, RefusalCode, Trouble } from './outcome.js';
import type { SignalBlocker } from './types.js';

/** PGSESSIONS_READ_ONLY, said once: what follows the colon names what it stops. */
const READ_ONLY_MODE = 'pgsessions is in read-only mode (PGSESSIONS_READ_ONLY):';
export const READ_ONLY_TEXT = `${READ_ONLY_MODE} nothing can be cancelled or terminated.`;
/** The read-only sentence for another use case: `stops` says what it stops. */
export const readOnlySentence = (stops: string): string => `${READ_ONLY_MODE} ${stops}`;

// ---- a cluster that did not answer ---------------------------------------------------------------------

/** Short headline, plain words, no host or port (each is safe in any channel). */
export const TROUBLE_HEADLINE: Record<Trouble, string> = {
  full: 'cluster full: max_connections reached (53300)',
  pooler_full: 'connection pooler full: no more connections allowed (max_client_conn)',
  busy: 'cluster too busy: every pgsessions connection to it is taken by earlier queries',
  unreachable: 'cluster unreachable',
};

/**
 * The sentence for an action that could not run. A refusal reaches a user only when pgsessions' reserved
 * connection was no help either (it is lost, and reopening it was refused too): so the sentence says so.
 */
export const TROUBLE_SENTENCE: Record<Trouble, string> = {
  full: 'The cluster is full: max_connections reached (53300), and pgsessions\u2019 reserved connection to it is lost (it is reopened as soon as a connection frees).',
  pooler_full:
    'The connection pooler in front of the cluster is full: no more connections allowed (max_client_conn), and pgsessions\u2019 reserved connection through it is lost.',
  busy: 'The cluster is too busy to answer: every pgsessions connection to it is taken by earlier queries.',
  unreachable: 'The cluster cannot be reached right now.',
};

/** Said on an answer that came through the reserved connection because new connections were refused. */
export function reservedNote(refusedBy: RefusedBy): string {
  const why =
    refusedBy === 'server'
      ? 'is full: max_connections reached (53300)'
      : 'is full at its connection pooler: no more connections allowed (max_client_conn)';
  return `${why} — listed through pgsessions\u2019 reserved connection.`;
}

// ---- the state database ----------------------------------------------------------------------------------

export const STATE_READ_ONLY_TEXT =
  'The state database is read-only (25006): nothing can be requested or approved until it is writable again.';

/** The sentence for a state-database refusal a person can act on, or null for anything else (a bug). */
export function stateTroubleText(error: unknown): string | null {
  return isStateReadOnly(error) ? STATE_READ_ONLY_TEXT : null;
}

// ---- kill requests ---------------------------------------------------------------------------------------

export const FAILURE_MESSAGES = {
  read_only: READ_ONLY_TEXT,
  not_requester: 'You are not allowed to request a cancel or terminate on this cluster.',
  not_approver: 'Only an approver can do that (PGSESSIONS_APPROVERS).',
  self_approval: 'You made this request: a second person has to approve it.',
  already_decided: 'This request was already decided.',
  already_approved: 'You already approved this request;',
  expired: 'This request has expired. Ask again if the session still needs to go.',
  not_found: 'That request does not exist.',
  not_the_requester: 'Only the requester can withdraw a request.',
  reason_required: 'Give a reason: it goes into the audit trail.',
  unknown_cluster: 'Unknown cluster.',
  session_gone: 'That session is no longer running: nothing to do.',
  session_changed: 'That pid now belongs to a different session (or the query changed): list again and pick it anew.',
  protected:
    'That session belongs to a protected role or application (PGSESSIONS_PROTECTED_ROLES / _APPS): it cannot be killed from here.',
  not_client_backend:
    'That pid is not a client session (background process, parallel worker or walsender): it cannot be killed from here.',
  not_walsender: 'That pid is not a walsender.',
  standby_process:
    'That pid is this standby\u2019s WAL replay (startup process) or its WAL receiver: the standby depends on it, so pgsessions never signals it. Nothing was requested.',
  cancel_useless:
    'That session is not running a query (it is idle, or idle in a transaction): cancelling does nothing. Ask to terminate it instead.',
  cannot_signal: 'The database would refuse this whatever anyone approves, so nothing was requested —',
  nothing_to_do: 'No sessions match: nothing to terminate.',
  nothing_to_cancel:
    'None of those sessions still runs the query that was seen (or each is one pgsessions may not cancel): nothing was requested.',
  too_many: 'That would end more sessions than one request may',
  unreachable: `${TROUBLE_SENTENCE.unreachable} Nothing was done.`,
  cluster_full: `${TROUBLE_SENTENCE.full} Nothing was done.`,
  pooler_full: `${TROUBLE_SENTENCE.pooler_full} Nothing was done.`,
  cluster_busy: `${TROUBLE_SENTENCE.busy} Nothing was done; try again in a moment.`,
  post_failed:
    'The approval request could not be posted in this channel (Slack refused or did not answer; in a private channel, invite the app first). Nothing was requested.',
  rate_limited:
    'You are sending requests faster than pgsessions accepts from one person: wait a minute and try again. Nothing was done.',
  tampered:
    'This request was changed in the state database without pgsessions\u2019 key since it was made or approved (its binding does not match): nothing was signalled. The tampering is in the audit log.',
  not_visible:
    'pgsessions cannot see that session\u2019s details (its database role lacks pg_monitor / pg_read_all_stats), so it cannot say what would be killed. Nothing was requested.',
} as const satisfies Partial<Record<RefusalCode, string>>;
export type FailureCode = keyof typeof FAILURE_MESSAGES;

/** Which refusal a connection failure is, for a request. */
export const TROUBLE_FAILURE = {
  full: 'cluster_full',
  pooler_full: 'pooler_full',
  busy: 'cluster_busy',
  unreachable: 'unreachable',
} as const satisfies Record<Trouble, FailureCode>;

/** What a request's execution says when it could not be signalled, or was cut short by a restart. */
export const EXECUTION_TEXT = {
  noCluster: 'the cluster is no longer configured',
  stillRunning: 'still running; not signalled again after the interruption',
  gone: 'no longer running (the signal may have gone out before the interruption)',
  requestInterrupted: 'interrupted by a restart between approval and outcome: reconciled, not re-run',
  ruleInterrupted: 'interrupted by a restart between claim and outcome: reconciled, not re-run',
} as const;

// ---- alerts -----------------------------------------------------------------------------------------------

/** A button on an alert that no longer leads anywhere (snooze, cancel a storm, relieve connections). */
export const ALERT_FAILURES = {
  not_started: 'Watching has not started yet.',
  unknown_alert: 'That alert is not one pgsessions knows: nothing was snoozed.',
  unknown_storm: 'That alert is not a query storm pgsessions knows: nothing was requested.',
  storm_over: 'That query storm is over: nothing to cancel.',
  unknown_connections: 'That alert is not a connections alert pgsessions knows: nothing was requested.',
  connections_over:
    'That connections alert is over, or no application has idle sessions any more: nothing to terminate.',
} as const;

// ---- standing approvals ----------------------------------------------------------------------------------

export const RULE_FAILURES = {
  read_only: `${READ_ONLY_MODE} no rule can be proposed, approved or applied.`,
  not_requester:
    'You are not allowed to request a cancel or terminate on this cluster, so you cannot propose a rule for it.',
  not_approver: 'Only an approver of this cluster can do that (PGSESSIONS_APPROVERS).',
  not_allowed: 'Only someone allowed to request or approve on this cluster can revoke its rules.',
  self_approval: 'You proposed this rule: a second person has to approve it.',
  already_decided: 'This rule was already decided (or has ended).',
  expired: 'This proposal has expired. Propose it again if it is still wanted.',
  not_found: 'That rule does not exist.',
  not_the_proposer: 'Only the proposer can withdraw a proposal.',
  unknown_cluster: 'Unknown cluster.',
  never_acts: 'This rule would never act on this cluster: nothing was proposed.',
  not_watched:
    'Rules are applied by the watcher, and this cluster is not watched (set PGSESSIONS_WATCH_CHANNEL): nothing was proposed.',
  post_failed:
    'The proposal could not be posted in this channel (in a private channel, invite the app first). Nothing was proposed.',
  rate_limited: FAILURE_MESSAGES.rate_limited,
  tampered:
    'This proposal was changed in the state database without pgsessions\u2019 key since it was made (its seal does not match): it was not approved. The tampering is in the audit log.',
} as const satisfies Partial<Record<RefusalCode, string>>;
export type RuleFailure = keyof typeof RULE_FAILURES;

/** A rule's preview: why a session it matches will never be touched. */
export const PREVIEW_PROTECTED =
  'a protected role or application (PGSESSIONS_PROTECTED_ROLES, PGSESSIONS_PROTECTED_APPS)';

/** Why the server would refuse the bot's signal, in the words of the preview. */
export const CANNOT_SIGNAL: Record<SignalBlocker, string> = {
  superuser: "a superuser's session: the bot's role cannot signal it",
  no_role: "a process without a role: the bot's role cannot signal it",
  autovacuum_worker: "an autovacuum worker: the bot's role cannot signal it",
  other_role: "another role's session, and the bot's role lacks pg_signal_backend",
};

// ---- reads -------------------------------------------------------------------------------------------------

/** A refused read: the sentence names the cluster (or the one asked for, and those known). */
export type ReadRefusal = Refusal<
  'unknown_cluster' | 'choose_cluster' | 'not_viewer' | 'unreachable' | 'full' | 'slow'
>;

/**
 * One sentence for a failed read. `name` formats a cluster name (a code span in mrkdwn, the bare name in
 * plain text), `words` the slow query's detail. Never a host name, port or server message.
 */
export function readRefusalText(
  refusal: Omit<ReadRefusal, 'message'>,
  name: (cluster: string) => string = (cluster) => cluster,
  words: (text: string, max: number) => string = (text) => text,
): string {
  const cluster = name(refusal.cluster ?? '');
  const known = (refusal.known ?? []).map(name).join(', ');
  switch (refusal.code) {
    case 'unknown_cluster':
      return `Unknown cluster ${words(refusal.asked ?? '', 63)}. Known clusters: ${known}.`;
    case 'choose_cluster':
      return `Name a cluster with cluster:NAME — one of ${known}.`;
    case 'not_viewer':
      return refusal.cluster === undefined
        ? 'You are not among the people who may look at sessions here (PGSESSIONS_VIEWERS). Nothing was shown.'
        : `You are not among the people who may look at sessions on cluster ${cluster} (PGSESSIONS_VIEWERS). Nothing was shown.`;
    case 'unreachable':
      return `Cannot reach cluster ${cluster} right now (the details are in the app log). Nothing was changed.`;
    case 'full':
      return refusal.refusedBy === 'pooler'
        ? `The connection pooler in front of cluster ${cluster} is full: no more connections allowed (max_client_conn), and pgsessions\u2019 reserved connection through it is lost too. Nothing was changed.`
        : `Cluster ${cluster} is full: max_connections reached (53300), and pgsessions\u2019 reserved connection to it is lost too (it is reopened as soon as a connection frees). Nothing was changed.`;
    case 'slow':
      return `Cluster ${cluster} is slow: ${words(refusal.detail ?? '', 300)}. Nothing was changed; try again in a moment.`;
  }
}
