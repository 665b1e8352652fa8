// The two-person rule on screen: the channel message an approver acts on (in every status) and the
// `/pgsessions pending` list. The forms are in request-form.ts, the outcome in words in outcome.ts.

import type { Button, KnownBlock } from '@slack/types';
import type { Action, KillRequest, TargetSnapshot } from '../../domain/types.js';
import { ACTION, BLOCK } from './ids.js';
import {
  LIMITS,
  codeSpan,
  escapeMrkdwn,
  escapeTruncate,
  inlineText,
  safeText,
  slackDate,
  truncate,
  userMention,
  channelMention,
  type RenderedMessage,
} from './mrkdwn.js';
import { describeOutcome, describeResult } from './outcome.js';
import { WALSENDER_WARNING } from './replication.js';
import { drainPlanBlocks, drainStateBlocks, drainTitle } from './drain.js';
import { approvedBy, progressWords, waitingLine } from './quorum-progress.js';

/** How many sessions of a terminate-all request are listed one by one. */
export const MAX_LISTED_TARGETS = 30;

const MESSAGE_QUERY_CHARS = 1000;
const LIST_QUERY_CHARS = 60;

export function name(value: string | null, max = 80): string {
  return value === null || value === '' ? '—' : inlineText(value, max);
}

/** One session as it was seen, in mrkdwn, bounded under a section's 3000 characters. */
export function snapshotText(s: TargetSnapshot, queryChars: number): string {
  const times = [`backend started ${name(s.backendStart)}`];
  if (s.xactStart !== null) times.push(`transaction started ${name(s.xactStart)}`);
  if (s.queryStart !== null) times.push(`query started ${name(s.queryStart)}`);
  const query = s.query === null ? '_no query text_' : codeSpan(s.query, queryChars + 2);
  return truncate(
    `*pid ${s.pid}* · user ${name(s.user)} · db ${name(s.database)} · app ${name(s.application)}` +
      ` · client ${name(s.client)} · state *${name(s.state)}*` +
      (s.backendType !== 'client backend' ? ` · ${name(s.backendType)}` : '') +
      `\n${times.join(' · ')}\n${query}`,
    LIMITS.sectionText,
  );
}

// ---------------------------------------------------------------------------------- approval message

const ACTION_TITLES: Record<Action, string> = {
  cancel: 'Cancel request',
  cancel_then_terminate: 'Cancel request',
  terminate: 'Terminate request',
  terminate_walsender: 'End walsender request',
  terminate_all: 'Terminate ALL request',
  cancel_all: 'Cancel request — query storm',
  drain: 'Drain request',
};

/** Short label of a request's action for lists: "Cancel", "Terminate all"… */
export const ACTION_LABELS: Record<Action, string> = {
  cancel: 'Cancel',
  cancel_then_terminate: 'Cancel, then terminate',
  terminate: 'Terminate',
  terminate_walsender: 'End walsender',
  terminate_all: 'Terminate all',
  cancel_all: 'Cancel all (storm)',
  drain: 'Drain',
};

function requestTitle(r: KillRequest): string {
  if (r.action === 'terminate_all' && r.scope && r.scope.database === undefined && r.scope.application !== undefined) {
    // A connection storm's relief (from a connections alert): one application's sessions, any database.
    const n = r.targets.length;
    return `Terminate ${n} ${n === 1 ? 'session' : 'sessions'} of app ${r.scope.application || '(none)'} — connection storm`;
  }
  if (r.action === 'terminate_all') {
    const db = r.scope?.database ?? r.targets[0]?.database ?? '?';
    const n = r.targets.length;
    return `Terminate ALL sessions of db ${db} — ${n} ${n === 1 ? 'session' : 'sessions'}`;
  }
  if (r.action === 'drain') return drainTitle(r);
  if (r.action === 'cancel_all') {
    const n = r.targets.length;
    return `Cancel the queries of ${n} ${n === 1 ? 'session' : 'sessions'} (query storm)`;
  }
  if (r.action === 'cancel_then_terminate' && r.escalateAfterSeconds !== null) {
    return `Cancel request — then terminate if still running after ${r.escalateAfterSeconds} s`;
  }
  return ACTION_TITLES[r.action];
}

function dateOr(when: string | null, format: string, fallback: string): string {
  if (when === null) return fallback;
  return slackDate(when, format) ?? inlineText(when, 64);
}

function isExpired(r: KillRequest, now: Date): boolean {
  const expires = Date.parse(r.expiresAt);
  return Number.isFinite(expires) && now.getTime() >= expires;
}

/** The outcome line of a request that is no longer pending (mrkdwn). */
function statusLine(r: KillRequest, now: Date): string | null {
  const decider = r.decidedBy === null ? 'someone' : userMention(r.decidedBy);
  const by = r.status === 'denied' ? decider : approvedBy(r, decider);
  const at = r.decidedAt === null ? '' : ` at ${dateOr(r.decidedAt, '{time}', '')}`;
  switch (r.status) {
    case 'pending':
      return isExpired(r, now) ? 'Expired unapproved.' : null;
    case 'approved':
      return `Approved by ${by}${at} — executing…`;
    case 'executed':
    case 'failed':
      return `Approved by ${by}${at} — ${safeText(describeResult(r.result), 2000)}`;
    case 'denied':
      return `Denied by ${by}${at}.`;
    case 'withdrawn':
      return 'Withdrawn by the requester.';
    case 'expired':
      return 'Expired unapproved.';
  }
}

/** Pack lines into as few sections as fit 3000 characters each. */
function packLines(lines: string[]): KnownBlock[] {
  const blocks: KnownBlock[] = [];
  let current = '';
  for (const raw of lines) {
    const line = truncate(raw, LIMITS.sectionText);
    if (current !== '' && current.length + 1 + line.length > LIMITS.sectionText) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current } });
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  }
  if (current !== '') blocks.push({ type: 'section', text: { type: 'mrkdwn', text: current } });
  return blocks;
}

function compactTargetLine(s: TargetSnapshot): string {
  const query = s.query === null ? '' : ` · ${codeSpan(s.query, LIST_QUERY_CHARS + 2)}`;
  return `• *pid ${s.pid}* · ${name(s.user, 40)} · ${name(s.application, 40)} · ${name(s.state, 40)}${query}`;
}

function scopeWords(scope: NonNullable<KillRequest['scope']>): string {
  const show = (key: string, v: string): string => `${key}:${/\s/.test(v) ? `"${v}"` : v}`;
  const words: string[] = [];
  if (scope.database !== undefined) words.push(show('db', scope.database));
  if (scope.user !== undefined) words.push(show('user', scope.user));
  if (scope.application !== undefined) words.push(show('app', scope.application));
  return words.join(' ');
}

export interface ApprovalMessageInput {
  request: KillRequest;
  now: Date;
}

const contextLine = (text: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

/** Cluster, requester, reason, scope and (while it can be approved) when it expires. */
function metaBlock(r: KillRequest, pendingLive: boolean): KnownBlock {
  const meta = [
    `*Cluster:* ${inlineText(r.cluster, 200)} · *Requested by:* ${userMention(r.requester)}`,
    `*Reason:* ${r.reason.trim() === '' ? '_(none given)_' : safeText(r.reason, 1500)}`,
  ];
  if (r.action === 'terminate_all' && r.scope !== null) meta.push(`*Scope:* ${inlineText(scopeWords(r.scope), 300)}`);
  if (pendingLive) meta.push(`*Expires:* ${dateOr(r.expiresAt, '{time}', 'unknown')}`);
  return { type: 'section', text: { type: 'mrkdwn', text: truncate(meta.join('\n'), LIMITS.sectionText) } };
}

/** The sessions the request is about: one in full, or a frozen list of many with what approval ends. */
function targetBlocks(r: KillRequest): KnownBlock[] {
  if (r.action === 'drain') return drainPlanBlocks(r);
  if (r.action !== 'terminate_all' && r.action !== 'cancel_all') {
    // One target; a defensive cap all the same.
    return r.targets
      .slice(0, 5)
      .map((s) => ({ type: 'section', text: { type: 'mrkdwn', text: snapshotText(s, MESSAGE_QUERY_CHARS) } }));
  }
  if (r.targets.length === 0) {
    return [{ type: 'section', text: { type: 'mrkdwn', text: '_No sessions matched: there is nothing to end._' } }];
  }
  const verb = r.action === 'cancel_all' ? 'cancels the running queries of' : 'ends';
  const since = r.action === 'cancel_all' ? ' (nor a query started since)' : '';
  const blocks = packLines(r.targets.slice(0, MAX_LISTED_TARGETS).map(compactTargetLine));
  blocks.push(
    contextLine(
      r.targets.length > MAX_LISTED_TARGETS
        ? `${r.targets.length - MAX_LISTED_TARGETS} more not shown. Approval ${verb} exactly the ${r.targets.length} sessions frozen in this request, never ones that arrived later${since}.`
        : `Approval ${verb} exactly these sessions, never ones that arrived later${since}.`,
    ),
  );
  return blocks;
}

/** Approve / Deny / Withdraw while the request can be decided. */
function decisionBlocks(r: KillRequest): KnownBlock[] {
  const decision: Button[] = [
    {
      type: 'button',
      action_id: ACTION.approve,
      text: { type: 'plain_text', text: 'Approve' },
      style: 'primary',
      value: r.id,
    },
    {
      type: 'button',
      action_id: ACTION.deny,
      text: { type: 'plain_text', text: 'Deny' },
      style: 'danger',
      value: r.id,
    },
    { type: 'button', action_id: ACTION.withdraw, text: { type: 'plain_text', text: 'Withdraw' }, value: r.id },
  ];
  return [{ type: 'actions', block_id: BLOCK.decision, elements: decision }, contextLine(waitingLine(r))];
}

/** Per-target outcomes when there were several (a single one is already in the status line). */
function outcomeBlocks(r: KillRequest): KnownBlock[] {
  const outcomes = r.result?.outcomes ?? [];
  if (outcomes.length <= 1) return [];
  const lines = outcomes
    .slice(0, MAX_LISTED_TARGETS)
    .map((o) => `• pid ${o.pid}: ${safeText(describeOutcome(o), 200)}`);
  const blocks = packLines(lines);
  if (outcomes.length > MAX_LISTED_TARGETS) {
    blocks.push(
      contextLine(`${outcomes.length - MAX_LISTED_TARGETS} more outcomes not shown (all are in the audit log).`),
    );
  }
  return blocks;
}

export function buildApprovalMessage(input: ApprovalMessageInput): RenderedMessage {
  const { request: r, now } = input;
  const title = requestTitle(r);
  const pendingLive = r.status === 'pending' && !isExpired(r, now);
  const status = statusLine(r, now);
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, LIMITS.headerText) } },
    metaBlock(r, pendingLive),
    ...targetBlocks(r),
  ];
  if (r.action === 'terminate_walsender') blocks.push(contextLine(WALSENDER_WARNING));
  if (pendingLive) blocks.push(...decisionBlocks(r));
  else if (status !== null) blocks.push(contextLine(truncate(status, LIMITS.sectionText)));
  if (r.action === 'drain') blocks.push(...drainStateBlocks(r));
  blocks.push(...outcomeBlocks(r));

  const pids =
    r.targets
      .slice(0, 10)
      .map((t) => t.pid)
      .join(', ') + (r.targets.length > 10 ? '…' : '');
  const statusWords = pendingLive ? 'awaiting approval' : (status ?? r.status);
  const text = truncate(
    `${escapeMrkdwn(title)} on ${escapeTruncate(r.cluster, 200)} (pid ${pids}) by ${userMention(r.requester)}: ${statusWords}`,
    LIMITS.fallbackText,
  );
  return { text, blocks };
}

// --------------------------------------------------------------------------------------- pending list

function targetSummary(r: KillRequest): string {
  if (r.action === 'terminate_all') {
    return `${r.targets.length} sessions of db ${name(r.scope?.database ?? null)}`;
  }
  if (r.action === 'cancel_all') return `the queries of ${r.targets.length} sessions (query storm)`;
  const t = r.targets[0];
  return t === undefined ? 'no session' : `pid ${t.pid} (${name(t.user, 40)}@${name(t.database, 40)})`;
}

/** elsewhere: open requests made in other conversations, counted only (they may be private). */
export function buildPendingList(requests: KillRequest[], opts: { elsewhere?: number } = {}): RenderedMessage {
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Open requests — ${requests.length}` } },
  ];
  const elsewhere = opts.elsewhere ?? 0;
  if (elsewhere > 0) {
    blocks.push({
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${elsewhere} more open ${elsewhere === 1 ? 'request was' : 'requests were'} made in other conversations: they are listed only there (and in the audit channel).`,
        },
      ],
    });
  }
  if (requests.length === 0) {
    const none =
      elsewhere > 0 ? 'No open requests in this conversation.' : 'No open requests. Nothing is waiting for approval.';
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: none } });
    return { text: elsewhere > 0 ? 'No open requests in this conversation.' : 'No open requests.', blocks };
  }
  const budget = LIMITS.blocksPerMessage - 1;
  let shown = 0;
  for (const r of requests) {
    if (blocks.length + 1 > budget) break;
    const text =
      `*${ACTION_LABELS[r.action]}* on *${inlineText(r.cluster, 200)}* · ${targetSummary(r)}` +
      ` · by ${userMention(r.requester)} in ${channelMention(r.channel)} · expires ${dateOr(r.expiresAt, '{time}', '?')}` +
      progressWords(r) +
      `\n${r.reason.trim() === '' ? '_(no reason given)_' : safeText(r.reason, 300)}`;
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(text, LIMITS.sectionText) } });
    shown += 1;
  }
  if (requests.length > shown) {
    blocks.push({
      type: 'context',
      elements: [{ type: 'mrkdwn', text: `${requests.length - shown} more not shown — narrow with cluster:.` }],
    });
  }
  return { text: truncate(`${requests.length} open requests.`, LIMITS.fallbackText), blocks };
}
