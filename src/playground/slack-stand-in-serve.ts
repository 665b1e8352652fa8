// The stand-in's HTTP side: who may call it (its own Host, its token), the response_url posts and the Web API
// calls recorded, refused as Slack would refuse them, answered with a fault when one is queued, else with a
// handler the test set or the default answer (slack-answers.ts).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parse as parseQuery } from 'node:querystring';
import { type AnswerContext, defaultAnswer, KNOWN_METHODS } from './slack-answers.js';
import { refusalOf } from './slack-refusals.js';
import type { Fault, MethodHandler, RecordedCall, RecordedResponse, SlackApi } from './slack-stand-in.js';
import type { ResponseContext, SlackWorkspace } from './slack-workspace.js';

export const API_PREFIX = '/api/';
export const RESPONSE_PREFIX = '/response/';
export const RESPONSE_URL_METHOD = 'response_url';
// @slack/web-api JSON-encodes objects and arrays (blocks, view, metadata…) inside form bodies; we decode any
// value that looks like JSON, except these, which are free text even when they start with `{` or `[`.
const TEXT_FIELDS = new Set(['text', 'markdown_text', 'query', 'name', 'description']);

/** One stand-in's state, as its server reads and records it. */
export interface Serving {
  api: SlackApi;
  tokenPath: string;
  workspace: SlackWorkspace;
  answers: AnswerContext;
  calls: RecordedCall[];
  responses: RecordedResponse[];
  faults: Map<string, Fault[]>;
  handlers: Map<string, MethodHandler>;
  timers: Set<NodeJS.Timeout>;
  responseContexts: Map<string, ResponseContext>;
  log: (line: string) => void;
  nextTs(): string;
}

function takeFault(faults: Map<string, Fault[]>, method: string): Fault | undefined {
  const queue = faults.get(method);
  if (!queue || queue.length === 0) return undefined;
  const fault = queue.shift();
  if (queue.length === 0) faults.delete(method);
  return fault;
}

export function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
  res.end(JSON.stringify(body));
}

function answer(timers: Set<NodeJS.Timeout>, res: ServerResponse, fault: Fault | undefined, ok: () => unknown): void {
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

export async function onRequest(serving: Serving, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { api, tokenPath } = serving;
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
    return onResponsePost(serving, res, decodeURIComponent(url.pathname.slice(RESPONSE_PREFIX.length)), raw, at);
  }
  if (!url.pathname.startsWith(API_PREFIX)) return send(res, 404, { ok: false, error: 'unknown_path' });
  const method = url.pathname.slice(API_PREFIX.length);
  const params = parseParams(raw, req.headers['content-type'], url.searchParams);
  const auth = req.headers.authorization;
  const bearer = auth?.startsWith('Bearer ') ? auth.slice('Bearer '.length) : null;
  const token = bearer ?? (typeof params.token === 'string' ? params.token : null);
  return onApiCall(serving, res, { method, params, token, at });
}

/** A post to a response_url: recorded, refused as Slack would, else shown where the context says. */
function onResponsePost(serving: Serving, res: ServerResponse, id: string, raw: string, at: number): void {
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
  serving.responses.push({ id, body, at, ...(refused ? { refused } : {}) });
  if (refused) {
    serving.log(`slack stand-in: refused a response_url post as Slack would: ${refused.error}: ${refused.detail}`);
    return send(res, 400, { ok: false, error: refused.error, response_metadata: { messages: [refused.detail] } });
  }
  const fault = takeFault(serving.faults, RESPONSE_URL_METHOD);
  return answer(serving.timers, res, fault, () => {
    const context = serving.responseContexts.get(id);
    if (context) serving.workspace.respond(context, body, serving.nextTs);
    return { ok: true };
  });
}

/** A Web API call: recorded, refused as Slack would, else answered (a fault, the test's handler, the default). */
function onApiCall(serving: Serving, res: ServerResponse, asked: Omit<RecordedCall, 'fault' | 'refused'>): void {
  const { method, params } = asked;
  const fault = takeFault(serving.faults, method);
  const refused = fault ? undefined : refusalOf(method, params);
  const call: RecordedCall = { ...asked, ...(fault ? { fault } : {}), ...(refused ? { refused } : {}) };
  serving.calls.push(call);
  if (refused) {
    serving.log(`slack stand-in: refused ${method} as Slack would: ${refused.error}: ${refused.detail}`);
    return send(res, 200, { ok: false, error: refused.error, response_metadata: { messages: [refused.detail] } });
  }
  const handler = serving.handlers.get(method);
  if (!handler && !KNOWN_METHODS.has(method))
    serving.log(
      `slack stand-in: the app called ${method}, which the stand-in does not implement: answered unknown_method`,
    );
  const byDefault = () => defaultAnswer(method, params, serving.answers);
  answer(serving.timers, res, fault, () => {
    if (!handler) return byDefault();
    const custom = handler(params, call);
    if (custom instanceof Promise) return custom.then((b) => b ?? byDefault());
    return custom ?? byDefault();
  });
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
