// Direct messages to approvers (docs/approvals.md "Direct messages"): each approver of a waiting request or
// rule proposal hears of it in a DM (conversations.open, then chat.postMessage) carrying the channel
// message's own Approve/Deny buttons — same action ids, same values (only the id), so a click there is
// decided exactly like one in the channel — and a link to the channel message. Every DM is claimed in the
// state database before it is sent (never twice, across replicas) and updated in place as the subject changes.
import type { KnownBlock } from '@slack/types';
import type { WebClient } from '@slack/web-api';
import {
  askerOf,
  subjectKey,
  type ApproverMessage,
  type ApproverMessagesStore,
  type ApproverNoticesPort,
  type NoticeSubject,
} from '../../domain/approver-notices.js';
import { shapeQueryText, type GroupsPort, type QueryTextMode } from '../../domain/policy.js';
import { describeRule } from '../../domain/rules.js';
import type { Logger } from '../../logger.js';
import { ACTION } from '../blocks/ids.js';
import { channelMention, inlineText, LIMITS, safeText, sealed, truncate, userMention } from '../blocks/mrkdwn.js';
import { ACTION_LABELS, buildApprovalMessage } from '../blocks/request.js';
import { buildRuleMessage } from '../blocks/rule.js';

export interface ApproverNoticesOptions {
  client: WebClient;
  /** Posts without retries (a retried post could leave a second copy nobody updates); `client` when absent. */
  once?: WebClient;
  groups: GroupsPort;
  store: ApproverMessagesStore;
  logger: Logger;
  queryText: QueryTextMode;
  /**
   * How long a group's members, read to know whom to message, are reused (default 30 s). Only for messaging:
   * whether a click may approve is still read from Slack at the click. A burst of requests then costs one
   * usergroups.users.list per group, not one per request (a Tier 2 method, shared with the clicks' reads).
   */
  groupCacheMs?: number;
}

/** The buttons a DM keeps: deciding only (withdrawing and revoking are done where the subject was posted). */
const DM_BUTTONS = new Set<string>([ACTION.approve, ACTION.deny, ACTION.ruleApprove, ACTION.ruleDeny]);

const USER_ID = /^[UW][A-Z0-9]{1,30}$/;
const GROUP_ID = /^S[A-Z0-9]{1,30}$/;
/**
 * A direct message's channel (conversations.open with one user answers a D… id). Only those are ever updated:
 * a row written by a holder of the runtime password cannot make pgsessions rewrite a channel message (the
 * audit channel's, a request's) with chat.update.
 */
const IM_CHANNEL = /^D[A-Z0-9]{1,30}$/;

function waiting(subject: NoticeSubject): boolean {
  if (subject.kind === 'rule') return subject.rule.status === 'proposed';
  const r = subject.request;
  return r.status === 'pending' && Date.now() < Date.parse(r.expiresAt);
}

/** Where the subject's channel message is: Slack's permalink, or the channel named when Slack will not say. */
async function whereLink(client: WebClient, subject: NoticeSubject): Promise<string> {
  const { channel, messageTs } = subject.kind === 'request' ? subject.request : subject.rule;
  const posted = `in ${channelMention(channel)}`;
  if (!messageTs) return posted;
  try {
    const link = await client.chat.getPermalink({ channel, message_ts: messageTs });
    if (link.permalink && /^https:\/\/[^\s|<>]+$/.test(link.permalink)) return `<${link.permalink}|in the channel>`;
  } catch {
    // The channel is still named.
  }
  return posted;
}

function intro(subject: NoticeSubject, where: string): string {
  const live = waiting(subject);
  if (subject.kind === 'rule') {
    const rule = subject.rule;
    const what = `${userMention(rule.proposer)} proposes a standing approval on *${inlineText(rule.cluster, 63)}*: ${safeText(describeRule(rule.spec, rule.expiresAt), 800)}`;
    return live
      ? `:bell: *Your approval is asked.* ${what}\nReason: ${safeText(rule.spec.reason, 500)}\nPosted ${where}.`
      : `This proposal no longer waits for you (${rule.status}). ${what}\nPosted ${where}.`;
  }
  const r = subject.request;
  const pids = r.targets.slice(0, 10).map((t) => t.pid);
  const more = r.targets.length > 10 ? ` and ${r.targets.length - 10} more` : '';
  const what =
    `${userMention(r.requester)} asks to *${ACTION_LABELS[r.action]}* on *${inlineText(r.cluster, 200)}*` +
    ` — pid ${pids.join(', ') || '—'}${more}`;
  const reason = r.reason.trim() === '' ? '_(none given)_' : safeText(r.reason, 1000);
  return live
    ? `:bell: *Your approval is asked.* ${what}\nReason: ${reason}\nPosted ${where}.`
    : `This request no longer waits for you (${r.status}). ${what}\nPosted ${where}.`;
}

/** The channel message's blocks with only the deciding buttons, and those only while the subject waits. */
function keepDeciding(blocks: KnownBlock[], live: boolean): KnownBlock[] {
  const kept: KnownBlock[] = [];
  for (const block of blocks) {
    if (block.type !== 'actions') {
      kept.push(block);
      continue;
    }
    if (!live) continue;
    const elements = block.elements.filter((e) => 'action_id' in e && DM_BUTTONS.has(String(e.action_id)));
    if (elements.length > 0) kept.push({ ...block, elements });
  }
  return kept;
}

export function buildApproverMessage(
  subject: NoticeSubject,
  where: string,
  queryText: QueryTextMode,
): { text: string; blocks: KnownBlock[] } {
  const message =
    subject.kind === 'request'
      ? buildApprovalMessage({
          request: {
            ...subject.request,
            targets: subject.request.targets.map((t) => ({ ...t, query: shapeQueryText(t.query, queryText) })),
          },
          now: new Date(),
        })
      : buildRuleMessage(subject.rule, { queryText });
  const live = waiting(subject);
  const head: KnownBlock = {
    type: 'section',
    text: { type: 'mrkdwn', text: truncate(intro(subject, where), LIMITS.sectionText) },
  };
  const blocks: KnownBlock[] = [head, ...keepDeciding(message.blocks as KnownBlock[], live)];
  // Over Slack's 50 blocks (a channel message already at the limit), a detail goes, never the buttons.
  while (blocks.length > LIMITS.blocksPerMessage) {
    let detail = blocks.length - 1;
    while (detail > 1 && blocks[detail]!.type === 'actions') detail -= 1;
    blocks.splice(detail, 1);
  }
  const text = truncate(`${live ? 'Your approval is asked: ' : ''}${message.text}`, LIMITS.fallbackText);
  return sealed({ text, blocks });
}

type GroupCache = Map<string, { members: string[]; at: number }>;

async function membersOf(options: ApproverNoticesOptions, cache: GroupCache, group: string): Promise<string[]> {
  const cached = cache.get(group);
  if (cached && Date.now() - cached.at < (options.groupCacheMs ?? 30_000)) return cached.members;
  const members = await options.groups.members(group);
  cache.set(group, { members, at: Date.now() });
  return members;
}

/** The people among users and groups (expanded now), each once; a group Slack will not list is skipped. */
async function people(options: ApproverNoticesOptions, cache: GroupCache, principals: string[]): Promise<string[]> {
  const found = new Set<string>();
  await Promise.all(
    principals.map(async (principal) => {
      if (USER_ID.test(principal)) found.add(principal);
      else if (GROUP_ID.test(principal)) {
        try {
          for (const member of await membersOf(options, cache, principal)) if (USER_ID.test(member)) found.add(member);
        } catch (error) {
          options.logger.warn({ err: error, group: principal }, 'could not list a user group to message its members');
        }
      }
    }),
  );
  return [...found];
}

/** conversations.open, then chat.postMessage there: where the direct message went. */
async function send(
  options: ApproverNoticesOptions,
  user: string,
  message: { text: string; blocks?: unknown[] },
): Promise<{ channel: string; ts: string }> {
  const opened = await options.client.conversations.open({ users: user });
  const channel = opened.channel?.id;
  if (!channel) throw new Error('conversations.open returned no channel');
  const posted = await (options.once ?? options.client).chat.postMessage({
    channel,
    text: message.text,
    ...(message.blocks ? { blocks: message.blocks as KnownBlock[] } : {}),
  });
  if (!posted.ts) throw new Error('chat.postMessage returned no ts');
  return { channel, ts: posted.ts };
}

type SubjectKey = ReturnType<typeof subjectKey>;

/** Claims the person's direct message, then sends it; a refusal gives the claim back. True when told. */
async function tellOne(
  options: ApproverNoticesOptions,
  key: SubjectKey,
  user: string,
  tier: number,
  message: { text: string; blocks: KnownBlock[] },
): Promise<boolean> {
  const { store, logger } = options;
  try {
    if (!(await store.claim(key, user, tier))) return false;
  } catch (error) {
    logger.warn({ err: error, subject: key, user }, 'could not record a direct message: not sent');
    return false;
  }
  try {
    const sent = await send(options, user, message);
    await store.sent(key, user, sent.channel, sent.ts);
    return true;
  } catch (error) {
    logger.warn({ err: error, subject: key, user }, 'could not direct-message an approver');
    await store.release(key, user).catch(() => undefined);
    return false;
  }
}

export function createApproverNotices(options: ApproverNoticesOptions): ApproverNoticesPort {
  const { client, store, logger, queryText } = options;
  const cache: GroupCache = new Map();
  return {
    async tell(subject, principals, tier) {
      // After a decision (or expiry) nobody else is asked.
      if (!waiting(subject)) return [];
      const key = subjectKey(subject);
      const asker = askerOf(subject);
      const users = (await people(options, cache, principals)).filter((user) => user !== asker);
      if (users.length === 0) return [];
      const message = buildApproverMessage(subject, await whereLink(client, subject), queryText);
      const told = await Promise.all(users.map((user) => tellOne(options, key, user, tier, message)));
      return users.filter((_, i) => told[i]);
    },

    async refresh(subject) {
      const key = subjectKey(subject);
      let sent: ApproverMessage[];
      try {
        sent = await store.list(key);
      } catch (error) {
        logger.warn({ err: error, subject: key }, 'could not read the direct messages to update');
        return;
      }
      const ims = sent.filter((dm) => IM_CHANNEL.test(dm.channel));
      if (ims.length < sent.length)
        logger.warn({ subject: key }, 'a recorded direct message is not in a DM: not updated');
      if (ims.length === 0) return;
      const message = buildApproverMessage(subject, await whereLink(client, subject), queryText);
      await Promise.all(
        ims.map(async (dm) => {
          try {
            await client.chat.update({ channel: dm.channel, ts: dm.ts, text: message.text, blocks: message.blocks });
          } catch (error) {
            logger.warn({ err: error, subject: key, user: dm.user }, 'could not update a direct message');
          }
        }),
      );
    },

    async say(principals, message) {
      const users = await people(options, cache, principals);
      const reached = await Promise.all(
        users.map(async (user) => {
          try {
            await send(options, user, message);
            return true;
          } catch (error) {
            logger.warn({ err: error, user }, 'could not direct-message a person');
            return false;
          }
        }),
      );
      return users.filter((_, i) => reached[i]);
    },
  };
}
