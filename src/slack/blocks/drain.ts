// A drain request's message (docs/drain.md): what approval will do, then — while the database is drained — an
// End drain now button, and once ended, how. Also the listing header's drained lines.
import type { KnownBlock } from '@slack/types';
import { drainedLine, drainPlan, type Drain } from '../../domain/drain.js';
import type { KillRequest } from '../../domain/types.js';
import { ACTION } from './ids.js';
import { inlineText, LIMITS, safeText, truncate, userMention, type RenderedMessage } from './mrkdwn.js';

export function drainTitle(r: KillRequest): string {
  return `Drain db ${r.scope?.database ?? '?'} for ${windowWords(r.escalateAfterSeconds ?? 0)}`;
}

function windowWords(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}

/** What approval will do: the plan, with the sessions it would end now by application and user. */
export function drainPlanBlocks(r: KillRequest): KnownBlock[] {
  const lines = drainPlan({
    database: r.scope?.database ?? '?',
    sessions: r.targets,
    windowSeconds: r.escalateAfterSeconds ?? 0,
  });
  return [{ type: 'section', text: { type: 'mrkdwn', text: truncate(safeText(lines.join('\n'), 2900), 3000) } }];
}

/** While drained: End drain now; once ended: how it ended. */
export function drainStateBlocks(r: KillRequest): KnownBlock[] {
  const d = r.result?.drain;
  if (!d || r.status !== 'executed') return [];
  if (d.ended) return [{ type: 'section', text: { type: 'mrkdwn', text: safeText(d.ended, 2000) } }];
  return [
    {
      type: 'actions',
      block_id: 'pgs_drain',
      elements: [
        {
          type: 'button',
          action_id: ACTION.drainEnd,
          text: { type: 'plain_text', text: 'End drain now' },
          style: 'danger',
          value: d.id,
        },
      ],
    },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `${inlineText(d.database, 80)} refuses new connections until ${safeText(d.endsAt.slice(0, 16).replace('T', ' '), 40)} UTC. The requester and the approvers may end it now.`,
        },
      ],
    },
  ];
}

/** The listing header's lines, one per live drain of the cluster(s) shown. */
export function drainedHeader(drains: Drain[], now: Date = new Date()): KnownBlock | null {
  if (drains.length === 0) return null;
  const lines = drains
    .slice(0, 10)
    .map((d) => `:construction: ${drainedLine({ ...d, database: inlineText(d.database, 80) }, userMention, now)}`);
  return { type: 'context', elements: [{ type: 'mrkdwn', text: truncate(lines.join('\n'), LIMITS.sectionText) }] };
}

/** Prepends the drained lines to a listing. */
export function withDrainedHeader(message: RenderedMessage, drains: Drain[]): RenderedMessage {
  const header = drainedHeader(drains);
  if (!header) return message;
  return { ...message, blocks: [header, ...message.blocks] };
}
