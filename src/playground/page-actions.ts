// What a person does on the playground page, sent to the real app exactly as Slack sends it: a slash command,
// a button's block_actions, a modal's view_submission (and its response_action), a modal closed.
import { z } from 'zod';
import { HttpError } from '../domain/errors.js';
import { plainOf } from './block-kit-html.js';
import { parse } from './page-http.js';
import type { PageContext } from './page-context.js';
import {
  blockActionPayload,
  formPayload,
  slashCommandBody,
  triggerId,
  viewSubmissionPayload,
  type ViewStateValues,
} from './slack-requests.js';
import type { StoredView } from './slack-workspace.js';
import { dmChannelOf } from './slack-answers.js';
import type { Directory } from './mrkdwn-html.js';

/** A person may act in every channel, and in their own direct message with the app — never in another's. */
export function mayOpen(channel: string, as: string): boolean {
  return !channel.startsWith('D') || channel === dmChannelOf(as);
}

/** `channel.name` as Slack sends it: a direct message is `directmessage`. */
function channelNameOf(names: Directory, channel: string): string {
  return channel.startsWith('D') ? 'directmessage' : (names.channelName(channel) ?? channel.toLowerCase());
}

export async function command(ctx: PageContext, raw: unknown) {
  const { slack, names, say, nextTs, fresh, sendSigned, personOf } = ctx;
  const { as, channel, text } = parse(ctx.schemas.command, raw);
  if (!mayOpen(channel, as)) throw new HttpError(404, 'no such conversation');
  const trimmed = text.trim();
  const match = /^\/pgsessions(?:\s+([\s\S]*))?$/.exec(trimmed);
  if (!match) {
    if (trimmed.startsWith('/'))
      say(channel, as, `${trimmed.split(/\s/)[0]} is not a valid command. This playground knows /pgsessions.`);
    else if (trimmed !== '')
      slack.workspace.post({
        channel,
        ts: nextTs(),
        text: trimmed.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;'),
        blocks: [],
        user: as,
      });
    return { ok: true };
  }
  const who = personOf(as);
  const trigger = triggerId();
  slack.workspace.bindTrigger(trigger, as);
  const body = slashCommandBody({
    text: (match[1] ?? '').trim(),
    userId: as,
    userName: who.handle,
    channelId: channel,
    channelName: channelNameOf(names, channel),
    responseUrl: slack.responseUrl(fresh('cmd'), { channel, user: as }),
    triggerId: trigger,
  });
  const res = await sendSigned(body);
  if (res?.status !== 200) {
    // What Slack tells the person when the app did not acknowledge in time or answered an error.
    say(channel, as, `/pgsessions failed with the error "${res ? 'dispatch_failed' : 'operation_timeout'}"`);
    return { ok: false, status: res?.status ?? null };
  }
  // An ack may carry a message of its own (Bolt acks with an empty body; keep the rule anyway).
  if (res.json && typeof res.json === 'object') slack.workspace.respond({ channel, user: as }, res.json, nextTs);
  return { ok: true };
}

export async function action(ctx: PageContext, raw: unknown) {
  const { slack, names, fresh, sendSigned, personOf } = ctx;
  const input = parse(ctx.schemas.action, raw);
  const message = mayOpen(input.channel, input.as) ? slack.workspace.find(input.channel, input.ts) : undefined;
  if (!message || (message.visibleTo !== undefined && message.visibleTo !== input.as))
    throw new HttpError(404, 'no such message');
  const block = message.blocks[input.block] as Record<string, unknown> | undefined;
  const element = (
    input.element === 'accessory' ? block?.accessory : (block?.elements as unknown[] | undefined)?.[input.element]
  ) as Record<string, unknown> | undefined;
  if (!block || !element || element.type !== 'button') throw new HttpError(404, 'no such button');
  const who = personOf(input.as);
  const trigger = triggerId();
  slack.workspace.bindTrigger(trigger, input.as);
  const ephemeral = message.visibleTo !== undefined;
  const payload = blockActionPayload({
    userId: input.as,
    userName: who.handle,
    channelId: input.channel,
    channelName: channelNameOf(names, input.channel),
    actionId: String(element.action_id ?? ''),
    value: String(element.value ?? ''),
    text: plainOf(element.text),
    blockId: String(block.block_id ?? `b${input.block}`),
    messageTs: message.ts,
    isEphemeral: ephemeral,
    responseUrl: slack.responseUrl(fresh('act'), { channel: input.channel, user: input.as, messageTs: message.ts }),
    triggerId: trigger,
    ...(ephemeral
      ? {}
      : {
          message: {
            type: 'message',
            subtype: 'bot_message',
            text: message.text,
            user: message.user,
            bot_id: 'BBOT',
            app_id: 'A1',
            blocks: message.blocks,
          },
        }),
  });
  const res = await sendSigned(formPayload(payload));
  if (res?.status !== 200) return { ok: false, status: res?.status ?? null };
  return { ok: true };
}

export async function submit(ctx: PageContext, raw: unknown) {
  const { slack, fresh, sendSigned, personOf } = ctx;
  const input = parse(ctx.schemas.submit, raw);
  const stored = slack.workspace.findView(input.view);
  if (!stored || stored.user !== input.as) throw new HttpError(404, 'no such view');
  const values = stateValues(stored, input.values);
  const v = stored.view;
  const payload = viewSubmissionPayload({
    userId: input.as,
    userName: personOf(input.as).handle,
    callbackId: String(v.callback_id ?? ''),
    privateMetadata: String(v.private_metadata ?? ''),
    values,
    viewId: stored.id,
    title: plainOf(v.title),
    blocks: Array.isArray(v.blocks) ? v.blocks : [],
  });
  const res = await sendSigned(formPayload(payload));
  if (res?.status !== 200) return { ok: false, status: res?.status ?? null };
  const answer = (res.json && typeof res.json === 'object' ? res.json : {}) as Record<string, unknown>;
  switch (answer.response_action) {
    case 'errors':
      slack.workspace.setViewErrors(stored.id, z.record(z.string(), z.string()).catch({}).parse(answer.errors));
      break;
    case 'update':
      slack.workspace.updateView(stored.id, undefined, undefined, {
        ...stored.view,
        ...(answer.view as object),
        hash: fresh('h'),
      });
      break;
    case 'push':
      slack.workspace.pushView(input.as, {
        ...(answer.view as object),
        id: fresh('V').toUpperCase(),
        hash: fresh('h'),
      });
      break;
    case 'clear':
      slack.workspace.closeView(input.as, stored.id, { all: true });
      break;
    default:
      slack.workspace.closeView(input.as, stored.id);
  }
  return { ok: true };
}

export function close(ctx: PageContext, raw: unknown) {
  const { slack } = ctx;
  const input = parse(ctx.schemas.close, raw);
  slack.workspace.closeView(input.as, input.view);
  return { ok: true };
}

/** view.state.values as Slack builds them from what the person filled in. */
function stateValues(stored: StoredView, given: Record<string, Record<string, string | null>>): ViewStateValues {
  const values: ViewStateValues = {};
  const blocks = Array.isArray(stored.view.blocks) ? (stored.view.blocks as Array<Record<string, unknown>>) : [];
  for (const block of blocks) {
    if (block.type !== 'input' || typeof block.element !== 'object' || block.element === null) continue;
    const el = block.element as Record<string, unknown>;
    const blockId = String(block.block_id ?? '');
    const actionId = String(el.action_id ?? '');
    const raw = given[blockId]?.[actionId] ?? null;
    if (el.type === 'plain_text_input') {
      values[blockId] = { [actionId]: { type: 'plain_text_input', value: raw === '' ? null : raw } };
    } else if (el.type === 'radio_buttons') {
      const options = Array.isArray(el.options)
        ? (el.options as Array<{ value?: string; text: { type: 'plain_text'; text: string } }>)
        : [];
      const chosen = options.find((o) => o.value === raw) ?? null;
      values[blockId] = { [actionId]: { type: 'radio_buttons', selected_option: chosen as never } };
    }
  }
  return values;
}
