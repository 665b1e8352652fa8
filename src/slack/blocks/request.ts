// The two-person rule on screen: the modal where a requester gives a reason, the channel message an
// approver acts on (in every status), and the `/pgsessions pending` list.

import type { Button, KnownBlock, ModalView, PlainTextOption } from '@slack/types';
import type { Action, ExecutionResult, KillRequest, TargetOutcome, TargetSnapshot } from '../../domain/types.js';
import {
  ACTION,
  BLOCK,
  ESCALATE_CHOICE,
  INPUT,
  MODAL_ESCALATE_SECONDS,
  VIEW,
  encodeModalMetadata,
  encodeStormMetadata,
  type ButtonTarget,
} from '../ids.js';
import { WALSENDER_WARNING } from './replication.js';
import { drainPlanBlocks, drainStateBlocks, drainTitle } from './drain.js';
import { TROUBLE_HEADLINE } from '../../domain/trouble.js';
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

export const MAX_REASON_LENGTH = 500;
/** How many sessions of a terminate-all request are listed one by one. */
export const MAX_LISTED_TARGETS = 30;

const MODAL_QUERY_CHARS = 1500;
const MESSAGE_QUERY_CHARS = 1000;
const LIST_QUERY_CHARS = 60;

function name(value: string | null, max = 80): string {
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

// ---------------------------------------------------------------------------------------------- modal

const MODAL_TITLES: Record<ButtonTarget['kind'], string> = {
  cancel: 'Cancel query',
  terminate: 'Terminate session',
  terminate_walsender: 'End walsender',
};

export interface RequestModalInput {
  target: ButtonTarget;
  snapshot: TargetSnapshot;
  /** Where the approval request will be posted (the channel the button was pressed in). */
  channel: string;
}

export function buildRequestModal(input: RequestModalInput): ModalView {
  const { target, snapshot } = input;
  const cluster = inlineText(target.cluster, 200);
  const intro: Record<ButtonTarget['kind'], string> = {
    cancel: `Ask to *cancel the running query* of pid ${target.pid} on *${cluster}*. The session stays connected.`,
    terminate: `Ask to *terminate* session pid ${target.pid} on *${cluster}*: its transaction rolls back and the client is disconnected.`,
    terminate_walsender: `Ask to *end the walsender* pid ${target.pid} on *${cluster}*.`,
  };
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: { type: 'mrkdwn', text: `${intro[target.kind]} Nothing happens until a second person approves.` },
    },
    { type: 'section', text: { type: 'mrkdwn', text: snapshotText(snapshot, MODAL_QUERY_CHARS) } },
  ];
  if (target.kind === 'terminate_walsender') {
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: WALSENDER_WARNING } });
  }
  if (target.kind === 'cancel' && snapshot.state === 'active') {
    const cancelOnly: PlainTextOption = {
      text: { type: 'plain_text', text: 'Cancel only' },
      value: ESCALATE_CHOICE.cancelOnly,
    };
    blocks.push({
      type: 'input',
      block_id: INPUT.escalateBlock,
      label: { type: 'plain_text', text: 'If the cancel does not stop it' },
      element: {
        type: 'radio_buttons',
        action_id: INPUT.escalateAction,
        initial_option: cancelOnly,
        options: [
          cancelOnly,
          {
            text: {
              type: 'plain_text',
              text: `Cancel, then terminate if still running after ${MODAL_ESCALATE_SECONDS} s`,
            },
            value: ESCALATE_CHOICE.cancelThenTerminate,
          },
        ],
      },
    });
  }
  blocks.push(reasonInput('What is it doing to us, and why end it?'));
  blocks.push({
    type: 'context',
    elements: [
      {
        type: 'mrkdwn',
        text: 'The approver sees the session as shown here. If it has ended or changed by then, nothing is killed.',
      },
    ],
  });
  return {
    type: 'modal',
    callback_id: VIEW.request,
    title: { type: 'plain_text', text: truncate(MODAL_TITLES[target.kind], LIMITS.modalTitle) },
    submit: { type: 'plain_text', text: 'Request approval' },
    close: { type: 'plain_text', text: 'Close' },
    private_metadata: encodeModalMetadata({ target, channel: input.channel }),
    blocks,
  };
}

/** What the storm form shows: the frozen sessions as the watcher saw them (query text already shaped). */
export interface StormModalInput {
  cluster: string;
  incidentId: string;
  channel: string;
  count: number;
  query: string | null;
  applications: string[];
  oldestSeconds: number;
}

/** "Request cancel of these N…": one reason for a frozen list of sessions, nothing else to choose. */
export function buildStormModal(input: StormModalInput): ModalView {
  const cluster = inlineText(input.cluster, 200);
  const n = `${input.count} ${input.count === 1 ? 'session' : 'sessions'}`;
  const apps = input.applications.length > 0 ? input.applications.map((a) => name(a, 60)).join(', ') : '—';
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `Ask to *cancel the running queries of ${n}* of a query storm on *${cluster}*. The sessions stay connected. Nothing happens until a second person approves.`,
      },
    },
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(
          `*${n}* · apps: ${apps} · oldest for ${Math.round(input.oldestSeconds)} s\n${input.query === null ? '_query text not shown_' : codeSpan(input.query, MODAL_QUERY_CHARS + 2)}`,
          LIMITS.sectionText,
        ),
      },
    },
  ];
  return incidentRequestModal({
    callbackId: VIEW.stormRequest,
    title: 'Cancel query storm',
    blocks,
    reasonPrompt: 'What is it doing to us, and why cancel these?',
    freezes:
      'The request freezes these sessions (each with the query it runs now); approval cancels exactly those, never a session that arrived later or a query started since.',
    incidentId: input.incidentId,
    channel: input.channel,
  });
}

/**
 * The form of a bulk request an alert offers (a storm's cancel, a connections relief): what it will do, a
 * reason, and what the request freezes. It carries only the incident and the channel: the sessions are read
 * by the server when the form is submitted.
 */
export function incidentRequestModal(form: {
  callbackId: string;
  title: string;
  blocks: KnownBlock[];
  reasonPrompt: string;
  freezes: string;
  incidentId: string;
  channel: string;
}): ModalView {
  return {
    type: 'modal',
    callback_id: form.callbackId,
    title: { type: 'plain_text', text: truncate(form.title, LIMITS.modalTitle) },
    submit: { type: 'plain_text', text: 'Request approval' },
    close: { type: 'plain_text', text: 'Close' },
    private_metadata: encodeStormMetadata({ incidentId: form.incidentId, channel: form.channel }),
    blocks: [
      ...form.blocks,
      reasonInput(form.reasonPrompt),
      { type: 'context', elements: [{ type: 'mrkdwn', text: form.freezes }] },
    ],
  };
}

// -------------------------------------------------------------------------------- outcome in words

/** One target's outcome in plain words (plain text: escape before putting it in mrkdwn). */
export function describeOutcome(o: TargetOutcome): string {
  switch (o.outcome) {
    case 'terminated':
      return 'terminated';
    case 'cancelled':
      return 'cancelled';
    case 'still_running':
      return o.message ?? 'still running after the signal';
    case 'gone':
      return o.message ?? 'no longer running or changed — nothing killed';
    case 'permission_denied':
      return `permission denied: ${o.message ?? 'the server refused'}`;
    case 'refused':
      return o.message ? `refused (protected): ${o.message}` : 'refused (protected)';
    case 'error':
      return `failed: ${o.message ?? 'unknown error'}`;
  }
}

/** The whole execution in one line of plain words (plain text). */
export function describeResult(result: ExecutionResult | null): string {
  if (result === null) return 'no result recorded';
  if (result.unreachable && result.trouble) return `${TROUBLE_HEADLINE[result.trouble]} — nothing (more) was signalled`;
  if (result.unreachable)
    return `cluster unreachable — nothing was signalled${result.message ? `: ${result.message}` : ''}`;
  const prefix = result.interrupted ? 'interrupted by a restart — reconciled, not re-run' : '';
  const outcomes = result.outcomes;
  let body: string;
  if (outcomes.length === 0) {
    body = result.message ?? (result.interrupted ? '' : 'nothing to do');
  } else if (outcomes.length === 1) {
    body = describeOutcome(outcomes[0] as TargetOutcome);
  } else {
    // Count by wording, first-seen order: "12 terminated, 2 no longer running or changed — nothing killed".
    const counts = new Map<string, number>();
    for (const o of outcomes) {
      const words =
        o.outcome === 'permission_denied' ? 'permission denied' : o.outcome === 'error' ? 'failed' : describeOutcome(o);
      counts.set(words, (counts.get(words) ?? 0) + 1);
    }
    body = [...counts].map(([words, n]) => `${n} ${words}`).join(', ');
  }
  return [prefix, body].filter((x) => x !== '').join(': ');
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
  const by = r.decidedBy === null ? 'someone' : userMention(r.decidedBy);
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

export function buildApprovalMessage(input: ApprovalMessageInput): RenderedMessage {
  const { request: r, now } = input;
  const title = requestTitle(r);
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: truncate(title, LIMITS.headerText) } },
  ];

  const meta = [
    `*Cluster:* ${inlineText(r.cluster, 200)} · *Requested by:* ${userMention(r.requester)}`,
    `*Reason:* ${r.reason.trim() === '' ? '_(none given)_' : safeText(r.reason, 1500)}`,
  ];
  if (r.action === 'terminate_all' && r.scope !== null) meta.push(`*Scope:* ${inlineText(scopeWords(r.scope), 300)}`);
  const pendingLive = r.status === 'pending' && !isExpired(r, now);
  if (pendingLive) meta.push(`*Expires:* ${dateOr(r.expiresAt, '{time}', 'unknown')}`);
  blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(meta.join('\n'), LIMITS.sectionText) } });

  if (r.action === 'drain') {
    blocks.push(...drainPlanBlocks(r));
  } else if (r.action === 'terminate_all' || r.action === 'cancel_all') {
    const verb = r.action === 'cancel_all' ? 'cancels the running queries of' : 'ends';
    if (r.targets.length === 0) {
      blocks.push({
        type: 'section',
        text: { type: 'mrkdwn', text: '_No sessions matched: there is nothing to end._' },
      });
    } else {
      blocks.push(...packLines(r.targets.slice(0, MAX_LISTED_TARGETS).map(compactTargetLine)));
      if (r.targets.length > MAX_LISTED_TARGETS) {
        blocks.push({
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `${r.targets.length - MAX_LISTED_TARGETS} more not shown. Approval ${verb} exactly the ${r.targets.length} sessions frozen in this request, never ones that arrived later${r.action === 'cancel_all' ? ' (nor a query started since)' : ''}.`,
            },
          ],
        });
      } else {
        blocks.push({
          type: 'context',
          elements: [
            {
              type: 'mrkdwn',
              text: `Approval ${verb} exactly these sessions, never ones that arrived later${r.action === 'cancel_all' ? ' (nor a query started since)' : ''}.`,
            },
          ],
        });
      }
    }
  } else {
    // One target; a defensive cap all the same.
    for (const s of r.targets.slice(0, 5)) {
      blocks.push({ type: 'section', text: { type: 'mrkdwn', text: snapshotText(s, MESSAGE_QUERY_CHARS) } });
    }
  }

  if (r.action === 'terminate_walsender') {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: WALSENDER_WARNING }] });
  }

  const status = statusLine(r, now);
  if (pendingLive) {
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
    blocks.push({ type: 'actions', block_id: BLOCK.decision, elements: decision });
    blocks.push({
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: 'Waiting for an approver other than the requester. The requester may withdraw.' },
      ],
    });
  } else if (status !== null) {
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: truncate(status, LIMITS.sectionText) }] });
  }
  if (r.action === 'drain') blocks.push(...drainStateBlocks(r));

  // Per-target outcomes when there were several (a single one is already in the status line).
  const outcomes = r.result?.outcomes ?? [];
  if (outcomes.length > 1) {
    const lines = outcomes
      .slice(0, MAX_LISTED_TARGETS)
      .map((o) => `• pid ${o.pid}: ${safeText(describeOutcome(o), 200)}`);
    blocks.push(...packLines(lines));
    if (outcomes.length > MAX_LISTED_TARGETS) {
      blocks.push({
        type: 'context',
        elements: [
          {
            type: 'mrkdwn',
            text: `${outcomes.length - MAX_LISTED_TARGETS} more outcomes not shown (all are in the audit log).`,
          },
        ],
      });
    }
  }

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

/** The request forms' required reason field (checked again by the app when submitted). */
function reasonInput(placeholder: string): KnownBlock {
  return {
    type: 'input',
    block_id: INPUT.reasonBlock,
    label: { type: 'plain_text', text: 'Reason' },
    hint: { type: 'plain_text', text: 'Shown to the approver and kept in the audit log.' },
    element: {
      type: 'plain_text_input',
      action_id: INPUT.reasonAction,
      multiline: true,
      min_length: 1,
      max_length: MAX_REASON_LENGTH,
      placeholder: { type: 'plain_text', text: placeholder },
    },
  };
}
