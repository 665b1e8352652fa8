// Standing approvals on screen: the proposal message (in every status, updated in place with its
// executions, with what it would match right now when proposed) and the `/pgsessions rules` list. Pure renderers.
import type { KnownBlock } from '@slack/types';
import { clock, describeRule, ruleText, type Rule } from '../../domain/rules.js';
import type { RulePreview, Revoked } from '../../domain/rule-service.js';
import { shapeQueryText, type QueryTextMode } from '../../domain/policy.js';
import { ACTION } from './ids.js';
import { approvedBy, quorumLines, quorumOf } from '../../domain/rule-quorum.js';
import { RULE_QUORUM_WORDS } from '../../domain/messages.js';
import { LIMITS, codeSpan, inlineText, safeText, truncate, userMention, type RenderedMessage } from './mrkdwn.js';

const PREVIEW_MAX = 10;

const STATUS_LINE: Record<Rule['status'], string> = {
  proposed: ':raising_hand: *Standing approval proposed* — waiting for a second person',
  approved: ':white_check_mark: *Standing approval active*',
  denied: ':no_entry_sign: *Standing approval denied*',
  withdrawn: ':leftwards_arrow_with_hook: *Standing approval withdrawn*',
  revoked: ':octagonal_sign: *Standing approval revoked*',
  expired: ':hourglass: *Standing approval ended: its time is up*',
  exhausted: ':checkered_flag: *Standing approval ended: its cap is reached*',
};

/** A proposal that needs more than one approver (docs/approvals.md "Quorum for rules"). */
const STATUS_LINE_QUORUM = ':raising_hand: *Standing approval proposed* — waiting for its approvers';

/** How an execution's outcome reads after "last at …": nothing for one still in flight. */
const OUTCOME_WORDS: Record<string, string> = {
  claimed: '',
  dry_run: 'dry run: nothing signalled',
  interrupted: 'interrupted by a restart: reconciled, not re-run',
  gone: 'gone before the signal: not counted',
  refused: 'protected: not counted',
  permission_denied: 'permission denied: not counted',
};

/**
 * "3 of 10 used, last at 13:02 UTC — pid 4711, `ALTER TABLE orders …` (cancelled)"; a dry run counts what it
 * would have used ("would have used 3 of 10").
 */
export function usageLine(rule: Rule, queryText: QueryTextMode = 'full'): string {
  const of = `${rule.used} of ${rule.spec.maxExecutions}`;
  const used = rule.spec.dryRun ? `would have used ${of}` : `${of} used`;
  if (!rule.last) return used;
  // Stored as shaped when it ran; shown as PGSESSIONS_QUERY_TEXT allows today (lowered since: less is shown).
  const shown = rule.last.query === null ? null : shapeQueryText(rule.last.query, queryText);
  const query = shown ? `, ${codeSpan(shown, 120)}` : '';
  const words = OUTCOME_WORDS[rule.last.outcome] ?? rule.last.outcome.replace(/_/g, ' ');
  const outcome = words === '' ? '' : ` (${inlineText(words, 60)})`;
  return `${used}, last at ${clock(rule.last.at)} — pid ${rule.last.pid}${query}${outcome}`;
}

const DOES: Record<'cancel' | 'terminate', string> = { cancel: 'would cancel', terminate: 'would terminate' };

/** "Would match right now": per match what the rule would do, or that it never touches it; or why it is unknown. */
export function previewLines(preview: RulePreview): string {
  if (!preview.ok)
    return `*Would match right now:* could not be read (${inlineText(preview.refusal.message, 200)}). The rule is proposed all the same.`;
  const matches = preview.value;
  if (matches.length === 0) return '*Would match right now:* nothing on the cluster.';
  const lines = matches.slice(0, PREVIEW_MAX).map(({ incident: i, verdict, why }) => {
    const r = i.root!;
    const what =
      verdict === 'protected'
        ? `never touched: protected — ${inlineText(why ?? '', 120)}; pid ${r.pid}`
        : `${DOES[verdict]} pid ${r.pid}`;
    const waiting = i.cause === 'lock-queue-head' || i.cause === 'root-blocker' ? ` · ${i.waiting} waiting` : '';
    return `• ${what} · app ${inlineText(r.application ?? '—', 64)} · user ${inlineText(r.user ?? '—', 64)}${waiting}${r.query ? ` · ${codeSpan(r.query, 200)}` : ''}`;
  });
  if (matches.length > PREVIEW_MAX) lines.push(`… and ${matches.length - PREVIEW_MAX} more`);
  return truncate(`*Would match right now (${matches.length}):*\n${lines.join('\n')}`, LIMITS.sectionText);
}

export function buildRuleMessage(
  rule: Rule,
  opts: { preview?: RulePreview; queryText?: QueryTextMode } = {},
): RenderedMessage {
  const words = describeRule(rule.spec, rule.expiresAt);
  const head = [
    `${rule.status === 'proposed' && quorumOf(rule) > 1 ? STATUS_LINE_QUORUM : STATUS_LINE[rule.status]} on \`${inlineText(rule.cluster, 63)}\`${rule.spec.dryRun ? ' · *dry run*' : ''}`,
    `${userMention(rule.proposer)} proposes: *${safeText(words, 1200)}*`,
    `\`/pgsessions allow ${inlineText(ruleText(rule.spec), 400)}\``,
    `reason: ${safeText(rule.spec.reason, 500)}`,
  ];
  head.push(...quorumLines(rule, userMention));
  if (rule.approver) head.push(`approved by ${approvedBy(rule).map(userMention).join(', ')}`);
  if (rule.endedBy && rule.status !== 'approved') head.push(`${rule.status} by ${userMention(rule.endedBy)}`);
  if (rule.status === 'proposed')
    head.push(`the proposal expires at ${clock(rule.proposalExpiresAt)} if nobody decides`);
  if (rule.status !== 'proposed' && rule.status !== 'denied' && rule.status !== 'withdrawn')
    head.push(usageLine(rule, opts.queryText));
  const blocks: KnownBlock[] = [
    { type: 'section', text: { type: 'mrkdwn', text: truncate(head.join('\n'), LIMITS.sectionText) } },
  ];
  if (opts.preview) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: previewLines(opts.preview) } });
  const buttons = [];
  if (rule.status === 'proposed') {
    buttons.push(
      {
        type: 'button' as const,
        action_id: ACTION.ruleApprove,
        style: 'primary' as const,
        text: { type: 'plain_text' as const, text: 'Approve rule' },
        value: rule.id,
      },
      {
        type: 'button' as const,
        action_id: ACTION.ruleDeny,
        style: 'danger' as const,
        text: { type: 'plain_text' as const, text: 'Deny' },
        value: rule.id,
      },
      {
        type: 'button' as const,
        action_id: ACTION.ruleWithdraw,
        text: { type: 'plain_text' as const, text: 'Withdraw' },
        value: rule.id,
      },
    );
  }
  if (rule.status === 'approved') {
    buttons.push({
      type: 'button' as const,
      action_id: ACTION.ruleRevoke,
      style: 'danger' as const,
      text: { type: 'plain_text' as const, text: 'Revoke' },
      value: rule.id,
    });
  }
  if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `rule ${rule.id}` }] });
  return { text: truncate(`Standing approval ${rule.status} on ${rule.cluster}: ${words}`, 3000), blocks };
}

export function buildRulesList(rules: Rule[]): RenderedMessage {
  if (rules.length === 0)
    return {
      text: 'No active or proposed rules.',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'No active or proposed standing approvals.' } }],
    };
  const blocks: KnownBlock[] = [
    { type: 'header', text: { type: 'plain_text', text: `Standing approvals (${rules.length})` } },
  ];
  for (const rule of rules.slice(0, 20)) {
    const text = truncate(
      `*${rule.status === 'approved' ? 'active' : rule.status}* on \`${inlineText(rule.cluster, 63)}\` · ${safeText(describeRule(rule.spec, rule.expiresAt), 800)}\n` +
        `proposed by ${userMention(rule.proposer)}${rule.approver ? `, approved by ${approvedBy(rule).map(userMention).join(', ')}` : ''} · ${[...quorumLines(rule, userMention), usageLine(rule)].join(' · ')}`,
      LIMITS.sectionText,
    );
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text },
      accessory: {
        type: 'button',
        action_id: ACTION.ruleRevoke,
        style: 'danger',
        text: { type: 'plain_text', text: 'Revoke' },
        value: rule.id,
      },
    });
  }
  if (rules.length > 20)
    blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${rules.length - 20} more` }] });
  return { text: `${rules.length} standing approvals`, blocks };
}

const times = (n: number): string => `${n} time${n === 1 ? '' : 's'}`;

/**
 * The thread reply that tells the proposer what became of their rule (approved, denied, revoked, expired,
 * exhausted); null when there is nothing to tell (a proposal they withdrew themselves, or still live).
 */
export function ruleNotice(rule: Rule): string | null {
  const to = userMention(rule.proposer);
  const by = rule.endedBy ? userMention(rule.endedBy) : 'someone';
  const used = `it executed ${rule.used} of at most ${times(rule.spec.maxExecutions)}`;
  switch (rule.status) {
    case 'approved':
      return `${to} your rule was approved by ${rule.approver ? approvedBy(rule).map(userMention).join(', ') : 'someone'}: it is active until ${rule.expiresAt ? clock(rule.expiresAt) : 'its lifetime ends'}, at most ${times(rule.spec.maxExecutions)}.`;
    case 'denied':
      return `${to} your rule was denied by ${by}. It will not execute.`;
    case 'revoked':
      return rule.approver
        ? `${to} your rule was revoked by ${by}: ${used}, and executes no more.`
        : `${to} your proposal was revoked by ${by} before anyone approved it. It will not execute.`;
    case 'expired':
      return rule.approver
        ? `${to} your rule's time is up${rule.expiresAt ? ` (${clock(rule.expiresAt)})` : ''}: ${used}, and executes no more.`
        : `${to} your proposal expired: ${(rule.approvers ?? []).length > 0 && quorumOf(rule) > 1 ? `it had ${RULE_QUORUM_WORDS.progress((rule.approvers ?? []).length, quorumOf(rule), (rule.approvers ?? []).map(userMention).join(', '))}, not enough in time` : 'nobody decided it in time'}. It will not execute; propose it again if it is still wanted.`;
    case 'exhausted':
      return `${to} your rule reached its cap: it executed ${rule.used} of ${times(rule.spec.maxExecutions)}, and executes no more.`;
    default:
      return null;
  }
}

/** What the person who pressed Revoke is told, once nothing of the rule is under way any more (or the wait ran out). */
export function revokedReply(revoked: Revoked): string {
  const lines = ['Rule revoked: it executes no more (audited).'];
  const done = revoked.inFlight.filter((e) => e.outcome !== null);
  const open = revoked.inFlight.filter((e) => e.outcome === null);
  const n = (k: number) => `${k} execution${k === 1 ? '' : 's'} begun before the revoke`;
  if (done.length > 0) {
    lines.push(
      `${n(done.length)} finished: ${done.map((e) => `pid ${e.pid} ${inlineText(e.outcome!.replace(/_/g, ' '), 40)}`).join(', ')}.`,
    );
  }
  if (open.length > 0) {
    lines.push(
      `${n(open.length)} had not finished when this answer was sent: ${open.map((e) => `pid ${e.pid}`).join(', ')} — its outcome is not known yet; it will show on the rule's message and in the audit trail.`,
    );
  }
  return lines.join('\n');
}
