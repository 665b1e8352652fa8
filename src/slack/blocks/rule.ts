// Standing approvals on screen: the proposal message (in every status, updated in place with its
// executions, with what it would match right now when proposed) and the `/pgsessions rules` list. Pure renderers.
import type { KnownBlock } from '@slack/types';
import { clock, describeRule, ruleText, type Rule } from '../../domain/rules.js';
import type { RulePreview } from '../../domain/rules-service.js';
import { ACTION } from '../ids.js';
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

/** "3 of 10 used, last at 13:02 UTC — pid 4711, `ALTER TABLE orders …`" */
export function usageLine(rule: Rule): string {
  const used = `${rule.used} of ${rule.spec.maxExecutions} used`;
  if (!rule.last) return used;
  const query = rule.last.query ? `, ${codeSpan(rule.last.query, 120)}` : '';
  const outcome = rule.last.outcome === 'claimed' ? '' : ` (${inlineText(rule.last.outcome.replace(/_/g, ' '), 40)})`;
  return `${used}, last at ${clock(rule.last.at)} — pid ${rule.last.pid}${query}${outcome}`;
}

const DOES: Record<'cancel' | 'terminate', string> = { cancel: 'would cancel', terminate: 'would terminate' };

/** "Would match right now": per match what the rule would do, or that it never touches it; or why it is unknown. */
export function previewLines(preview: RulePreview): string {
  if (!preview.ok) return `*Would match right now:* could not be read (${inlineText(preview.reason, 200)}). The rule is proposed all the same.`;
  const { matches } = preview;
  if (matches.length === 0) return '*Would match right now:* nothing on the cluster.';
  const lines = matches.slice(0, PREVIEW_MAX).map(({ incident: i, verdict, why }) => {
    const r = i.root!;
    const what = verdict === 'protected' ? `never touched: protected — ${inlineText(why ?? '', 120)}; pid ${r.pid}` : `${DOES[verdict]} pid ${r.pid}`;
    const waiting = i.cause === 'lock-queue-head' || i.cause === 'root-blocker' ? ` · ${i.waiting} waiting` : '';
    return `• ${what} · app ${inlineText(r.application ?? '—', 64)} · user ${inlineText(r.user ?? '—', 64)}${waiting}${r.query ? ` · ${codeSpan(r.query, 200)}` : ''}`;
  });
  if (matches.length > PREVIEW_MAX) lines.push(`… and ${matches.length - PREVIEW_MAX} more`);
  return truncate(`*Would match right now (${matches.length}):*\n${lines.join('\n')}`, LIMITS.sectionText);
}

export function buildRuleMessage(rule: Rule, opts: { preview?: RulePreview } = {}): RenderedMessage {
  const words = describeRule(rule.spec, rule.expiresAt);
  const head = [
    `${STATUS_LINE[rule.status]} on \`${inlineText(rule.cluster, 63)}\`${rule.spec.dryRun ? ' · *dry run*' : ''}`,
    `${userMention(rule.proposer)} proposes: *${safeText(words, 1200)}*`,
    `\`/pgsessions allow ${inlineText(ruleText(rule.spec), 400)}\``,
    `reason: ${safeText(rule.spec.reason, 500)}`,
  ];
  if (rule.approver) head.push(`approved by ${userMention(rule.approver)}`);
  if (rule.endedBy && rule.status !== 'approved') head.push(`${rule.status} by ${userMention(rule.endedBy)}`);
  if (rule.status === 'proposed') head.push(`the proposal expires at ${clock(rule.proposalExpiresAt)} if nobody decides`);
  if (rule.status !== 'proposed' && rule.status !== 'denied' && rule.status !== 'withdrawn') head.push(usageLine(rule));
  const blocks: KnownBlock[] = [{ type: 'section', text: { type: 'mrkdwn', text: truncate(head.join('\n'), LIMITS.sectionText) } }];
  if (opts.preview) blocks.push({ type: 'section', text: { type: 'mrkdwn', text: previewLines(opts.preview) } });
  const buttons = [];
  if (rule.status === 'proposed') {
    buttons.push(
      { type: 'button' as const, action_id: ACTION.ruleApprove, style: 'primary' as const, text: { type: 'plain_text' as const, text: 'Approve rule' }, value: rule.id },
      { type: 'button' as const, action_id: ACTION.ruleDeny, style: 'danger' as const, text: { type: 'plain_text' as const, text: 'Deny' }, value: rule.id },
      { type: 'button' as const, action_id: ACTION.ruleWithdraw, text: { type: 'plain_text' as const, text: 'Withdraw' }, value: rule.id },
    );
  }
  if (rule.status === 'approved') {
    buttons.push({ type: 'button' as const, action_id: ACTION.ruleRevoke, style: 'danger' as const, text: { type: 'plain_text' as const, text: 'Revoke' }, value: rule.id });
  }
  if (buttons.length > 0) blocks.push({ type: 'actions', elements: buttons });
  blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `rule ${rule.id}` }] });
  return { text: truncate(`Standing approval ${rule.status} on ${rule.cluster}: ${words}`, 3000), blocks };
}

export function buildRulesList(rules: Rule[]): RenderedMessage {
  if (rules.length === 0) return { text: 'No active or proposed rules.', blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'No active or proposed standing approvals.' } }] };
  const blocks: KnownBlock[] = [{ type: 'header', text: { type: 'plain_text', text: `Standing approvals (${rules.length})` } }];
  for (const rule of rules.slice(0, 20)) {
    const text = truncate(
      `*${rule.status === 'approved' ? 'active' : rule.status}* on \`${inlineText(rule.cluster, 63)}\` · ${safeText(describeRule(rule.spec, rule.expiresAt), 800)}\n` +
        `proposed by ${userMention(rule.proposer)}${rule.approver ? `, approved by ${userMention(rule.approver)}` : ''} · ${usageLine(rule)}`,
      LIMITS.sectionText,
    );
    blocks.push({
      type: 'section',
      text: { type: 'mrkdwn', text },
      accessory: { type: 'button', action_id: ACTION.ruleRevoke, style: 'danger', text: { type: 'plain_text', text: 'Revoke' }, value: rule.id },
    });
  }
  if (rules.length > 20) blocks.push({ type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${rules.length - 20} more` }] });
  return { text: `${rules.length} standing approvals`, blocks };
}
