// "Request terminate of the N idle sessions of app X…" on a connections alert: the form. It names the
// application and the counts the watcher saw; the only choices are the reason and whether to include the
// sessions running a statement. The sessions themselves are read by the server when it is submitted.
import type { KnownBlock, ModalView } from '@slack/types';
import type { ConnectionRelief } from '../../domain/watch.js';
import { INPUT, VIEW } from './ids.js';
import { inlineText, LIMITS, truncate } from './mrkdwn.js';
import { incidentRequestModal } from './request-form.js';

/** The one option of the widening checkbox. */
export const INCLUDE_ACTIVE = 'include_active';

export interface ReliefModalInput {
  cluster: string;
  incidentId: string;
  channel: string;
  relief: ConnectionRelief;
}

const sessions = (n: number) => `${n} ${n === 1 ? 'session' : 'sessions'}`;

export function buildReliefModal(input: ReliefModalInput): ModalView {
  const { relief } = input;
  const app =
    relief.application === '' ? 'with no application name' : `of app *${inlineText(relief.application, 100)}*`;
  const blocks: KnownBlock[] = [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(
          `Ask to *terminate the ${sessions(relief.idle)} ${app}* that sit idle (or idle in a transaction) on *${inlineText(input.cluster, 200)}*, to give the cluster its connections back. Nothing happens until a second person approves.`,
          LIMITS.sectionText,
        ),
      },
    },
    {
      type: 'input',
      block_id: INPUT.includeActiveBlock,
      optional: true,
      label: { type: 'plain_text', text: 'Widen' },
      element: {
        type: 'checkboxes',
        action_id: INPUT.includeActiveAction,
        options: [
          {
            text: { type: 'plain_text', text: truncate(`Also its ${sessions(relief.active)} running a statement`, 75) },
            value: INCLUDE_ACTIVE,
          },
        ],
      },
    },
  ];
  return incidentRequestModal({
    callbackId: VIEW.reliefRequest,
    title: 'Relieve connections',
    blocks,
    reasonPrompt: 'What is it doing to us, and why end these?',
    freezes:
      'The request freezes the sessions that were connected when the watcher last looked and are idle now (each by pid and start time); approval ends exactly those, never a session that connected later. Protected roles and applications and pgsessions itself are never included.',
    incidentId: input.incidentId,
    channel: input.channel,
  });
}
