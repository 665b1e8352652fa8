// What the playground page's handlers share: the people and who may be named, channel and user names, the
// request schemas, and how the page acts as Slack (Slackbot's lines, signed posts to the app). Also the state
// one person sees, as the page asks for it.
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { HttpError } from '../domain/errors.js';
import type { Directory } from './mrkdwn-html.js';
import { renderChannel, renderHome, renderModal, renderThread, type ViewInput } from './page-view.js';
import { BOT_NAME, ON_CALL, SLACKBOT, type Person } from './people.js';
import type { PageServerOptions } from './page-server.js';
import { dmChannelOf } from './slack-answers.js';
import type { SlackApi } from './slack-stand-in.js';
import { FORM_CONTENT_TYPE, type PostResult, postSigned } from './slack-requests.js';

/** Slack gives an app 3 seconds to acknowledge. */
const ACK_TIMEOUT_MS = 3_000;

export const channelId = z.string().regex(/^[CGD][A-Z0-9]{1,30}$/);
export const tsSchema = z.string().regex(/^\d{1,12}\.\d{1,8}$/);
const position = z.object({
  block: z.number().int().min(0).max(200),
  element: z.union([z.number().int().min(0).max(100), z.literal('accessory')]),
});

function pageSchemas(person: z.ZodType<string>) {
  const valuesInput = z.record(z.string().max(255), z.record(z.string().max(255), z.string().max(10_000).nullable()));
  return {
    person,
    command: z.object({ as: person, channel: channelId, text: z.string().max(4000) }),
    action: z.object({ as: person, channel: channelId, ts: tsSchema }).and(position),
    submit: z.object({ as: person, view: z.string().max(64), values: valuesInput }),
    close: z.object({ as: person, view: z.string().max(64) }),
    home: z.object({ as: person }),
    homeAction: z.object({ as: person, view: z.string().max(64) }).and(position),
  };
}

export interface PageContext {
  options: PageServerOptions;
  slack: SlackApi;
  people: readonly Person[];
  schemas: ReturnType<typeof pageSchemas>;
  personOf(id: string): Person;
  names: Directory;
  /** Says once per type that the app sent something the page cannot render yet. */
  noteUnsupported(types: string[]): void;
  /** A line from Slackbot that only `user` sees. */
  say(channel: string, user: string, text: string): void;
  nextTs(): string;
  fresh(prefix: string): string;
  /** Posts a signed form body to the app; null when it did not answer within Slack's 3 seconds. */
  sendSigned(body: string): Promise<PostResult | null>;
}

export function createPageContext(options: PageServerOptions): PageContext {
  const { slack, people } = options;
  const person = z.enum(people.map((p) => p.id) as [string, ...string[]]);
  for (const p of people) slack.users[p.id] = { id: p.id, name: p.handle, real_name: p.name };
  const names: Directory = {
    userName: (id) =>
      id === 'UBOT'
        ? BOT_NAME
        : id === SLACKBOT
          ? 'Slackbot'
          : (people.find((p) => p.id === id)?.name ?? slack.users[id]?.real_name),
    channelName: (id) => options.channels[id] ?? id.toLowerCase(),
    groupName: (id) => (id === ON_CALL.id ? ON_CALL.handle : undefined),
  };
  const reported = new Set<string>();
  const nextTs = () => slack.nextTs();
  return {
    options,
    slack,
    people,
    schemas: pageSchemas(person),
    personOf: (id) => people.find((p) => p.id === id)!,
    names,
    noteUnsupported: (types) => {
      for (const t of types) {
        if (reported.has(t)) continue;
        reported.add(t);
        options.log(`playground page: the app sent ${t}, which the page does not render yet`);
      }
    },
    say: (channel, user, text) =>
      slack.workspace.post({ channel, ts: nextTs(), text, blocks: [], user: SLACKBOT, visibleTo: user }),
    nextTs,
    fresh: (prefix) => `${prefix}-${randomBytes(6).toString('hex')}`,
    sendSigned: async (body) => {
      try {
        return await postSigned(options.app.port, options.app.signingSecret, body, FORM_CONTENT_TYPE, {
          timeoutMs: ACK_TIMEOUT_MS,
        });
      } catch {
        return null;
      }
    },
  };
}

/** What one person sees: the channels, their own direct message with the app (its Messages or its Home tab), the
 * open conversation's timeline, an open thread and the top modal. Nobody sees another person's DM or Home. */
export function pageState(ctx: PageContext, query: URLSearchParams) {
  const { options, slack, people, names } = ctx;
  // A first visit names nobody yet: it sees what the first person sees.
  const viewer = ctx.schemas.person.safeParse(query.get('as') || people[0]!.id);
  if (!viewer.success) throw new HttpError(400, 'as: not a person of this playground');
  const known = Object.entries(options.channels).map(([id, name]) => ({ id, name }));
  const others = slack.workspace
    .channels()
    .filter((id) => !(id in options.channels) && !id.startsWith('D'))
    .map((id) => ({ id, name: id.toLowerCase() }));
  const channels = [...known, ...others];
  const dm = dmChannelOf(viewer.data);
  // `latest`: the newest message's ts, so the page can mark the conversation unread for its person.
  const dms = [{ id: dm, name: BOT_NAME, latest: slack.workspace.visible(dm, viewer.data).at(-1)?.ts ?? null }];
  // `dm`: the person's own direct message with the app, whoever they are now (the page keeps it across "You are").
  const asked = channelId.safeParse(query.get('channel') === 'dm' ? dm : query.get('channel'));
  const allowed = asked.success && (!asked.data.startsWith('D') || asked.data === dm);
  const channel = allowed ? asked.data : channels[0]!.id;
  const tab = channel === dm && query.get('tab') === 'home' ? 'home' : 'messages';
  const input: ViewInput = { workspace: slack.workspace, viewer: viewer.data, names };
  const timeline = renderChannel(channel, input);
  const threadTs = tsSchema.safeParse(query.get('thread'));
  const thread = threadTs.success ? renderThread(channel, threadTs.data, input) : null;
  const home = tab === 'home' ? renderHome(slack.workspace.homeOf(viewer.data), input) : null;
  const top = slack.workspace.viewStack(viewer.data).at(-1);
  const modal = top ? renderModal(top, input) : null;
  ctx.noteUnsupported([
    ...timeline.unsupported,
    ...(thread?.unsupported ?? []),
    ...(home?.unsupported ?? []),
    ...(modal?.unsupported ?? []),
  ]);
  return {
    people: people.map((p) => ({ id: p.id, name: p.name, part: p.part })),
    channels,
    dms,
    channel,
    tab,
    banner: options.banner,
    canReset: options.reset !== undefined,
    timeline: timeline.html,
    thread: thread ? { ts: threadTs.data, html: thread.html } : null,
    home: home ? { id: home.id, html: home.html } : null,
    modal: modal && top ? { id: top.id, hash: String(top.view.hash ?? ''), html: modal.html } : null,
  };
}
