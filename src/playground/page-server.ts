// The playground page on 127.0.0.1: plain HTML/CSS/JS, the state one person sees (rendered by page-view),
// live updates over server-sent events, and the person's actions sent to the real app exactly as Slack
// sends them — signed slash commands, block_actions and view_submissions with response URLs and trigger ids
// served by the stand-in. Only same-origin JSON posts are accepted: a web page elsewhere cannot drive it.
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { HttpError } from '../domain/errors.js';
import { plainOf } from './block-kit-html.js';
import type { Directory } from './mrkdwn-html.js';
import { renderChannel, renderModal, renderThread, type ViewInput } from './page-view.js';
import { BOT_NAME, SLACKBOT, type Person } from './people.js';
import type { SlackApi } from './slack-stand-in.js';
import {
  blockActionPayload,
  FORM_CONTENT_TYPE,
  formPayload,
  postSigned,
  slashCommandBody,
  triggerId,
  viewSubmissionPayload,
  type ViewStateValues,
} from './slack-requests.js';
import type { StoredView } from './slack-workspace.js';

/** Slack gives an app 3 seconds to acknowledge. */
const ACK_TIMEOUT_MS = 3_000;
const MAX_BODY_BYTES = 64 * 1024;
const STATIC: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/page.js': { file: 'page.js', type: 'text/javascript; charset=utf-8' },
  '/page.css': { file: 'page.css', type: 'text/css; charset=utf-8' },
};

export interface Banner {
  /** `demo`: the embedded incident; `existing`: DATABASE_URL. */
  mode: 'demo' | 'existing';
  readOnly: boolean;
  /** Where the sessions come from, without a password. */
  target: string;
}

export interface PageServerOptions {
  port: number;
  slack: SlackApi;
  app: { port: number; signingSecret: string };
  people: readonly Person[];
  /** Channel id → name for the channels the page always shows (others appear when the app posts there). */
  channels: Record<string, string>;
  banner: Banner;
  reset?: () => Promise<void>;
  log: (line: string) => void;
}

export interface PageServer {
  url: string;
  port: number;
  close(): Promise<void>;
}

const channelId = z.string().regex(/^[CGD][A-Z0-9]{1,30}$/);
const tsSchema = z.string().regex(/^\d{1,12}\.\d{1,8}$/);
const position = z.object({
  block: z.number().int().min(0).max(200),
  element: z.union([z.number().int().min(0).max(100), z.literal('accessory')]),
});

export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const { slack, people } = options;
  const dir = new URL('./page/', import.meta.url);
  const files = Object.fromEntries(
    await Promise.all(
      Object.entries(STATIC).map(
        async ([path, { file }]) => [path, await readFile(new URL(file, dir), 'utf8')] as const,
      ),
    ),
  );
  const person = z.enum(people.map((p) => p.id) as [string, ...string[]]);
  const personOf = (id: string) => people.find((p) => p.id === id)!;

  for (const p of people) slack.users[p.id] = { id: p.id, name: p.handle, real_name: p.name };
  const names: Directory = {
    userName: (id) =>
      id === 'UBOT'
        ? BOT_NAME
        : id === SLACKBOT
          ? 'Slackbot'
          : (people.find((p) => p.id === id)?.name ?? slack.users[id]?.real_name),
    channelName: (id) => options.channels[id] ?? id.toLowerCase(),
  };
  const reported = new Set<string>();
  const noteUnsupported = (types: string[]) => {
    for (const t of types) {
      if (reported.has(t)) continue;
      reported.add(t);
      options.log(`playground page: the app sent ${t}, which the page does not render yet`);
    }
  };

  // ---- reading -----------------------------------------------------------------------------------------
  function state(query: URLSearchParams) {
    // A first visit names nobody yet: it sees what the first person sees.
    const viewer = person.safeParse(query.get('as') || people[0]!.id);
    if (!viewer.success) throw new HttpError(400, 'as: not a person of this playground');
    const known = Object.entries(options.channels).map(([id, name]) => ({ id, name }));
    const others = slack.workspace
      .channels()
      .filter((id) => !(id in options.channels))
      .map((id) => ({ id, name: id.toLowerCase() }));
    const channels = [...known, ...others];
    const asked = channelId.safeParse(query.get('channel'));
    const channel = asked.success ? asked.data : channels[0]!.id;
    const input: ViewInput = { workspace: slack.workspace, viewer: viewer.data, names };
    const timeline = renderChannel(channel, input);
    const threadTs = tsSchema.safeParse(query.get('thread'));
    const thread = threadTs.success ? renderThread(channel, threadTs.data, input) : null;
    const top = slack.workspace.viewStack(viewer.data).at(-1);
    const modal = top ? renderModal(top, input) : null;
    noteUnsupported([...timeline.unsupported, ...(thread?.unsupported ?? []), ...(modal?.unsupported ?? [])]);
    return {
      people: people.map((p) => ({ id: p.id, name: p.name, part: p.part })),
      channels,
      channel,
      banner: options.banner,
      canReset: options.reset !== undefined,
      timeline: timeline.html,
      thread: thread ? { ts: threadTs.data, html: thread.html } : null,
      modal: modal && top ? { id: top.id, hash: String(top.view.hash ?? ''), html: modal.html } : null,
    };
  }

  // ---- acting as Slack ---------------------------------------------------------------------------------
  const say = (channel: string, user: string, text: string) =>
    slack.workspace.post({ channel, ts: nextTs(), text, blocks: [], user: SLACKBOT, visibleTo: user });
  const nextTs = () => slack.nextTs();
  const fresh = (prefix: string) => `${prefix}-${randomBytes(6).toString('hex')}`;
  const sendSigned = async (body: string) => {
    try {
      return await postSigned(options.app.port, options.app.signingSecret, body, FORM_CONTENT_TYPE, {
        timeoutMs: ACK_TIMEOUT_MS,
      });
    } catch {
      return null;
    }
  };

  const commandInput = z.object({ as: person, channel: channelId, text: z.string().max(4000) });
  async function command(raw: unknown) {
    const { as, channel, text } = parse(commandInput, raw);
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
      channelName: names.channelName(channel) ?? channel.toLowerCase(),
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

  const actionInput = z.object({ as: person, channel: channelId, ts: tsSchema }).and(position);
  async function action(raw: unknown) {
    const input = parse(actionInput, raw);
    const message = slack.workspace.find(input.channel, input.ts);
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
      channelName: names.channelName(input.channel) ?? input.channel.toLowerCase(),
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

  const valuesInput = z.record(z.string().max(255), z.record(z.string().max(255), z.string().max(10_000).nullable()));
  const submitInput = z.object({ as: person, view: z.string().max(64), values: valuesInput });
  async function submit(raw: unknown) {
    const input = parse(submitInput, raw);
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

  const closeInput = z.object({ as: person, view: z.string().max(64) });
  function close(raw: unknown) {
    const input = parse(closeInput, raw);
    slack.workspace.closeView(input.as, input.view);
    return { ok: true };
  }

  // ---- live updates ----------------------------------------------------------------------------------
  const streams = new Set<ServerResponse>();
  let pending: NodeJS.Timeout | undefined;
  const off = slack.workspace.on(() => {
    // Coalesce bursts (an approval updates, replies and audits at once) into one refresh.
    pending ??= setTimeout(() => {
      pending = undefined;
      for (const res of streams) res.write('event: change\ndata: {}\n\n');
    }, 30);
  });
  const heartbeat = setInterval(() => {
    for (const res of streams) res.write(': keep-alive\n\n');
  }, 15_000);
  heartbeat.unref();

  // ---- HTTP ------------------------------------------------------------------------------------------
  let origin = '';
  const allowedHosts = () => [origin.replace('http://', ''), origin.replace('http://127.0.0.1', 'localhost')];
  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: only our own host names. Cross-site posts: only same-origin JSON.
    if (!allowedHosts().includes(req.headers.host ?? '')) throw new HttpError(403, 'unexpected Host');
    const url = new URL(req.url ?? '/', origin);
    if (req.method === 'GET') {
      const file = STATIC[url.pathname];
      if (file) return send(res, 200, files[url.pathname]!, file.type);
      if (url.pathname === '/favicon.ico') return send(res, 204, '', 'image/x-icon');
      if (url.pathname === '/ui/state') return sendJson(res, 200, state(url.searchParams));
      if (url.pathname === '/events') {
        res.writeHead(200, {
          'content-type': 'text/event-stream',
          'cache-control': 'no-store',
          connection: 'keep-alive',
        });
        res.write('retry: 1000\n\n');
        streams.add(res);
        req.on('close', () => streams.delete(res));
        return;
      }
      throw new HttpError(404, 'not found');
    }
    if (req.method !== 'POST') throw new HttpError(405, 'method not allowed');
    const from = req.headers.origin;
    if (from !== undefined && from !== origin && from !== `http://${allowedHosts()[1]}`)
      throw new HttpError(403, 'cross-origin request refused');
    if (!(req.headers['content-type'] ?? '').startsWith('application/json')) throw new HttpError(415, 'JSON only');
    const body = await readJson(req);
    switch (url.pathname) {
      case '/ui/command':
        return sendJson(res, 200, await command(body));
      case '/ui/action':
        return sendJson(res, 200, await action(body));
      case '/ui/submit':
        return sendJson(res, 200, await submit(body));
      case '/ui/close':
        return sendJson(res, 200, close(body));
      case '/ui/reset':
        if (!options.reset) throw new HttpError(404, 'nothing to reset: the playground is watching an existing server');
        await options.reset();
        return sendJson(res, 200, { ok: true });
      default:
        throw new HttpError(404, 'not found');
    }
  }

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (error instanceof HttpError) return sendJson(res, error.status, { ok: false, error: error.message });
      options.log(`playground page: ${(error as Error).message}`);
      sendJson(res, 500, { ok: false, error: 'the playground failed; see its terminal' });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  return {
    url: `${origin}/`,
    port,
    async close() {
      off();
      clearInterval(heartbeat);
      if (pending) clearTimeout(pending);
      for (const res of streams) res.end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
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

function parse<T>(schema: z.ZodType<T>, raw: unknown): T {
  const parsed = schema.safeParse(raw);
  if (!parsed.success)
    throw new HttpError(
      400,
      `bad request: ${parsed.error.issues.map((i) => i.path.join('.') || i.message).join(', ')}`,
    );
  return parsed.data;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) throw new HttpError(413, 'too large');
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'too large');
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, 'not JSON');
  }
}

function send(res: ServerResponse, status: number, body: string, type: string): void {
  res.writeHead(status, {
    'content-type': type,
    'cache-control': 'no-store',
    // Everything the page needs is its own; nothing from elsewhere runs or loads.
    'content-security-policy':
      "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'",
    'x-content-type-options': 'nosniff',
  });
  res.end(body);
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  if (res.headersSent) return;
  send(res, status, JSON.stringify(body), 'application/json; charset=utf-8');
}
