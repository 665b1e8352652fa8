// The playground page on 127.0.0.1: plain HTML/CSS/JS, the state one person sees (rendered by page-view),
// live updates over server-sent events, and the person's actions sent to the real app exactly as Slack
// sends them — signed slash commands, block_actions and view_submissions with response URLs and trigger ids
// served by the stand-in. Only same-origin JSON posts are accepted: a web page elsewhere cannot drive it.
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HttpError } from '../domain/errors.js';
import { action, close, command, submit } from './page-actions.js';
import { createPageContext, type PageContext, pageState } from './page-context.js';
import { homeAction, openHome } from './page-home.js';
import { readJson, send, sendJson } from './page-http.js';
import type { Person } from './people.js';
import type { SlackApi } from './slack-stand-in.js';

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

/** What the request handler needs: the shared context, the static files, the open event streams, our origin. */
interface Page {
  ctx: PageContext;
  files: Record<string, string>;
  streams: Set<ServerResponse>;
  /** http://127.0.0.1:PORT once listening: the only Host and Origin accepted. */
  origin: string;
}

export async function startPageServer(options: PageServerOptions): Promise<PageServer> {
  const dir = new URL('./page/', import.meta.url);
  const files = Object.fromEntries(
    await Promise.all(
      Object.entries(STATIC).map(
        async ([path, { file }]) => [path, await readFile(new URL(file, dir), 'utf8')] as const,
      ),
    ),
  );
  const ctx = createPageContext(options);
  const live = startLiveUpdates(options.slack);
  const page: Page = { ctx, files, streams: live.streams, origin: '' };
  const server: Server = createServer((req, res) => {
    handle(page, req, res).catch((error: unknown) => {
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
  page.origin = `http://127.0.0.1:${port}`;
  return {
    url: `${page.origin}/`,
    port,
    async close() {
      live.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Server-sent events: a `change` whenever the workspace changes (bursts coalesced), a keep-alive every 15 s. */
function startLiveUpdates(slack: SlackApi): { streams: Set<ServerResponse>; close(): void } {
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
  return {
    streams,
    close() {
      off();
      clearInterval(heartbeat);
      if (pending) clearTimeout(pending);
      for (const res of streams) res.end();
    },
  };
}

/** One request to the page: its files, the state, the event stream, and the person's actions. */
async function handle(page: Page, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const { ctx, files, streams, origin } = page;
  const { options } = ctx;
  const allowedHosts = () => [origin.replace('http://', ''), origin.replace('http://127.0.0.1', 'localhost')];
  // DNS rebinding: only our own host names. Cross-site posts: only same-origin JSON.
  if (!allowedHosts().includes(req.headers.host ?? '')) throw new HttpError(403, 'unexpected Host');
  const url = new URL(req.url ?? '/', origin);
  if (req.method === 'GET') {
    const file = STATIC[url.pathname];
    if (file) return send(res, 200, files[url.pathname]!, file.type);
    if (url.pathname === '/favicon.ico') return send(res, 204, '', 'image/x-icon');
    if (url.pathname === '/ui/state') return sendJson(res, 200, pageState(ctx, url.searchParams));
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
      return sendJson(res, 200, await command(ctx, body));
    case '/ui/action':
      return sendJson(res, 200, await action(ctx, body));
    case '/ui/submit':
      return sendJson(res, 200, await submit(ctx, body));
    case '/ui/close':
      return sendJson(res, 200, close(ctx, body));
    case '/ui/home':
      return sendJson(res, 200, await openHome(ctx, body));
    case '/ui/home-action':
      return sendJson(res, 200, await homeAction(ctx, body));
    case '/ui/reset':
      if (!options.reset) throw new HttpError(404, 'nothing to reset: the playground is watching an existing server');
      await options.reset();
      return sendJson(res, 200, { ok: true });
    default:
      throw new HttpError(404, 'not found');
  }
}
