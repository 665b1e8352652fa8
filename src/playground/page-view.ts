// What one person sees on the playground page, rendered to HTML from what the stand-in holds: a channel's
// messages (ephemerals only for their person, "Only visible to you"), a thread, and the top modal. Pure.
import { renderBlocks, textObject, type RenderContext } from './block-kit-html.js';
import { escapeHtml, mrkdwnToHtml, type Directory } from './mrkdwn-html.js';
import type { SlackWorkspace, StoredMessage, StoredView } from './slack-workspace.js';

export interface ViewInput {
  workspace: SlackWorkspace;
  viewer: string;
  names: Directory;
  now?: Date;
}

export interface Html {
  html: string;
  unsupported: string[];
}

function messageHtml(m: StoredMessage, input: ViewInput, options: { replies?: number; inThread: boolean }): Html {
  const ctx: RenderContext = {
    names: input.names,
    idPrefix: `m${m.ts.replace('.', '_')}`,
    ...(input.now ? { now: input.now } : {}),
  };
  const author = input.names.userName(m.user) ?? m.user;
  const isBot = m.user === 'UBOT';
  const rendered =
    m.blocks.length > 0
      ? renderBlocks(m.blocks, ctx)
      : { html: `<div class="bk-text">${mrkdwnToHtml(m.text, ctx)}</div>`, unsupported: [] };
  const ephemeral = m.visibleTo !== undefined;
  const replies = options.replies ?? 0;
  const thread =
    !options.inThread && replies > 0
      ? `<button type="button" class="replies" data-thread="${escapeHtml(m.ts)}">${replies} ${replies === 1 ? 'reply' : 'replies'}</button>`
      : '';
  const html =
    `<article class="msg${ephemeral ? ' ephemeral' : ''}" aria-label="Message from ${escapeHtml(author)}" data-channel="${escapeHtml(m.channel)}" data-ts="${escapeHtml(m.ts)}">` +
    (ephemeral ? '<p class="only-you">👁 Only visible to you</p>' : '') +
    `<header><strong class="author">${escapeHtml(author)}</strong>${isBot ? ' <span class="app-badge">APP</span>' : ''} ` +
    `<time class="msg-time" datetime="${new Date(m.postedAt).toISOString()}"></time>` +
    `${m.editedAt ? ' <span class="edited">(edited)</span>' : ''}</header>` +
    `<div class="blocks">${rendered.html}</div>${thread}</article>`;
  return { html, unsupported: rendered.unsupported };
}

function join(parts: Html[]): Html {
  return { html: parts.map((p) => p.html).join(''), unsupported: [...new Set(parts.flatMap((p) => p.unsupported))] };
}

/** A channel's top-level messages, oldest first. */
export function renderChannel(channel: string, input: ViewInput): Html {
  const messages = input.workspace.visible(channel, input.viewer);
  if (messages.length === 0)
    return { html: '<p class="empty">No messages yet. Type <code>/pgsessions</code> below.</p>', unsupported: [] };
  return join(
    messages.map((m) =>
      messageHtml(m, input, { replies: input.workspace.replyCount(channel, m.ts, input.viewer), inThread: false }),
    ),
  );
}

/** A thread: the parent, then its replies. */
export function renderThread(channel: string, threadTs: string, input: ViewInput): Html {
  return join(
    input.workspace.visible(channel, input.viewer, threadTs).map((m) => messageHtml(m, input, { inThread: true })),
  );
}

/** The top view of the person's modal stack, as a dialog named by its title. */
export function renderModal(view: StoredView, input: ViewInput): Html {
  const v = view.view;
  const ctx: RenderContext = {
    names: input.names,
    idPrefix: `v${view.id}`,
    errors: view.errors,
    ...(input.now ? { now: input.now } : {}),
  };
  const body = renderBlocks(v.blocks, ctx);
  const titleId = `v${view.id}-title`;
  const submit = v.submit ? `<button type="submit" class="btn btn-primary">${textObject(v.submit, ctx)}</button>` : '';
  const close = `<button type="button" class="btn" data-close>${v.close ? textObject(v.close, ctx) : 'Close'}</button>`;
  const html =
    `<div class="modal-backdrop"><form class="modal" role="dialog" aria-modal="true" aria-labelledby="${titleId}" data-view="${escapeHtml(view.id)}" data-hash="${escapeHtml(String(v.hash ?? ''))}" novalidate>` +
    `<h2 id="${titleId}">${textObject(v.title, ctx)}</h2><div class="modal-body">${body.html}</div>` +
    `<footer>${close}${submit}</footer></form></div>`;
  return { html, unsupported: body.unsupported };
}

/** A person's Home tab as the app last published it (views.publish), or what Slack shows before it did. */
export function renderHome(view: Record<string, unknown> | undefined, input: ViewInput): Html & { id: string | null } {
  if (!view) {
    return {
      id: null,
      html: '<section class="home" aria-label="Home"><p class="empty">pgsessions has not published a Home for you yet.</p></section>',
      unsupported: [],
    };
  }
  const id = String(view.id ?? '');
  const ctx: RenderContext = { names: input.names, idPrefix: `h${id}`, ...(input.now ? { now: input.now } : {}) };
  const body = renderBlocks(view.blocks, ctx);
  return {
    id,
    html: `<section class="home" aria-label="Home" data-view="${escapeHtml(id)}">${body.html}</section>`,
    unsupported: body.unsupported,
  };
}
