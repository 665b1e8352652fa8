// One audit entry as a message in the audit channel: event, cluster, pids, users, requester, approver,
// reason and outcome, in one readable line plus a context line with the entry's sequence and hash.
import type { AuditEntry } from '../../domain/audit.js';
import type { ExecutionResult, TargetSnapshot } from '../../domain/types.js';
import { describeResult } from './request.js';
import { LIMITS, codeSpan, escapeTruncate, truncate, userMention, type RenderedMessage } from './mrkdwn.js';

const ICON: Record<string, string> = {
  requested: ':raising_hand:',
  approved: ':white_check_mark:',
  denied: ':no_entry_sign:',
  withdrawn: ':leftwards_arrow_with_hook:',
  expired: ':hourglass:',
  executing: ':gear:',
  executed: ':skull:',
  failed: ':x:',
  reconciled: ':recycle:',
  refused: ':no_entry:',
  snoozed: ':zzz:',
};

function targetsOf(details: Record<string, unknown>): TargetSnapshot[] {
  const request = details.request as { targets?: TargetSnapshot[] } | undefined;
  const targets = (details.targets as unknown) ?? request?.targets;
  return Array.isArray(targets) ? (targets.filter((t) => typeof t === 'object' && t !== null) as TargetSnapshot[]) : [];
}

export function buildAuditMessage(entry: AuditEntry): RenderedMessage {
  const d = entry.details;
  const request = (d.request ?? {}) as { action?: string; reason?: string; requester?: string; decidedBy?: string };
  const parts: string[] = [`${ICON[entry.event] ?? ':memo:'} *${entry.event}*`];
  if (entry.cluster) parts.push(`cluster \`${escapeTruncate(entry.cluster, 100)}\``);
  const action = (d.action as string | undefined) ?? request.action;
  if (action) parts.push(`action ${action}`);
  if (entry.actor) parts.push(`by ${userMention(entry.actor)}`);
  const requester = (d.requester as string | undefined) ?? request.requester;
  if (requester && requester !== entry.actor) parts.push(`requester ${userMention(requester)}`);
  const approver = (d.approver as string | undefined) ?? request.decidedBy;
  if (approver && approver !== entry.actor) parts.push(`approver ${userMention(approver)}`);
  const lines = [parts.join(' · ')];
  const targets = targetsOf(d);
  for (const t of targets.slice(0, 10)) {
    lines.push(
      `pid ${t.pid} · user ${escapeTruncate(t.user ?? '—', 64)} · db ${escapeTruncate(t.database ?? '—', 64)} · app ${escapeTruncate(t.application ?? '—', 64)}` +
        (t.query ? ` · ${codeSpan(t.query, 300)}` : ''),
    );
  }
  if (targets.length > 10) lines.push(`… and ${targets.length - 10} more sessions`);
  const reason = (d.reason as string | undefined) ?? request.reason;
  if (reason) lines.push(`reason: ${escapeTruncate(reason, 500)}`);
  const result = d.result as ExecutionResult | undefined;
  if (result && Array.isArray(result.outcomes)) lines.push(`outcome: ${describeResult(result)}`);
  if (typeof d.why === 'string') lines.push(`why: ${escapeTruncate(d.why, 200)}`);
  // A watch alert snoozed: which incident, for how long.
  if (typeof d.incident === 'string') lines.push(`incident ${escapeTruncate(d.incident, 300)}${typeof d.minutes === 'number' ? ` for ${d.minutes} min` : ''}`);
  const text = truncate(lines.join('\n'), LIMITS.sectionText);
  return {
    text: truncate(`${entry.event}${entry.cluster ? ` on ${entry.cluster}` : ''}${entry.requestId ? ` (request ${entry.requestId})` : ''}`, 3000),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'context',
        elements: [{ type: 'mrkdwn', text: `audit #${entry.seq} · ${entry.at} · request ${entry.requestId ?? '—'} · hash \`${entry.hash.slice(0, 16)}\`` }],
      },
    ],
  };
}
