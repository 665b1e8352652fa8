// A local stand-in for Slack's Web API and for `response_url`s: point `SLACK_API_URL` at `url`, put
// `responseUrl()` into payloads, then assert on what the app called. Answers look like Slack's, faults are
// injected per method, and nothing ever leaves 127.0.0.1. It is the test suite's recorder and the
// playground's Slack at once: what the app posts is also kept as Slack would show it (`workspace`).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseQuery } from 'node:querystring';
import { BOT_USER, createWorkspace, type ResponseContext, type SlackWorkspace } from './slack-workspace.js';
import { refusalOf, type Refusal } from './slack-refusals.js';

export type { ResponseContext, SlackWorkspace, StoredMessage, StoredView, WorkspaceEvent } from './slack-workspace.js';

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  /** From `Authorization: Bearer …`, else a `token` parameter, else null. */
  token: string | null;
  at: number;
  /** The fault this call was answered with, when one was injected. */
  fault?: Fault;
  /** Why the stand-in refused the call as Slack would (a payload over Slack's limits), when it did. */
  refused?: Refusal;
}

export interface RecordedResponse {
  id: string;
  body: unknown;
  at: number;
  /** Why the stand-in refused the post as Slack would, when it did. */
  refused?: Refusal;
}

/**
 * What to answer instead of the default, for the next n calls of a method:
 * `{ status: 500 }` an HTTP error; `{ status: 429, retryAfter }` rate limited with a `Retry-After` header;
 * `{ error }` HTTP 200 with `ok: false` and any error Slack documents (`not_in_channel`, `expired_trigger_id`,
 * `message_not_found`…); `{ status: 404, error }` an HTTP error with that body, as a dead `response_url`
 * answers (`expired_url`, `used_url`); `{ delayMs }` the normal answer, late.
 */
export type Fault =
  | { status: 500 | 502 | 503 }
  | { status: 429; retryAfter: number }
  | { status: 400 | 403 | 404 | 410; error: string }
  | { error: string }
  | { delayMs: number };

/**
 * A custom answer for a method; return the JSON body (include `ok`), a promise of it (to answer late), or
 * undefined for the default answer (to change the answer for some calls only, say one channel).
 */
export type MethodHandler = (
  params: Record<string, unknown>,
  call: RecordedCall,
) => Record<string, unknown> | undefined | Promise<Record<string, unknown> | undefined>;

export interface SlackUser {
  id: string;
  name?: string;
  real_name?: string;
  is_bot?: boolean;
  deleted?: boolean;
  tz?: string;
  /** The person's workspace (default T1, the test workspace). */
  team_id?: string;
  /** A multi-channel guest. */
  is_restricted?: boolean;
  /** A single-channel guest. */
  is_ultra_restricted?: boolean;
}

/** A message as conversations.history answers it. */
export interface HistoryMessage {
  type: 'message';
  ts: string;
  text: string;
  user?: string;
  bot_id?: string;
  subtype?: string;
  blocks?: unknown;
  thread_ts?: string;
}

export interface WaitForOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Named in the timeout error. */
  description?: string;
}

export interface SlackApi {
  /** Base URL for `SLACK_API_URL`, ending with `/api/`. */
  url: string;
  /** `http://127.0.0.1:PORT`, without a path. */
  origin: string;
  calls: RecordedCall[];
  responses: RecordedResponse[];
  /** User-group id → member user ids, answered by `usergroups.users.list`. */
  usergroups: Record<string, string[]>;
  /** User id → user, answered by `users.info` (unknown ids get a plausible default user). */
  users: Record<string, SlackUser>;
  callsTo(method: string): RecordedCall[];
  /** Calls and response_url posts refused as Slack would refuse them (invalid_blocks, invalid_arguments, msg_too_long). */
  refusals(): Array<{ method: string; refused: Refusal }>;
  responsesTo(id: string): RecordedResponse[];
  /** Answer the next n calls of `method` with `fault`. Use method `response_url` for response URLs. */
  failNext(method: string, n: number, fault: Fault): void;
  /** Replace the default answer of one method (until reset()). */
  handle(method: string, handler: MethodHandler): void;
  /**
   * A URL on this server to use as a payload's `response_url`. With `context` (who clicked or typed, where),
   * what the app posts to it also lands in `workspace` as Slack would show it.
   */
  responseUrl(id?: string, context?: ResponseContext): string;
  /** The channels, threads, ephemerals and modals as Slack would show them (its messages are cleared by reset(); views are kept). */
  workspace: SlackWorkspace;
  /** A fresh message ts (increasing), for messages posted beside the app's (the playground's Slackbot). */
  nextTs(): string;
  waitFor<T>(fn: () => T | undefined | null | false, options?: WaitForOptions): Promise<T>;
  /** Messages in a channel, oldest first, thread replies included (conversations.history leaves those out). */
  history(channel: string): HistoryMessage[];
  /** Put a message into a channel as someone else posted it (ts assigned when missing); returns its ts. */
  addMessage(channel: string, message: Omit<HistoryMessage, 'type' | 'ts'> & { ts?: string }): string;
  /** Forget calls, responses, faults, handlers, user groups, users and channel messages; keep the port. */
  reset(): void;
  close(): Promise<void>;
}

const API_PREFIX = '/api/';
const RESPONSE_PREFIX = '/response/';
const RESPONSE_URL_METHOD = 'response_url';
// @slack/web-api JSON-encodes objects and arrays (blocks, view, metadata…) inside form bodies; we decode any
// value that looks like JSON, except these, which are free text even when they start with `{` or `[`.
const TEXT_FIELDS = new Set(['text', 'markdown_text', 'query', 'name', 'description']);

// Web API methods with an answer of their own below; Slack answers any other name with `unknown_method`.
const KNOWN_METHODS = new Set([
  'auth.test',
  'chat.postMessage',
  'chat.update',
  'chat.postEphemeral',
  'chat.delete',
  'views.open',
  'views.push',
  'views.update',
  'usergroups.users.list',
  'users.info',
  'conversations.info',
  'conversations.history',
]);

export interface StandInOptions {
  /** Listen here instead of a free port (always on 127.0.0.1). */
  port?: number;
  /** Where a call the stand-in does not implement is reported (default: stderr), so a developer notices. */
  log?: (line: string) => void;
  /**
   * Answer chat.update / chat.delete of a message it does not hold with `message_not_found`, as Slack does
   * (the playground). Off by default: tests may update a message they never posted and expect `ok`.
   */
  strict?: boolean;
  /**
   * A per-run secret (the playground): every request must carry it as the first path segment, and name the
   * stand-in's own address as its Host, or it gets 403. A web page or another local user cannot reach it.
   */
  token?: string;
}

export async function startSlackApi(options: StandInOptions = {}): Promise<SlackApi> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const tokenPath = options.token ? `/${encodeURIComponent(options.token)}` : '';
  const workspace = createWorkspace();
  const responseContexts = new Map<string, ResponseContext>();
  const calls: RecordedCall[] = [];
  const responses: RecordedResponse[] = [];
  const faults = new Map<string, Fault[]>();
  const handlers = new Map<string, MethodHandler>();
  const timers = new Set<NodeJS.Timeout>();
  let viewCounter = 0;
  let responseCounter = 0;

  const api: SlackApi = {
    url: '',
    origin: '',
    calls,
    responses,
    usergroups: {},
    users: {},
    callsTo: (method) => calls.filter((c) => c.method === method),
    refusals: () => [
      ...calls.flatMap((c) => (c.refused ? [{ method: c.method, refused: c.refused }] : [])),
      ...responses.flatMap((r) => (r.refused ? [{ method: RESPONSE_URL_METHOD, refused: r.refused }] : [])),
    ],
    responsesTo: (id) => responses.filter((r) => r.id === id),
    failNext(method, n, fault) {
      const queue = faults.get(method) ?? [];
      for (let i = 0; i < n; i++) queue.push(fault);
      faults.set(method, queue);
    },
    handle(method, handler) {
      handlers.set(method, handler);
    },
    workspace,
    nextTs: () => nextTs(),
    responseUrl(id, context) {
      const name = id ?? `r${++responseCounter}`;
      if (context) responseContexts.set(name, context);
      return `${api.origin}${tokenPath}${RESPONSE_PREFIX}${encodeURIComponent(name)}`;
    },
    async waitFor(fn, options = {}) {
      const { timeoutMs = 5000, intervalMs = 10, description } = options;
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const value = fn();
        if (value) return value;
        if (Date.now() >= deadline) {
          const methods = calls.map((c) => c.method + (c.fault ? ` (fault ${JSON.stringify(c.fault)})` : ''));
          throw new Error(
            `waitFor${description ? ` (${description})` : ''} timed out after ${timeoutMs} ms. ` +
              `Web API calls so far: ${methods.length ? methods.join(', ') : 'none'}; ` +
              `response_url posts: ${responses.length ? responses.map((r) => r.id).join(', ') : 'none'}`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, intervalMs));
      }
    },
    history(channel) {
      return workspace.messages
        .filter((m) => m.channel === channel && m.visibleTo === undefined)
        .sort((a, b) => Number(a.ts) - Number(b.ts))
        .map((m) => ({
          type: 'message' as const,
          ts: m.ts,
          text: m.text,
          user: m.user,
          ...(m.user === BOT_USER ? { subtype: 'bot_message', bot_id: 'BBOT' } : {}),
          blocks: m.blocks,
          ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
        }));
    },
    addMessage(channel, message) {
      const ts = message.ts ?? nextTs();
      workspace.post({
        channel,
        ts,
        text: message.text,
        blocks: Array.isArray(message.blocks) ? message.blocks : [],
        user: message.user ?? 'UMEMBER',
        ...(message.thread_ts ? { threadTs: message.thread_ts } : {}),
      });
      return ts;
    },
    reset() {
      workspace.messages.length = 0;
      calls.length = 0;
      responses.length = 0;
      faults.clear();
      handlers.clear();
      for (const key of Object.keys(api.usergroups)) delete api.usergroups[key];
      for (const key of Object.keys(api.users)) delete api.users[key];
    },
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };

  // Message timestamps as Slack makes them: epoch seconds and microseconds, unique and increasing.
  let lastMicros = 0;
  function nextTs(): string {
    lastMicros = Math.max(Date.now() * 1000, lastMicros + 1);
    return `${Math.floor(lastMicros / 1e6)}.${String(lastMicros % 1e6).padStart(6, '0')}`;
  }

  function takeFault(method: string): Fault | undefined {
    const queue = faults.get(method);
    if (!queue || queue.length === 0) return undefined;
    const fault = queue.shift();
    if (queue.length === 0) faults.delete(method);
    return fault;
  }

  function defaultAnswer(method: string, p: Record<string, unknown>): Record<string, unknown> {
    const str = (v: unknown, fallback = ''): string =>
      typeof v === 'string' ? v : v === undefined ? fallback : String(v);
    switch (method) {
      case 'auth.test':
        return {
          ok: true,
          url: 'https://test.slack.com/',
          team: 'Test',
          user: 'pgsessions',
          team_id: 'T1',
          user_id: 'UBOT',
          bot_id: 'BBOT',
          is_enterprise_install: false,
        };
      case 'chat.postMessage': {
        const ts = nextTs();
        const channel = str(p.channel);
        const threadTs = typeof p.thread_ts === 'string' && p.thread_ts !== '' ? p.thread_ts : undefined;
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
      case 'chat.update': {
        const channel = str(p.channel);
        const ts = str(p.ts);
        if (!workspace.update(channel, ts, { text: p.text, blocks: p.blocks }) && options.strict)
          return { ok: false, error: 'message_not_found' };
        return {
          ok: true,
          channel,
          ts,
          text: str(p.text),
          message: {
            type: 'message',
            text: str(p.text),
            user: 'UBOT',
            bot_id: 'BBOT',
            team: 'T1',
            blocks: p.blocks ?? [],
          },
        };
      }
      case 'chat.postEphemeral': {
        const ts = nextTs();
        const threadTs = typeof p.thread_ts === 'string' && p.thread_ts !== '' ? p.thread_ts : undefined;
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
      case 'chat.delete': {
        const channel = str(p.channel);
        const ts = str(p.ts);
        return workspace.remove(channel, ts) || !options.strict
          ? { ok: true, channel, ts }
          : { ok: false, error: 'message_not_found' };
      }
      case 'conversations.history':
        return workspace.history(str(p.channel), p);
      case 'views.open':
      case 'views.push':
      case 'views.update': {
        const given = (typeof p.view === 'object' && p.view !== null ? p.view : {}) as Record<string, unknown>;
        const id =
          method === 'views.update' && typeof p.view_id === 'string'
            ? p.view_id
            : `V${String(++viewCounter).padStart(6, '0')}`;
        const view = {
          id,
          team_id: 'T1',
          type: 'modal',
          blocks: [],
          private_metadata: '',
          callback_id: '',
          external_id: '',
          state: { values: {} },
          hash: `${Date.now()}.hash${viewCounter}`,
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
            ...view,
            hash: `${Date.now()}.hash${++viewCounter}`,
          });
          if (updated && !updated.ok) return { ok: false, error: updated.error };
          if (updated) return { ok: true, view: updated.stored.view };
        } else if (user) {
          const stored = method === 'views.open' ? workspace.openView(user, view) : workspace.pushView(user, view);
          return { ok: true, view: stored.view };
        }
        return { ok: true, view };
      }
      case 'usergroups.users.list': {
        const group = str(p.usergroup);
        const users = api.usergroups[group];
        return users ? { ok: true, users: [...users] } : { ok: false, error: 'no_such_subteam' };
      }
      case 'users.info': {
        const id = str(p.user);
        const known = api.users[id];
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
      case 'conversations.info': {
        const id = str(p.channel);
        return {
          ok: true,
          channel: {
            id,
            name: id.toLowerCase(),
            is_channel: true,
            is_private: false,
            is_archived: false,
            is_member: true,
            created: 1700000000,
          },
        };
      }
      default:
        return { ok: false, error: 'unknown_method', req_method: method };
    }
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    if (res.destroyed) return;
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    res.end(JSON.stringify(body));
  }

  function answer(res: ServerResponse, fault: Fault | undefined, ok: () => unknown): void {
    if (!fault) {
      const body = ok();
      if (body instanceof Promise) {
        body.then(
          (b) => send(res, 200, b),
          (error: unknown) => send(res, 500, { ok: false, error: String(error) }),
        );
        return;
      }
      return send(res, 200, body);
    }
    if ('delayMs' in fault) {
      const timer = setTimeout(() => {
        timers.delete(timer);
        send(res, 200, ok());
      }, fault.delayMs);
      timers.add(timer);
      return;
    }
    if ('error' in fault) return send(res, 'status' in fault ? fault.status : 200, { ok: false, error: fault.error });
    if (fault.status === 429)
      return send(res, 429, { ok: false, error: 'ratelimited' }, { 'retry-after': String(fault.retryAfter) });
    return send(res, fault.status, { ok: false, error: 'internal_error' });
  }

  async function onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // DNS rebinding: only our own address as Host. With a token, only requests that carry it.
    const port = new URL(api.origin).port;
    if (![`127.0.0.1:${port}`, `localhost:${port}`].includes(req.headers.host ?? ''))
      return send(res, 403, { ok: false, error: 'unexpected_host' });
    if (tokenPath && !(req.url ?? '').startsWith(`${tokenPath}/`))
      return send(res, 403, { ok: false, error: 'not_authed' });
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const raw = Buffer.concat(chunks).toString('utf8');
    const url = new URL((req.url ?? '/').slice(tokenPath.length), api.origin);
    const at = Date.now();

    if (url.pathname.startsWith(RESPONSE_PREFIX)) {
      const id = decodeURIComponent(url.pathname.slice(RESPONSE_PREFIX.length));
      let body: unknown = raw;
      try {
        body = JSON.parse(raw);
      } catch {
        // Slack accepts only JSON here; keep the raw text so a test can see what was wrong.
      }
      const refused = refusalOf(
        RESPONSE_URL_METHOD,
        typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : {},
      );
      responses.push({ id, body, at, ...(refused ? { refused } : {}) });
      if (refused) {
        log(`slack stand-in: refused a response_url post as Slack would: ${refused.error}: ${refused.detail}`);
        return send(res, 400, { ok: false, error: refused.error, response_metadata: { messages: [refused.detail] } });
      }
      const fault = takeFault(RESPONSE_URL_METHOD);
      return answer(res, fault, () => {
        const context = responseContexts.get(id);
        if (context) workspace.respond(context, body, nextTs);
        return { ok: true };
      });
    }

    if (!url.pathname.startsWith(API_PREFIX)) return send(res, 404, { ok: false, error: 'unknown_path' });
    const method = url.pathname.slice(API_PREFIX.length);
    const params = parseParams(raw, req.headers['content-type'], url.searchParams);
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null;
    const token = bearer ?? (typeof params.token === 'string' ? params.token : null);
    const fault = takeFault(method);
    const refused = fault ? undefined : refusalOf(method, params);
    const call: RecordedCall = {
      method,
      params,
      token,
      at,
      ...(fault ? { fault } : {}),
      ...(refused ? { refused } : {}),
    };
    calls.push(call);
    if (refused) {
      log(`slack stand-in: refused ${method} as Slack would: ${refused.error}: ${refused.detail}`);
      return send(res, 200, { ok: false, error: refused.error, response_metadata: { messages: [refused.detail] } });
    }
    const handler = handlers.get(method);
    if (!handler && !KNOWN_METHODS.has(method))
      log(`slack stand-in: the app called ${method}, which the stand-in does not implement: answered unknown_method`);
    answer(res, fault, () => {
      if (!handler) return defaultAnswer(method, params);
      const custom = handler(params, call);
      if (custom instanceof Promise) return custom.then((b) => b ?? defaultAnswer(method, params));
      return custom ?? defaultAnswer(method, params);
    });
  }

  const server = createServer((req, res) => {
    onRequest(req, res).catch((error: unknown) => send(res, 500, { ok: false, error: String(error) }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  api.origin = `http://127.0.0.1:${port}`;
  api.url = `${api.origin}${tokenPath}${API_PREFIX}`;
  return api;
}

function parseParams(raw: string, contentType: string | undefined, query: URLSearchParams): Record<string, unknown> {
  const params: Record<string, unknown> = {};
  for (const [k, v] of query) params[k] = v;
  if (raw.length === 0) return params;
  if (contentType?.includes('application/json')) {
    const parsed: unknown = JSON.parse(raw);
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) Object.assign(params, parsed);
    return params;
  }
  for (const [key, value] of Object.entries(parseQuery(raw))) {
    const v = Array.isArray(value) ? value[value.length - 1] : value;
    params[key] = typeof v === 'string' && !TEXT_FIELDS.has(key) ? maybeJson(v) : v;
  }
  return params;
}

function maybeJson(value: string): unknown {
  const first = value.trimStart()[0];
  if (first !== '{' && first !== '[') return value;
  try {
    return JSON.parse(value);
  } catch {
    return value;
  }
}
