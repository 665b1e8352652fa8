// The stand-in's answers, one small function per Web API method, shaped like Slack's: what the app posts is
// also kept in the workspace as Slack would show it. Any other method name gets `unknown_method`, as from Slack.
import type { SlackUser } from './slack-stand-in.js';
import { BOT_USER, type SlackWorkspace } from './slack-workspace.js';

/** What the answers read and change: the workspace, the people and groups the test set, the counters. */
export interface AnswerContext {
  workspace: SlackWorkspace;
  /** Answer an update or delete of a message it does not hold with `message_not_found`, as Slack does. */
  strict: boolean;
  nextTs(): string;
  /** The last view number handed out (V000001…). */
  views: { counter: number };
  usergroups: Record<string, string[]>;
  users: Record<string, SlackUser>;
}

type Params = Record<string, unknown>;
type Answer = (p: Params, ctx: AnswerContext, method: string) => Record<string, unknown>;

const str = (v: unknown, fallback = ''): string => (typeof v === 'string' ? v : v === undefined ? fallback : String(v));
const threadOf = (p: Params) => (typeof p.thread_ts === 'string' && p.thread_ts !== '' ? p.thread_ts : undefined);

function postMessage(p: Params, { workspace, nextTs }: AnswerContext): Record<string, unknown> {
  const ts = nextTs();
  const channel = str(p.channel);
  const threadTs = threadOf(p);
  workspace.post({
    channel,
    ts,
    text: str(p.text),
    blocks: Array.isArray(p.blocks) ? p.blocks : [],
    user: BOT_USER,
    ...(threadTs ? { threadTs } : {}),
  });
  return {
    ok: true,
    channel,
    ts,
    message: {
      type: 'message',
      subtype: 'bot_message',
      text: str(p.text),
      user: 'UBOT',
      bot_id: 'BBOT',
      app_id: 'A1',
      team: 'T1',
      ts,
      blocks: p.blocks ?? [],
      ...(p.thread_ts ? { thread_ts: p.thread_ts } : {}),
    },
  };
}

function update(p: Params, { workspace, strict }: AnswerContext): Record<string, unknown> {
  const channel = str(p.channel);
  const ts = str(p.ts);
  if (!workspace.update(channel, ts, { text: p.text, blocks: p.blocks }) && strict)
    return { ok: false, error: 'message_not_found' };
  return {
    ok: true,
    channel,
    ts,
    text: str(p.text),
    message: { type: 'message', text: str(p.text), user: 'UBOT', bot_id: 'BBOT', team: 'T1', blocks: p.blocks ?? [] },
  };
}

function postEphemeral(p: Params, { workspace, nextTs }: AnswerContext): Record<string, unknown> {
  const ts = nextTs();
  const threadTs = threadOf(p);
  workspace.post({
    channel: str(p.channel),
    ts,
    text: str(p.text),
    blocks: Array.isArray(p.blocks) ? p.blocks : [],
    user: BOT_USER,
    visibleTo: str(p.user),
    ...(threadTs ? { threadTs } : {}),
  });
  return { ok: true, message_ts: ts };
}

function remove(p: Params, { workspace, strict }: AnswerContext): Record<string, unknown> {
  const channel = str(p.channel);
  const ts = str(p.ts);
  return workspace.remove(channel, ts) || !strict
    ? { ok: true, channel, ts }
    : { ok: false, error: 'message_not_found' };
}

/** views.open, views.push and views.update: the view as Slack completes it, kept for the person it opens for. */
function view(p: Params, { workspace, views }: AnswerContext, method: string): Record<string, unknown> {
  const given = (typeof p.view === 'object' && p.view !== null ? p.view : {}) as Record<string, unknown>;
  const id =
    method === 'views.update' && typeof p.view_id === 'string'
      ? p.view_id
      : `V${String(++views.counter).padStart(6, '0')}`;
  const completed = {
    id,
    team_id: 'T1',
    type: 'modal',
    blocks: [],
    private_metadata: '',
    callback_id: '',
    external_id: '',
    state: { values: {} },
    hash: `${Date.now()}.hash${views.counter}`,
    clear_on_close: false,
    notify_on_close: false,
    root_view_id: id,
    previous_view_id: null,
    app_id: 'A1',
    app_installed_team_id: 'T1',
    bot_id: 'BBOT',
    ...given,
  };
  // A trigger the playground handed out names the person the modal opens for; other views are only recorded.
  const user = workspace.userOfTrigger(p.trigger_id);
  if (method === 'views.update') {
    const updated = workspace.updateView(p.view_id, p.external_id, p.hash, {
      ...completed,
      hash: `${Date.now()}.hash${++views.counter}`,
    });
    if (updated && !updated.ok) return { ok: false, error: updated.error };
    if (updated) return { ok: true, view: updated.stored.view };
  } else if (user) {
    const stored = method === 'views.open' ? workspace.openView(user, completed) : workspace.pushView(user, completed);
    return { ok: true, view: stored.view };
  }
  return { ok: true, view: completed };
}

function usersInfo(p: Params, { users }: AnswerContext): Record<string, unknown> {
  const id = str(p.user);
  const known = users[id];
  const name = known?.name ?? id.toLowerCase();
  return {
    ok: true,
    user: {
      id,
      team_id: known?.team_id ?? 'T1',
      name,
      is_restricted: known?.is_restricted ?? false,
      is_ultra_restricted: known?.is_ultra_restricted ?? false,
      real_name: known?.real_name ?? name,
      deleted: known?.deleted ?? false,
      is_bot: known?.is_bot ?? false,
      tz: known?.tz ?? 'UTC',
      profile: { display_name: name, real_name: known?.real_name ?? name },
    },
  };
}

/** The channel id of the app's direct message with these people: stable (D + the user ids), as Slack's is. */
export function dmChannelOf(...users: string[]): string {
  return `D${users.join('').slice(0, 20)}`;
}

/** A direct message with one person: its channel id is stable per person (D + the user id), as Slack's is. */
function openConversation(p: Params): Record<string, unknown> {
  const users = str(p.users)
    .split(',')
    .map((u) => u.trim())
    .filter(Boolean);
  if (users.length === 0 && typeof p.channel !== 'string') return { ok: false, error: 'users_list_not_supplied' };
  if (users.some((u) => !/^[UW][A-Z0-9]{2,}$/.test(u))) return { ok: false, error: 'user_not_found' };
  const id = typeof p.channel === 'string' ? p.channel : dmChannelOf(...users);
  return { ok: true, channel: { id } };
}

function permalink(p: Params, { workspace, strict }: AnswerContext): Record<string, unknown> {
  const channel = str(p.channel);
  const ts = str(p.message_ts);
  if (strict && !workspace.find(channel, ts)) return { ok: false, error: 'message_not_found' };
  return { ok: true, channel, permalink: `https://test.slack.com/archives/${channel}/p${ts.replace('.', '')}` };
}

/** views.publish: a person's Home tab, replaced whole. */
function publish(p: Params, { workspace, views }: AnswerContext): Record<string, unknown> {
  const user = str(p.user_id);
  if (!/^[UW][A-Z0-9]{2,}$/.test(user)) return { ok: false, error: 'invalid_arguments' };
  const given = (typeof p.view === 'object' && p.view !== null ? p.view : {}) as Record<string, unknown>;
  const id = `V${String(++views.counter).padStart(6, '0')}`;
  const view = { id, team_id: 'T1', type: 'home', blocks: [], hash: `${Date.now()}.hash${views.counter}`, ...given };
  workspace.publishHome(user, view);
  return { ok: true, view };
}

const ANSWERS: Record<string, Answer> = {
  'auth.test': () => ({
    ok: true,
    url: 'https://test.slack.com/',
    team: 'Test',
    user: 'pgsessions',
    team_id: 'T1',
    user_id: 'UBOT',
    bot_id: 'BBOT',
    is_enterprise_install: false,
  }),
  'chat.postMessage': postMessage,
  'chat.update': update,
  'chat.postEphemeral': postEphemeral,
  'chat.delete': remove,
  'conversations.history': (p, { workspace }) => workspace.history(str(p.channel), p),
  'views.open': view,
  'views.push': view,
  'views.update': view,
  'usergroups.users.list': (p, { usergroups }) => {
    const users = usergroups[str(p.usergroup)];
    return users ? { ok: true, users: [...users] } : { ok: false, error: 'no_such_subteam' };
  },
  'users.info': usersInfo,
  'conversations.open': openConversation,
  'chat.getPermalink': permalink,
  'views.publish': publish,
  'conversations.info': (p) => {
    const id = str(p.channel);
    const channel = { id, name: id.toLowerCase(), is_channel: true, is_private: false, is_archived: false };
    return { ok: true, channel: { ...channel, is_member: true, created: 1700000000 } };
  },
};

/** Web API methods with an answer of their own; Slack answers any other name with `unknown_method`. */
export const KNOWN_METHODS: ReadonlySet<string> = new Set(Object.keys(ANSWERS));

export function defaultAnswer(method: string, p: Params, ctx: AnswerContext): Record<string, unknown> {
  const answer = Object.hasOwn(ANSWERS, method) ? ANSWERS[method] : undefined;
  return answer ? answer(p, ctx, method) : { ok: false, error: 'unknown_method', req_method: method };
}
