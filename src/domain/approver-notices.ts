// Telling approvers directly (issue 16, docs/approvals.md "Direct messages"): a request or a rule proposal
// that waits for approvers reaches each of them in a direct message with its Approve/Deny buttons, and every
// such message shows the subject's state as it changes. The Slack side is src/slack/adapters/approver-notices.ts.
import type { KillRequest } from './types.js';
import type { Rule } from './rules.js';

export type NoticeSubject = { kind: 'request'; request: KillRequest } | { kind: 'rule'; rule: Rule };

export interface ApproverNoticesPort {
  /**
   * Direct-messages each person among `principals` (user ids U…/W…, and user groups S… expanded to their
   * members at call time) — never the subject's requester/proposer, never someone already told about this
   * subject — with what the subject is (cluster, action, pids, requester, reason, a link to the channel
   * message) and its Approve/Deny buttons (same action ids and values as the channel message). Each DM is
   * recorded (subject, user, channel, ts, tier) in the state database. tier: 0 when the request is made,
   * 1, 2… by escalation. Returns the user ids actually told. Slack refusing one person never stops the rest.
   */
  tell(subject: NoticeSubject, principals: string[], tier: number): Promise<string[]>;
  /** Every DM recorded for the subject shows its state now (progress, then outcome with the buttons gone). */
  refresh(subject: NoticeSubject): Promise<void>;
  /** A plain direct message to each of `principals` (groups expanded), no record; returns who was reached. */
  say(principals: string[], message: { text: string; blocks?: unknown[] }): Promise<string[]>;
}

/** The subject's kind and id, as the store of direct messages keys them. */
export function subjectKey(subject: NoticeSubject): { kind: 'request' | 'rule'; id: string } {
  return subject.kind === 'request'
    ? { kind: 'request', id: subject.request.id }
    : { kind: 'rule', id: subject.rule.id };
}

/** Who asked: never asked to approve their own request or proposal. */
export function askerOf(subject: NoticeSubject): string {
  return subject.kind === 'request' ? subject.request.requester : subject.rule.proposer;
}

/** One direct message sent about a subject, as recorded. */
export interface ApproverMessage {
  user: string;
  channel: string;
  ts: string;
  tier: number;
}

/**
 * The record of direct messages (src/postgres/approver-messages-store.ts). `claim` inserts the (subject, user)
 * row before anything is sent: its unique key makes "never told twice" hold across replicas (false: someone
 * else — another call, another replica — has it). `sent` fills in where the message went; `release` gives a
 * claim back when Slack refused the message, so that a later tier may try that person again.
 */
export interface ApproverMessagesStore {
  claim(subject: { kind: 'request' | 'rule'; id: string }, user: string, tier: number): Promise<boolean>;
  sent(subject: { kind: 'request' | 'rule'; id: string }, user: string, channel: string, ts: string): Promise<void>;
  release(subject: { kind: 'request' | 'rule'; id: string }, user: string): Promise<void>;
  /** The messages sent (claims with a channel and ts), oldest first. */
  list(subject: { kind: 'request' | 'rule'; id: string }): Promise<ApproverMessage[]>;
}
