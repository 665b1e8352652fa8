// The forms a requester fills in: a row's request (one session, with the escalation choice for a cancel)
// and the bulk forms an alert offers (a storm's cancel, a connections relief). Each asks for a reason.
import type { KnownBlock, ModalView, PlainTextOption } from '@slack/types';
import type { TargetSnapshot } from '../../domain/types.js';
import {
  ESCALATE_CHOICE,
  INPUT,
  MODAL_ESCALATE_SECONDS,
  VIEW,
  encodeModalMetadata,
  encodeStormMetadata,
  type ButtonTarget,
} from './ids.js';
import { LIMITS, codeSpan, inlineText, truncate } from './mrkdwn.js';
import { WALSENDER_WARNING } from './replication.js';
import { name, snapshotText } from './request.js';

export const MAX_REASON_LENGTH = 500;

const MODAL_QUERY_CHARS = 1500;

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
