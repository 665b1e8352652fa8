// The App Home tab (views.publish): what waits for this person, with the same Approve / Deny buttons as the
// channel message (same action ids, the request or rule id as value, so the same listeners decide); their
// own open requests and proposals with Withdraw; open incidents, active rules and unreviewed break-glass
// uses on the clusters they may view. Pure. Everything a database user or a requester typed (application
// names, query text, reasons, cluster-down errors) goes through inlineText/safeText/codeSpan; every mrkdwn
// text is sealed `verbatim`. The content must not depend on the clock: the Home is republished only when
// what it shows changed (its hash), and "3 minutes ago" would change every minute. Times are Slack dates.
import type { Button, KnownBlock } from '@slack/types';
import type { BreakGlassUse, HomeContent, HomeIncident, QuorumRequest } from '../../domain/home.js';
import { describeRule, type Rule } from '../../domain/rules.js';
import type { KillRequest } from '../../domain/types.js';
import { ACTION } from './ids.js';
import {
  LIMITS,
  channelMention,
  codeSpan,
  inlineText,
  safeText,
  slackDate,
  truncate,
  userMention,
  verbatim,
} from './mrkdwn.js';
import { ACTION_LABELS } from './request.js';
import { incidentTitle } from './watch.js';

/** Items shown one by one (each with its buttons) per list; the rest are counted. */
export const HOME_ITEMS = { waiting: 12, mine: 8, lines: 25 } as const;
const QUERY_CHARS = 160;

export interface HomeView {
  type: 'home';
  callback_id: string;
  blocks: KnownBlock[];
}

export const HOME_CALLBACK = 'pgs_home';

const when = (at: string | null, format = '{date_short_pretty} {time}'): string =>
  at === null ? '?' : (slackDate(at, format) ?? inlineText(at, 40));
const section = (text: string): KnownBlock => ({
  type: 'section',
  text: { type: 'mrkdwn', text: truncate(text, LIMITS.sectionText) },
});
const context = (text: string): KnownBlock => ({
  type: 'context',
  elements: [{ type: 'mrkdwn', text: truncate(text, LIMITS.sectionText) }],
});
const header = (text: string): KnownBlock => ({
  type: 'header',
  text: { type: 'plain_text', text: truncate(text, LIMITS.headerText) },
});
const name = (value: string | null, max = 64): string =>
  value === null || value === '' ? '—' : inlineText(value, max);

function button(actionId: string, text: string, value: string, style?: 'primary' | 'danger'): Button {
  return {
    type: 'button',
    action_id: actionId,
    text: { type: 'plain_text', text },
    value,
    ...(style ? { style } : {}),
  };
}

function targetText(r: KillRequest): string {
  if (r.action === 'terminate_all' || r.action === 'drain')
    return `${r.targets.length} sessions of db ${name(r.scope?.database ?? r.targets[0]?.database ?? null)}`;
  if (r.action === 'cancel_all') return `the queries of ${r.targets.length} sessions (query storm)`;
  const t = r.targets[0];
  if (t === undefined) return 'no session';
  const query = t.query === null ? '' : `\n${codeSpan(t.query, QUERY_CHARS)}`;
  return `pid ${t.pid} · user ${name(t.user)} · db ${name(t.database)} · app ${name(t.application)}${query}`;
}

/** "1 of 2 approvals: @alex" while a quorum above 1 is being gathered; empty otherwise. */
function progress(r: QuorumRequest): string {
  const quorum = r.quorum ?? 1;
  if (quorum <= 1) return '';
  const approvers = (r.approvers ?? []).slice(0, 10).map(userMention);
  return `\n${approvers.length} of ${quorum} approvals${approvers.length > 0 ? `: ${approvers.join(', ')}` : ''}`;
}

function requestText(r: QuorumRequest, mine: boolean): string {
  const who = mine ? '' : ` · by ${userMention(r.requester)}`;
  const reason = r.reason.trim() === '' ? '_(no reason given)_' : safeText(r.reason, 300);
  return (
    `*${ACTION_LABELS[r.action]}* on *${name(r.cluster, 63)}*${who} in ${channelMention(r.channel)}` +
    ` · expires ${when(r.expiresAt, '{time}')}\n${targetText(r)}\nreason: ${reason}${progress(r)}`
  );
}

function proposalText(rule: Rule, mine: boolean): string {
  const who = mine ? '' : ` · by ${userMention(rule.proposer)}`;
  return (
    `*Standing approval* on *${name(rule.cluster, 63)}*${who} in ${channelMention(rule.channel)}` +
    ` · expires ${when(rule.proposalExpiresAt, '{time}')}\n*${safeText(describeRule(rule.spec, rule.expiresAt), 1200)}*` +
    `\nreason: ${safeText(rule.spec.reason, 300)}`
  );
}

/** One item: its text and its buttons (block ids unique within the view). */
function item(text: string, buttons: Button[], blockId: string): KnownBlock[] {
  const blocks: KnownBlock[] = [section(text)];
  if (buttons.length > 0) blocks.push({ type: 'actions', block_id: blockId, elements: buttons });
  return blocks;
}

function more(total: number, shown: number, where: string): KnownBlock[] {
  return total > shown ? [context(`${total - shown} more not shown: ${where}.`)] : [];
}

function waitingBlocks(content: HomeContent): KnownBlock[] {
  const { requests, proposals } = content.waiting;
  const total = requests.length + proposals.length;
  const blocks: KnownBlock[] = [header(`Waiting for you — ${total}`)];
  if (total === 0) return [...blocks, context('Nothing waits for your approval.')];
  const requestsShown = requests.slice(0, HOME_ITEMS.waiting);
  for (const r of requestsShown)
    blocks.push(
      ...item(
        requestText(r, false),
        [button(ACTION.approve, 'Approve', r.id, 'primary'), button(ACTION.deny, 'Deny', r.id, 'danger')],
        `pgs_home_wait_${r.id}`,
      ),
    );
  const proposalsShown = proposals.slice(0, Math.max(0, HOME_ITEMS.waiting - requestsShown.length));
  for (const rule of proposalsShown)
    blocks.push(
      ...item(
        proposalText(rule, false),
        [
          button(ACTION.ruleApprove, 'Approve rule', rule.id, 'primary'),
          button(ACTION.ruleDeny, 'Deny', rule.id, 'danger'),
        ],
        `pgs_home_wait_${rule.id}`,
      ),
    );
  return [
    ...blocks,
    ...more(total, requestsShown.length + proposalsShown.length, '`/pgsessions pending` and `/pgsessions rules`'),
  ];
}

function mineBlocks(content: HomeContent): KnownBlock[] {
  const { requests, proposals } = content.mine;
  const total = requests.length + proposals.length;
  if (total === 0) return [];
  const blocks: KnownBlock[] = [header(`Your open requests — ${total}`)];
  const requestsShown = requests.slice(0, HOME_ITEMS.mine);
  for (const r of requestsShown)
    blocks.push(...item(requestText(r, true), [button(ACTION.withdraw, 'Withdraw', r.id)], `pgs_home_mine_${r.id}`));
  const proposalsShown = proposals.slice(0, Math.max(0, HOME_ITEMS.mine - requestsShown.length));
  for (const rule of proposalsShown)
    blocks.push(
      ...item(proposalText(rule, true), [button(ACTION.ruleWithdraw, 'Withdraw', rule.id)], `pgs_home_mine_${rule.id}`),
    );
  return [...blocks, ...more(total, requestsShown.length + proposalsShown.length, '`/pgsessions pending`')];
}

/** Lines packed into as few sections as fit (each ≤ 3000 characters). */
function lines(title: string, all: string[], empty: string | null, where: string): KnownBlock[] {
  if (all.length === 0) return empty === null ? [] : [header(`${title} — 0`), context(empty)];
  const shown = all.slice(0, HOME_ITEMS.lines);
  const blocks: KnownBlock[] = [header(`${title} — ${all.length}`)];
  let current = '';
  for (const raw of shown) {
    const line = truncate(raw, LIMITS.sectionText);
    if (current !== '' && current.length + 1 + line.length > LIMITS.sectionText) {
      blocks.push(section(current));
      current = '';
    }
    current = current === '' ? line : `${current}\n${line}`;
  }
  if (current !== '') blocks.push(section(current));
  return [...blocks, ...more(all.length, shown.length, where)];
}

function incidentLine(i: HomeIncident): string {
  const root = i.root
    ? ` · pid ${i.root.pid} · user ${name(i.root.user)} · db ${name(i.root.database)} · app ${name(i.root.application)}`
    : '';
  const error = i.error ? ` · ${safeText(i.error, 200)}` : '';
  return `• *${incidentTitle(i)}* on *${name(i.cluster, 63)}*${root}${error} · since ${when(i.openedAt)} · ${channelMention(i.channel)}`;
}

function ruleLine(rule: Rule): string {
  return (
    `• *${name(rule.cluster, 63)}*: ${safeText(describeRule(rule.spec, rule.expiresAt), 600)}` +
    ` · used ${rule.used}/${rule.spec.maxExecutions}${rule.spec.dryRun ? ' · dry run' : ''}` +
    ` · by ${userMention(rule.proposer)}${rule.approver ? ` and ${userMention(rule.approver)}` : ''}`
  );
}

function glassLine(use: BreakGlassUse): string {
  return (
    `• *${name(use.action, 40)}* on *${name(use.cluster, 63)}* by ${userMention(use.requester)} at ${when(use.at)}` +
    ` · why: ${safeText(use.why, 300)}`
  );
}

/** The Home view of one person: at most 100 blocks, every text within Slack's limits. */
export function buildHomeView(content: HomeContent): HomeView {
  const blocks: KnownBlock[] = [
    header('pgsessions'),
    context('What waits for you and what is going on, kept up to date. Decide here or in the channel.'),
    ...waitingBlocks(content),
    ...mineBlocks(content),
    ...lines('Open incidents', content.incidents.map(incidentLine), 'No open incidents.', 'the watch channel'),
    ...lines('Active rules', content.rules.map(ruleLine), null, '`/pgsessions rules`'),
    ...(content.unreviewed === null
      ? []
      : lines('Break-glass uses awaiting review', content.unreviewed.map(glassLine), null, '`/pgsessions status`')),
  ];
  const capped =
    blocks.length > LIMITS.blocksPerModal
      ? [...blocks.slice(0, LIMITS.blocksPerModal - 1), context('More than fits here: see `/pgsessions pending`.')]
      : blocks;
  return { type: 'home', callback_id: HOME_CALLBACK, blocks: verbatim(capped) };
}
