// Break-glass on screen (docs/approvals.md): the button and its deadline on a pending request, the confirmation
// form, what every approver reads once the glass is broken (with Reviewed), and the unreviewed uses `status` lists.
import type { Button, KnownBlock, ModalView } from '@slack/types';
import { BREAK_GLASS_WHY_MAX, utcClock, type BreakGlassUse } from '../../domain/break-glass.js';
import type { KillRequest } from '../../domain/types.js';
import { ACTION, INPUT, VIEW } from './ids.js';
import { LIMITS, inlineText, safeText, slackDate, truncate, userMention, type RenderedMessage } from './mrkdwn.js';

const context = (text: string): KnownBlock => ({ type: 'context', elements: [{ type: 'mrkdwn', text }] });

/** The Break glass button of a pending request (only its id travels). */
export function breakGlassButton(requestId: string): Button {
  return {
    type: 'button',
    action_id: ACTION.breakGlass,
    text: { type: 'plain_text', text: 'Break glass' },
    value: requestId,
  };
}

/** Under the decision buttons: from when the requester may act alone. */
export function breakGlassLine(opensAt: string): KnownBlock {
  return context(
    `If nobody decides by ${utcClock(opensAt)}, the requester may execute it alone (break-glass, reviewed afterwards).`,
  );
}

const WHAT: Record<string, string> = {
  cancel: 'cancel the query of',
  cancel_then_terminate: 'cancel (then terminate) the query of',
  cancel_all: 'cancel the queries of',
  terminate: 'terminate',
  terminate_all: 'terminate',
  terminate_walsender: 'end the walsender',
  drain: 'drain',
};

function pidsOf(request: Pick<KillRequest, 'targets'>): string {
  const pids = request.targets.slice(0, 10).map((t) => t.pid);
  return `pid ${pids.join(', ')}${request.targets.length > 10 ? '…' : ''}`;
}

/** The confirmation form: a clear warning, and the reason (required, at most 500 characters). */
export function breakGlassModal(request: KillRequest): ModalView {
  const what = `${WHAT[request.action] ?? request.action} ${pidsOf(request)} on *${inlineText(request.cluster, 200)}*`;
  return {
    type: 'modal',
    callback_id: VIEW.breakGlass,
    title: { type: 'plain_text', text: 'Break glass' },
    submit: { type: 'plain_text', text: 'Execute alone' },
    close: { type: 'plain_text', text: 'Close' },
    private_metadata: request.id,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: `:warning: *You are about to ${what} without a second person's approval.*\nNobody approved this request in time. Executing it alone is recorded as break-glass: every approver of this cluster is told at once, and it stays *awaiting review* until one of them reviews it.`,
        },
      },
      {
        type: 'input',
        block_id: INPUT.breakGlassBlock,
        label: { type: 'plain_text', text: 'Why can this not wait for an approver?' },
        element: {
          type: 'plain_text_input',
          action_id: INPUT.breakGlassAction,
          multiline: true,
          max_length: BREAK_GLASS_WHY_MAX,
        },
      },
      context('The sessions are re-checked as for any approval: if they ended or changed, nothing is killed.'),
    ],
  };
}

function useText(request: Pick<KillRequest, 'cluster' | 'action' | 'targets'> | null, use: BreakGlassUse): string {
  const what = request ? `${WHAT[use.action] ?? use.action} ${pidsOf(request)}` : (WHAT[use.action] ?? use.action);
  const when = slackDate(use.at, '{date_short_pretty} {time}') ?? inlineText(use.at, 64);
  return truncate(
    `:fire_extinguisher: *Break-glass:* ${userMention(use.requester)} executed alone — ${what} on *${inlineText(use.cluster, 200)}* — at ${when}, nobody having decided in time.\n*Why:* ${safeText(use.why, 600)}`,
    LIMITS.sectionText,
  );
}

/** What every approver (DM) and the request's thread read, with Reviewed while nobody reviewed it. */
export function breakGlassUsedMessage(request: KillRequest, use: BreakGlassUse): RenderedMessage {
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: useText(request, use) } },
    {
      type: 'actions',
      elements: [
        {
          type: 'button',
          action_id: ACTION.breakGlassReviewed,
          text: { type: 'plain_text', text: 'Reviewed' },
          style: 'primary',
          value: request.id,
        },
      ],
    },
    context(
      `Awaiting review by an approver other than ${userMention(use.requester)} (audit #${use.seq}). The outcome is on the request's message.`,
    ),
  ];
  return {
    text: truncate(
      `Break-glass: ${userMention(use.requester)} executed a request alone on ${inlineText(use.cluster, 200)}: awaiting review`,
      LIMITS.fallbackText,
    ),
    blocks,
  };
}

/** The same, once reviewed: no button left. */
export function breakGlassReviewedMessage(
  request: KillRequest | null,
  use: BreakGlassUse,
  reviewer: string,
): RenderedMessage {
  return {
    text: truncate(`Break-glass use on ${inlineText(use.cluster, 200)} reviewed by ${userMention(reviewer)}`, 300),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text: useText(request, use) } },
      context(`:eyes: Reviewed by ${userMention(reviewer)} (audit #${use.seq}).`),
    ],
  };
}

/** `/pgsessions status`: every break-glass use nobody reviewed yet (on the clusters shown), after the usage. */
export function withUnreviewed(message: RenderedMessage, uses: BreakGlassUse[] | null): RenderedMessage {
  // The state database did not answer (full, failing over): the rest of `status` is still worth having.
  if (uses === null) {
    const note: KnownBlock = {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: 'Break-glass uses awaiting review could not be read now (the state database did not answer).',
        },
      ],
    };
    return { ...message, blocks: [...message.blocks, note].slice(0, LIMITS.blocksPerMessage) };
  }
  if (uses.length === 0) return message;
  const lines = uses.slice(0, 20).map((u) => {
    const when = slackDate(u.at, '{date_short_pretty} {time}') ?? inlineText(u.at, 64);
    return `• *${inlineText(u.cluster, 100)}* · ${userMention(u.requester)} · ${WHAT[u.action] ?? inlineText(u.action, 40)} · ${when} · ${safeText(u.why, 200)}`;
  });
  const more = uses.length > 20 ? `\n${uses.length - 20} more (all are in the audit log).` : '';
  const section: KnownBlock = {
    type: 'section',
    text: {
      type: 'mrkdwn',
      text: truncate(
        `:fire_extinguisher: *Break-glass uses awaiting review — ${uses.length}*\n${lines.join('\n')}${more}`,
        LIMITS.sectionText,
      ),
    },
  };
  // Before the per-cluster sections, which are cut first when there are too many.
  const blocks = [...message.blocks.slice(0, 2), section, ...message.blocks.slice(2)].slice(0, LIMITS.blocksPerMessage);
  return {
    text: truncate(`${message.text} Break-glass uses awaiting review: ${uses.length}.`, LIMITS.fallbackText),
    blocks,
  };
}
