// The App Home on the playground page, sent to the real app as Slack sends it: opening the tab posts a signed
// `app_home_opened` event (JSON, tab home), and a button on it a signed `block_actions` whose container is the
// view. Only the person's own Home: its view id must be the one the app published for them.
import { HttpError } from '../domain/errors.js';
import { plainOf } from './block-kit-html.js';
import type { PageContext } from './page-context.js';
import { parse } from './page-http.js';
import { dmChannelOf } from './slack-answers.js';
import { appHomeOpenedEvent, viewActionPayload } from './slack-event-requests.js';
import { formPayload, JSON_CONTENT_TYPE, postSigned } from './slack-requests.js';

/** Slack gives an app 3 seconds to acknowledge an event too. */
const ACK_TIMEOUT_MS = 3_000;

export async function openHome(ctx: PageContext, raw: unknown) {
  const { as } = parse(ctx.schemas.home, raw);
  const view = ctx.slack.workspace.homeOf(as);
  const event = appHomeOpenedEvent({ userId: as, channelId: dmChannelOf(as), tab: 'home', ...(view ? { view } : {}) });
  const res = await postSigned(
    ctx.options.app.port,
    ctx.options.app.signingSecret,
    JSON.stringify(event),
    JSON_CONTENT_TYPE,
    { timeoutMs: ACK_TIMEOUT_MS },
  ).catch(() => null);
  if (res?.status !== 200) return { ok: false, status: res?.status ?? null };
  return { ok: true };
}

export async function homeAction(ctx: PageContext, raw: unknown) {
  const input = parse(ctx.schemas.homeAction, raw);
  const view = ctx.slack.workspace.homeOf(input.as);
  if (!view || String(view.id) !== input.view) throw new HttpError(404, 'no such view');
  const blocks = Array.isArray(view.blocks) ? view.blocks : [];
  const block = blocks[input.block] as Record<string, unknown> | undefined;
  const element = (
    input.element === 'accessory' ? block?.accessory : (block?.elements as unknown[] | undefined)?.[input.element]
  ) as Record<string, unknown> | undefined;
  if (!block || !element || element.type !== 'button') throw new HttpError(404, 'no such button');
  const payload = viewActionPayload({
    userId: input.as,
    userName: ctx.personOf(input.as).handle,
    view,
    actionId: String(element.action_id ?? ''),
    value: String(element.value ?? ''),
    blockId: String(block.block_id ?? `b${input.block}`),
    text: plainOf(element.text),
  });
  const res = await ctx.sendSigned(formPayload(payload));
  if (res?.status !== 200) return { ok: false, status: res?.status ?? null };
  return { ok: true };
}
