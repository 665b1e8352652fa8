// A local stand-in for Slack's Web API and for `response_url`s: point `SLACK_API_URL` at `url`, put
// `responseUrl()` into payloads, then assert on what the app called. Answers look like Slack's, faults are
// injected per method, and nothing ever leaves 127.0.0.1. It is the test suite's recorder and the
// playground's Slack at once: what the app posts is also kept as Slack would show it (`workspace`).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { BOT_USER, createWorkspace, type ResponseContext, type SlackWorkspace } from './slack-workspace.js';
import type { Refusal } from './slack-refusals.js';
import type { AnswerContext } from './slack-answers.js';
import {
  API_PREFIX,
  onRequest,
  RESPONSE_PREFIX,
  RESPONSE_URL_METHOD,
  type Serving,
  send,
} from './slack-stand-in-serve.js';

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
  const nextTs = tsClock();
  const answers: AnswerContext = {
    workspace,
    strict: options.strict === true,
    nextTs,
    views: { counter: 0 },
    usergroups: {},
    users: {},
  };
  let responseCounter = 0;

  const api: SlackApi = {
    url: '',
    origin: '',
    calls,
    responses,
    usergroups: answers.usergroups,
    users: answers.users,
    callsTo: (method) => calls.filter((c) => c.method === method),
    refusals: () => [
      ...calls.flatMap((c) => (c.refused ? [{ method: c.method, refused: c.refused }] : [])),
      ...responses.flatMap((r) => (r.refused ? [{ method: RESPONSE_URL_METHOD, refused: r.refused }] : [])),
    ],
    responsesTo: (id) => responses.filter((r) => r.id === id),
    failNext: (method, n, fault) =>
      faults.set(method, [...(faults.get(method) ?? []), ...Array.from({ length: n }, () => fault)]),
    handle: (method, handler) => void handlers.set(method, handler),
    workspace,
    nextTs: () => nextTs(),
    responseUrl(id, context) {
      const name = id ?? `r${++responseCounter}`;
      if (context) responseContexts.set(name, context);
      return `${api.origin}${tokenPath}${RESPONSE_PREFIX}${encodeURIComponent(name)}`;
    },
    waitFor: (fn, options) => waitFor(calls, responses, fn, options),
    history: (channel) => historyOf(workspace, channel),
    addMessage: (channel, message) => addMessage(workspace, channel, message, nextTs),
    reset: () => reset(serving),
    async close() {
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      server.closeAllConnections();
      await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
    },
  };

  const serving: Serving = {
    api,
    tokenPath,
    workspace,
    answers,
    calls,
    responses,
    faults,
    handlers,
    timers,
    responseContexts,
    log,
    nextTs,
  };
  const server = createServer((req, res) => {
    onRequest(serving, req, res).catch((error: unknown) => send(res, 500, { ok: false, error: String(error) }));
  });
  api.origin = `http://127.0.0.1:${await listen(server, options.port ?? 0)}`;
  api.url = `${api.origin}${tokenPath}${API_PREFIX}`;
  return api;
}

/** Polls fn until it gives something; on timeout, says which calls and response_url posts came so far. */
async function waitFor<T>(
  calls: RecordedCall[],
  responses: RecordedResponse[],
  fn: () => T | undefined | null | false,
  options: WaitForOptions = {},
): Promise<T> {
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
}

/** Messages in a channel, oldest first, thread replies included. */
function historyOf(workspace: SlackWorkspace, channel: string): HistoryMessage[] {
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
}

/** A message someone else posted (ts assigned when missing); returns its ts. */
function addMessage(
  workspace: SlackWorkspace,
  channel: string,
  message: Omit<HistoryMessage, 'type' | 'ts'> & { ts?: string },
  nextTs: () => string,
): string {
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
}

/** Message timestamps as Slack makes them: epoch seconds and microseconds, unique and increasing. */
function tsClock(): () => string {
  let lastMicros = 0;
  return () => {
    lastMicros = Math.max(Date.now() * 1000, lastMicros + 1);
    return `${Math.floor(lastMicros / 1e6)}.${String(lastMicros % 1e6).padStart(6, '0')}`;
  };
}

/** Forget calls, responses, faults, handlers, user groups, users and channel messages; keep the port. */
function reset({ workspace, calls, responses, faults, handlers, answers }: Serving): void {
  workspace.messages.length = 0;
  calls.length = 0;
  responses.length = 0;
  faults.clear();
  handlers.clear();
  for (const key of Object.keys(answers.usergroups)) delete answers.usergroups[key];
  for (const key of Object.keys(answers.users)) delete answers.users[key];
}

/** Listens on 127.0.0.1 only; returns the port. */
async function listen(server: Server, port: number): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return (server.address() as AddressInfo).port;
}
