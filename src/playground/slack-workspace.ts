// What Slack holds and shows, as the stand-in learns it from the app's Web API calls and response URLs:
// the messages of each channel (threads, ephemerals, edits, deletions) and the modals open for each person.
// The playground page reads it; tests may too. Data and Slack's rules only — no HTTP here.

export interface StoredMessage {
  channel: string;
  ts: string;
  text: string;
  blocks: unknown[];
  /** Who posted: the bot user for the app's own posts. */
  user: string;
  threadTs?: string;
  /** An ephemeral message: only this person sees it. */
  visibleTo?: string;
  /** Epoch ms of the post, and of the last chat.update / replace_original. */
  postedAt: number;
  editedAt?: number;
}

/** Where a response_url points: who asked, in which channel, and (for a button) the message it sat on. */
export interface ResponseContext {
  channel: string;
  user: string;
  messageTs?: string;
}

export interface StoredView {
  id: string;
  user: string;
  /** The view as views.open/push/update returned it (id, hash, blocks, callback_id, private_metadata…). */
  view: Record<string, unknown>;
  /** Validation errors by block_id, from a `response_action: errors` answer to the last submission. */
  errors: Record<string, string>;
}

export type WorkspaceEvent =
  | { type: 'message'; channel: string; ts: string }
  | { type: 'view'; user: string }
  | { type: 'home'; user: string };

export interface HistoryOptions {
  limit?: unknown;
  cursor?: unknown;
  oldest?: unknown;
  latest?: unknown;
  inclusive?: unknown;
}

export const BOT_USER = 'UBOT';
const HISTORY_DEFAULT_LIMIT = 100;
const HISTORY_MAX_LIMIT = 999;

export interface SlackWorkspace {
  messages: StoredMessage[];
  /** A message as the app posted it (chat.postMessage / chat.postEphemeral / an in_channel response). */
  post(message: Omit<StoredMessage, 'postedAt'>): StoredMessage;
  /** chat.update: false when Slack would answer `message_not_found`. */
  update(channel: string, ts: string, change: { text?: unknown; blocks?: unknown }): boolean;
  remove(channel: string, ts: string): boolean;
  find(channel: string, ts: string): StoredMessage | undefined;
  /** What a response_url post does in Slack: a new (ephemeral or in-channel) message, or replace/delete the original. */
  respond(context: ResponseContext, body: unknown, ts: () => string): void;
  /** The messages one person sees in a channel, oldest first (top level only, or one thread). */
  visible(channel: string, viewer: string, threadTs?: string): StoredMessage[];
  replyCount(channel: string, ts: string, viewer: string): number;
  channels(): string[];
  /** conversations.history, newest first, paginated with an opaque cursor. */
  history(channel: string, options: HistoryOptions): Record<string, unknown>;

  bindTrigger(triggerId: string, user: string): void;
  userOfTrigger(triggerId: unknown): string | undefined;
  /** views.open: a new stack for the person. */
  openView(user: string, view: Record<string, unknown>): StoredView;
  pushView(user: string, view: Record<string, unknown>): StoredView;
  /** views.update: the stored view, or an error code as Slack gives it. */
  updateView(
    viewId: unknown,
    externalId: unknown,
    hash: unknown,
    view: Record<string, unknown>,
  ): { ok: true; stored: StoredView } | { ok: false; error: string } | null;
  /** Closes `viewId` and what was pushed above it; `all` closes the whole stack. */
  closeView(user: string, viewId: string, options?: { all?: boolean }): void;
  setViewErrors(viewId: string, errors: Record<string, string>): void;
  viewStack(user: string): StoredView[];
  findView(viewId: string): StoredView | undefined;

  on(listener: (event: WorkspaceEvent) => void): () => void;
  /** The Home tab each person sees (views.publish), replaced whole by each publish. */
  publishHome(user: string, view: Record<string, unknown>): void;
  homeOf(user: string): Record<string, unknown> | undefined;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);
const blocksOf = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
const tsNumber = (ts: string): number => Number(ts);

export function createWorkspace(): SlackWorkspace {
  const messages: StoredMessage[] = [];
  const listeners = new Set<(event: WorkspaceEvent) => void>();
  const emit = (event: WorkspaceEvent) => {
    for (const listener of listeners) listener(event);
  };
  const find = (channel: string, ts: string) => messages.find((m) => m.channel === channel && m.ts === ts);
  const homes = new Map<string, Record<string, unknown>>();

  const workspace: SlackWorkspace = {
    messages,
    publishHome(user, view) {
      homes.set(user, view);
      emit({ type: 'home', user });
    },
    homeOf(user) {
      return homes.get(user);
    },
    post(message) {
      const stored: StoredMessage = { ...message, postedAt: Date.now() };
      messages.push(stored);
      emit({ type: 'message', channel: stored.channel, ts: stored.ts });
      return stored;
    },
    update(channel, ts, change) {
      const message = find(channel, ts);
      if (!message) return false;
      if (typeof change.text === 'string') message.text = change.text;
      // chat.update without blocks keeps text only: Slack drops the old blocks when text is given alone.
      message.blocks = blocksOf(change.blocks);
      message.editedAt = Date.now();
      emit({ type: 'message', channel, ts });
      return true;
    },
    remove(channel, ts) {
      const i = messages.findIndex((m) => m.channel === channel && m.ts === ts);
      if (i < 0) return false;
      messages.splice(i, 1);
      emit({ type: 'message', channel, ts });
      return true;
    },
    find,
    respond: (context, body, ts) => respondIn(workspace, context, body, ts),
    visible(channel, viewer, threadTs) {
      return messages
        .filter((m) => m.channel === channel && (m.visibleTo === undefined || m.visibleTo === viewer))
        .filter((m) =>
          threadTs === undefined
            ? m.threadTs === undefined || m.threadTs === m.ts
            : m.ts === threadTs || m.threadTs === threadTs,
        )
        .sort((a, b) => tsNumber(a.ts) - tsNumber(b.ts));
    },
    replyCount(channel, ts, viewer) {
      return messages.filter(
        (m) =>
          m.channel === channel &&
          m.threadTs === ts &&
          m.ts !== ts &&
          (m.visibleTo === undefined || m.visibleTo === viewer),
      ).length;
    },
    channels() {
      return [...new Set(messages.map((m) => m.channel))];
    },
    history: (channel, options) => historyOf(messages, channel, options, workspace.replyCount),

    ...createViews(emit),
    on(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
  return workspace;
}

/** What a response_url post does in Slack: a new (ephemeral or in-channel) message, or replace/delete the original. */
function respondIn(workspace: SlackWorkspace, context: ResponseContext, body: unknown, ts: () => string): void {
  if (typeof body !== 'object' || body === null) return;
  const b = body as Record<string, unknown>;
  const original = context.messageTs ? workspace.find(context.channel, context.messageTs) : undefined;
  if (b.delete_original === true || b.delete_original === 'true') {
    if (original) workspace.remove(original.channel, original.ts);
    return;
  }
  if ((b.replace_original === true || b.replace_original === 'true') && original) {
    workspace.update(original.channel, original.ts, { text: b.text, blocks: b.blocks });
    return;
  }
  const inChannel = b.response_type === 'in_channel';
  const threadTs = str(b.thread_ts);
  workspace.post({
    channel: context.channel,
    ts: ts(),
    text: str(b.text) ?? '',
    blocks: blocksOf(b.blocks),
    user: BOT_USER,
    ...(threadTs ? { threadTs } : {}),
    ...(inChannel ? {} : { visibleTo: context.user }),
  });
}

/** conversations.history over the stored messages: newest first, top level only, paginated with an opaque cursor. */
function historyOf(
  messages: readonly StoredMessage[],
  channel: string,
  options: HistoryOptions,
  replyCount: SlackWorkspace['replyCount'],
): Record<string, unknown> {
  const requested = Number(options.limit ?? HISTORY_DEFAULT_LIMIT);
  const limit =
    Number.isInteger(requested) && requested > 0 ? Math.min(requested, HISTORY_MAX_LIMIT) : HISTORY_DEFAULT_LIMIT;
  let offset = 0;
  if (options.cursor !== undefined && options.cursor !== '') {
    const decoded = /^offset:(\d+)$/.exec(Buffer.from(String(options.cursor), 'base64').toString('utf8'));
    if (!decoded) return { ok: false, error: 'invalid_cursor' };
    offset = Number(decoded[1]);
  }
  const inclusive = options.inclusive === true || options.inclusive === 'true' || options.inclusive === '1';
  const oldest = options.oldest === undefined ? null : Number(options.oldest);
  const latest = options.latest === undefined ? null : Number(options.latest);
  const inRange = (ts: number) =>
    (oldest === null || (inclusive ? ts >= oldest : ts > oldest)) &&
    (latest === null || (inclusive ? ts <= latest : ts < latest));
  const all = messages
    .filter(
      (m) =>
        m.channel === channel &&
        m.visibleTo === undefined &&
        (m.threadTs === undefined || m.threadTs === m.ts) &&
        inRange(tsNumber(m.ts)),
    )
    .sort((a, b) => tsNumber(b.ts) - tsNumber(a.ts));
  const page = all.slice(offset, offset + limit);
  const hasMore = offset + limit < all.length;
  return {
    ok: true,
    messages: page.map((m) => ({
      type: 'message',
      ...(m.user === BOT_USER ? { subtype: 'bot_message', bot_id: 'BBOT', app_id: 'A1' } : {}),
      user: m.user,
      text: m.text,
      ts: m.ts,
      blocks: m.blocks,
      ...(m.threadTs ? { thread_ts: m.threadTs, reply_count: replyCount(channel, m.ts, '') } : {}),
      ...(m.editedAt ? { edited: { user: m.user, ts: (m.editedAt / 1000).toFixed(6) } } : {}),
    })),
    has_more: hasMore,
    pin_count: 0,
    response_metadata: { next_cursor: hasMore ? Buffer.from(`offset:${offset + limit}`).toString('base64') : '' },
  };
}

type ViewMethods = Pick<
  SlackWorkspace,
  | 'bindTrigger'
  | 'userOfTrigger'
  | 'openView'
  | 'pushView'
  | 'updateView'
  | 'closeView'
  | 'setViewErrors'
  | 'viewStack'
  | 'findView'
>;

/** The modals: each person's stack of views, and the trigger ids that may open one. */
function createViews(emit: (event: WorkspaceEvent) => void): ViewMethods {
  const triggers = new Map<string, string>();
  const stacks = new Map<string, StoredView[]>();
  const allViews = () => [...stacks.values()].flat();
  return {
    bindTrigger(triggerId, user) {
      triggers.set(triggerId, user);
    },
    userOfTrigger(triggerId) {
      return typeof triggerId === 'string' ? triggers.get(triggerId) : undefined;
    },
    openView(user, view) {
      const stored: StoredView = { id: String(view.id), user, view, errors: {} };
      stacks.set(user, [stored]);
      emit({ type: 'view', user });
      return stored;
    },
    pushView(user, view) {
      const stored: StoredView = { id: String(view.id), user, view, errors: {} };
      stacks.set(user, [...(stacks.get(user) ?? []), stored]);
      emit({ type: 'view', user });
      return stored;
    },
    updateView(viewId, externalId, hash, view) {
      const stored = allViews().find(
        (v) =>
          (typeof viewId === 'string' && v.id === viewId) ||
          (typeof externalId === 'string' && externalId !== '' && v.view.external_id === externalId),
      );
      if (!stored) return null;
      if (typeof hash === 'string' && hash !== '' && hash !== stored.view.hash)
        return { ok: false, error: 'hash_conflict' };
      stored.view = { ...view, id: stored.id };
      stored.errors = {};
      emit({ type: 'view', user: stored.user });
      return { ok: true, stored };
    },
    closeView(user, viewId, options = {}) {
      const stack = stacks.get(user) ?? [];
      const i = stack.findIndex((v) => v.id === viewId);
      if (i < 0) return;
      stacks.set(user, options.all ? [] : stack.slice(0, i));
      emit({ type: 'view', user });
    },
    setViewErrors(viewId, errors) {
      const stored = allViews().find((v) => v.id === viewId);
      if (!stored) return;
      stored.errors = errors;
      emit({ type: 'view', user: stored.user });
    },
    viewStack(user) {
      return [...(stacks.get(user) ?? [])];
    },
    findView(viewId) {
      return allViews().find((v) => v.id === viewId);
    },
  };
}
