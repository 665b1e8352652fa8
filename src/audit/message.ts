// One audit entry as a message in the audit channel: event, cluster, pids, users, requester, approver,
// reason and outcome, in one readable line, plus a context line with the entry's sequence number and full
// hash — the outside witness that `npm run audit:verify -- --against-slack` reads back.
import type { AuditDetailsByEvent, AuditEntry, AuditEvent, BriefTarget } from '../domain/audit.js';
import { WITNESS_BLOCK_ID, witnessText } from '../domain/audit-witness.js';
import { shapeQueryText, type QueryTextMode } from '../domain/policy.js';
import type { Action, ExecutionResult, TargetSnapshot } from '../domain/types.js';
import { describeResult } from '../slack/blocks/outcome.js';
import {
  LIMITS,
  codeSpan,
  inlineText,
  safeText,
  truncate,
  userMention,
  type RenderedMessage,
} from '../slack/blocks/mrkdwn.js';
import { describeClusterChange } from '../domain/cluster-set.js';

const ICON: Record<AuditEvent, string> = {
  requested: ':raising_hand:',
  approved: ':white_check_mark:',
  denied: ':no_entry_sign:',
  withdrawn: ':leftwards_arrow_with_hook:',
  expired: ':hourglass:',
  executing: ':gear:',
  executed: ':skull:',
  failed: ':x:',
  chain_keyed: ':key:',
  refused: ':no_entry:',
  snoozed: ':zzz:',
  rule_proposed: ':scroll:',
  rule_approved: ':white_check_mark:',
  rule_denied: ':no_entry_sign:',
  rule_withdrawn: ':leftwards_arrow_with_hook:',
  rule_revoked: ':octagonal_sign:',
  rule_ended: ':hourglass:',
  rule_executed: ':robot_face:',
  tampering_detected: ':rotating_light:',
  clusters_reloaded: ':arrows_counterclockwise:',
  drained: ':construction:',
  drain_ended: ':unlock:',
  approval_recorded: ':ballot_box_with_check:',
  rule_approval_recorded: ':ballot_box_with_check:',
  escalated: ':mega:',
  break_glass: ':fire_extinguisher:',
  break_glass_reviewed: ':eyes:',
};

interface Shown {
  action?: Action;
  requester?: string;
  approver?: string | null;
  reason?: string;
  targets: Array<BriefTarget | TargetSnapshot>;
  result?: ExecutionResult;
  why?: string;
}

/** A tampering alarm: what was refused, where, and what the forged row claimed. */
function tamperingShown(d: AuditDetailsByEvent['tampering_detected']): Shown {
  const c = d.claims;
  const pids = Array.isArray(c.targets) && c.targets.length > 0 ? `, pids ${c.targets.slice(0, 20).join(', ')}` : '';
  return {
    requester: c.requester ?? undefined,
    approver: c.approver,
    targets: [],
    why: `TAMPERING: ${d.subject} ${d.id} refused at ${d.stage}, nothing signalled — ${d.reason}. The row claims: ${c.what ?? '—'}${pids}`,
  };
}

/** Approval routing's entries (docs/approvals.md): quorum progress, escalation, break-glass and its review. */
function routingShown(
  entry: AuditEntry & {
    event: 'approval_recorded' | 'rule_approval_recorded' | 'escalated' | 'break_glass' | 'break_glass_reviewed';
  },
): Shown {
  switch (entry.event) {
    case 'approval_recorded': {
      const { approvals, needed, approver, ...rest } = entry.details;
      return { ...rest, approver, why: `${approvals.length} of ${needed} approvals` };
    }
    case 'rule_approval_recorded': {
      const d = entry.details;
      return {
        requester: d.proposer,
        approver: d.approver,
        reason: d.reason,
        targets: [],
        why: `rule ${d.rule}: ${d.approvals.length} of ${d.needed} approvals: ${d.words}`,
      };
    }
    case 'escalated': {
      const d = entry.details;
      return {
        requester: d.requester,
        targets: [],
        why: `${d.subject} ${d.id} (${d.what}) undecided after ${d.afterSeconds} s: escalated (tier ${d.tier}) to ${d.to.map((p) => (p.startsWith('S') ? `group ${p}` : p)).join(', ')}`,
      };
    }
    case 'break_glass': {
      const { why, waitedSeconds, review, ...rest } = entry.details;
      return {
        ...rest,
        why: `BREAK-GLASS: executed by the requester alone after ${waitedSeconds} s without a decision (${review} review): ${why}`,
      };
    }
    case 'break_glass_reviewed': {
      const { reviewer, breakGlassSeq, ...rest } = entry.details;
      return { ...rest, approver: reviewer, why: `break-glass use (audit #${breakGlassSeq}) reviewed` };
    }
  }
}

/** What each event's details say, in the few terms the message shows. */
function shownOf(entry: AuditEntry): Shown {
  switch (entry.event) {
    case 'requested':
    case 'approved':
    case 'denied':
    case 'withdrawn':
    case 'executing':
    case 'executed':
    case 'failed':
      return { ...entry.details };
    case 'expired': {
      const { why, ...rest } = entry.details;
      return { ...rest, why: why === 'cluster_removed' ? 'its cluster was removed from the clusters file' : undefined };
    }
    case 'refused':
      return { targets: [], why: entry.details.why };
    case 'clusters_reloaded':
      return {
        targets: [],
        why: `clusters file reloaded by ${entry.details.replica}: ${describeClusterChange(entry.details)}`,
      };
    case 'chain_keyed':
      return {
        targets: [],
        why: `from here on each entry is HMAC-SHA256 under PGSESSIONS_AUDIT_KEY (key id ${entry.details.keyId})`,
      };
    case 'snoozed':
      return {
        targets: [],
        why: `alert ${entry.details.cause} snoozed for ${entry.details.minutes} min (incident ${entry.details.incident})`,
      };
    case 'rule_proposed':
    case 'rule_approved':
    case 'rule_denied':
    case 'rule_withdrawn':
    case 'rule_revoked':
    case 'rule_ended': {
      const d = entry.details;
      const approver = 'approver' in d ? d.approver : null;
      const ended = 'why' in d ? ` (${d.why})` : '';
      return {
        requester: d.proposer,
        approver,
        reason: d.reason,
        targets: [],
        why: `rule ${d.rule}${ended}: ${d.words}`,
      };
    }
    case 'tampering_detected':
      return tamperingShown(entry.details);
    case 'drained':
    case 'drain_ended': {
      const d = entry.details;
      const what =
        entry.event === 'drained'
          ? `${d.database} drained until ${d.endsAt} (${d.method}); ${entry.details.ended} sessions ended, ${entry.details.left} left`
          : `drain of ${d.database} ended (${entry.details.why}): ${entry.details.outcome}`;
      return { requester: d.requester, approver: d.approver, targets: [], why: what };
    }
    case 'approval_recorded':
    case 'rule_approval_recorded':
    case 'escalated':
    case 'break_glass':
    case 'break_glass_reviewed':
      return routingShown(entry);
    case 'rule_executed': {
      const d = entry.details;
      return {
        requester: d.proposer,
        approver: d.approver,
        reason: d.reason,
        targets: [d.target],
        result: d.result,
        why: `${d.dryRun ? 'dry run — would have executed' : 'executed'} under rule ${d.rule} (proposed by ${d.proposer}, approved by ${d.approver ?? '—'}), ${d.used} used: ${d.words}`,
      };
    }
  }
}

/** queryText: the entry keeps what was stored; the post shows no more than PGSESSIONS_QUERY_TEXT allows today. */
export function buildAuditMessage(entry: AuditEntry, opts: { queryText?: QueryTextMode } = {}): RenderedMessage {
  const d = shownOf(entry);
  const parts: string[] = [`${ICON[entry.event] ?? ':memo:'} *${entry.event}*`];
  if (entry.cluster) parts.push(`cluster \`${inlineText(entry.cluster, 100)}\``);
  if (d.action) parts.push(`action ${inlineText(d.action, 40)}`);
  if (entry.actor) parts.push(`by ${userMention(entry.actor)}`);
  if (d.requester && d.requester !== entry.actor) parts.push(`requester ${userMention(d.requester)}`);
  if (d.approver && d.approver !== entry.actor) parts.push(`approver ${userMention(d.approver)}`);
  const lines = [parts.join(' · ')];
  const targets = Array.isArray(d.targets) ? d.targets : [];
  for (const t of targets.slice(0, 10)) {
    const query =
      'query' in t && typeof t.query === 'string' ? shapeQueryText(t.query, opts.queryText ?? 'full') : null;
    lines.push(
      `pid ${t.pid} · user ${inlineText(t.user ?? '—', 64)} · db ${inlineText(t.database ?? '—', 64)} · app ${inlineText(t.application ?? '—', 64)}` +
        (query ? ` · ${codeSpan(query, 300)}` : ''),
    );
  }
  if (targets.length > 10) lines.push(`… and ${targets.length - 10} more sessions`);
  if (d.reason) lines.push(`reason: ${safeText(d.reason, 500)}`);
  // The outcome can carry the server's own words (permission denied: …): escaped like everything else.
  if (d.result && Array.isArray(d.result.outcomes)) lines.push(`outcome: ${safeText(describeResult(d.result), 1000)}`);
  if (typeof d.why === 'string') lines.push(`why: ${safeText(d.why, 600)}`);
  const text = truncate(lines.join('\n'), LIMITS.sectionText);
  return {
    text: truncate(
      `${entry.event}${entry.cluster ? ` on ${entry.cluster}` : ''}${entry.requestId ? ` (request ${entry.requestId})` : ''}`,
      3000,
    ),
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'context',
        block_id: WITNESS_BLOCK_ID,
        // The witness (`audit #N · alg:hash`) is this element's whole text: the verifier parses it back from here only.
        elements: [{ type: 'mrkdwn', text: `${witnessText(entry)} · ${entry.at} · request ${entry.requestId ?? '—'}` }],
      },
    ],
  };
}
