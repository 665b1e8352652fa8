// What a listing says of a watched cluster that is a standby: one line for the header (replaying, how far
// behind) and the processes the standby depends on (WAL replay, the WAL receiver) as rows without buttons.
// Pure: data in, text and Block Kit out.
import type { ContextBlock, SectionBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import type { RecoveryProcess, RecoveryState } from '../../domain/types.js';
import { LIMITS, inlineText, truncate } from './mrkdwn.js';
import { formatBytes } from './replication.js';

/** A standby has one startup process and at most one walreceiver: anything past this is not shown. */
const MAX_PROCESSES = 4;

export const RECOVERY_NOTE = 'The standby depends on these: no buttons, pgsessions never signals them.';

/** How far replay is: `replaying, 3s behind`, `replay paused, 2m 10s behind`, `replaying, caught up (…)`. */
function replay(r: RecoveryState): string {
  const verb = r.paused ? 'replay paused' : 'replaying';
  if (r.lastReplaySeconds === null) return `${verb}, no transaction replayed since start-up`;
  const age = formatDuration(r.lastReplaySeconds);
  // Nothing received is waiting: the last replayed commit's age is how long the primary has been quiet, not lag.
  if (r.bytesBehind === 0) return `${verb}, caught up with the WAL received (last replayed commit ${age} ago)`;
  return `${verb}, ${age} behind`;
}

function receiver(r: RecoveryState): string | null {
  if (r.receiver === null) return 'no WAL receiver: not streaming from a primary';
  if (r.receiver === 'streaming' || r.receiver === 'unknown') return null;
  return `WAL receiver ${inlineText(r.receiver, 40)}`;
}

/** The header's line for a standby: `standby · replaying, 3s behind · 12 kB received, not yet replayed`. */
export function recoveryHeadline(r: RecoveryState): string {
  const parts = ['standby', replay(r)];
  if (r.bytesBehind !== null && r.bytesBehind > 0)
    parts.push(`${formatBytes(r.bytesBehind)} received, not yet replayed`);
  const rx = receiver(r);
  if (rx) parts.push(rx);
  return parts.join(' · ');
}

const ROLE: Record<RecoveryProcess['backendType'], string> = {
  startup: 'startup (WAL replay)',
  walreceiver: 'walreceiver (WAL receiver)',
};

/** One recovery process as a listing row: what it is, for how long, what it waits on. */
export function recoveryProcessText(p: RecoveryProcess): string {
  const facts = [`*pid ${p.pid}* · ${ROLE[p.backendType]}`];
  if (p.ageSeconds !== null) facts.push(`running for ${formatDuration(p.ageSeconds)}`);
  if (p.waitEventType !== null || p.waitEvent !== null) {
    facts.push(`waiting on ${inlineText(p.waitEventType ?? '—', 40)}:${inlineText(p.waitEvent ?? '—', 80)}`);
  }
  return truncate(facts.join(' · '), LIMITS.sectionText);
}

/**
 * The standby's header line, then a small "Recovery" part: one section per process, and never an actions
 * block — these rows carry no button and no target a click could name.
 */
export function recoveryBlocks(r: RecoveryState): Array<ContextBlock | SectionBlock> {
  const blocks: Array<ContextBlock | SectionBlock> = [
    {
      type: 'context',
      elements: [
        { type: 'mrkdwn', text: truncate(`:arrows_counterclockwise: *${recoveryHeadline(r)}*`, LIMITS.sectionText) },
      ],
    },
  ];
  const shown = r.processes.slice(0, MAX_PROCESSES);
  if (shown.length === 0) return blocks;
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `*Recovery* — ${RECOVERY_NOTE}` }] });
  for (const p of shown) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: recoveryProcessText(p) } });
  return blocks;
}
