// GET /healthz and GET /metrics: the handlers Bolt's receiver mounts on PORT, and a small server of their
// own for METRICS_PORT (so the metrics need not be reachable where Slack's requests arrive). Both answer
// from what the composition root caches: scraping them often costs the database nothing more.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Probes {
  health(): Promise<boolean>;
  metrics: { render(): Promise<{ contentType: string; body: string }> };
}

export type ProbeHandler = (req: IncomingMessage, res: ServerResponse) => void;

export function probeHandlers(probes: Probes): { health: ProbeHandler; metrics: ProbeHandler } {
  return {
    health: (_req, res) => {
      probes.health().then(
        (healthy) => {
          res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: healthy }));
        },
        () => {
          res.writeHead(503, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false }));
        },
      );
    },
    metrics: (_req, res) => {
      probes.metrics.render().then(
        ({ contentType, body }) => {
          res.writeHead(200, { 'content-type': contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    },
  };
}

export interface ProbeServer {
  port: number;
  close(): Promise<void>;
}

/** Serves GET /metrics and GET /healthz on `port` (0 picks a free one); anything else 404, bodies unread. */
export async function startProbeServer(port: number, probes: Probes): Promise<ProbeServer> {
  const handlers = probeHandlers(probes);
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/metrics') return handlers.metrics(req, res);
    if (req.method === 'GET' && path === '/healthz') return handlers.health(req, res);
    res.writeHead(404, { connection: 'close' });
    res.end();
  });
  server.requestTimeout = 10_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/**
 * `fn`, asked at most once per `ttlMs`: callers within that time share the last answer (or failure), and
 * callers while it runs share the run. A scrape every 100 ms still queries the database once per ttl.
 */
export function cachedFor<T>(ttlMs: number, fn: () => Promise<T>, now: () => number = Date.now): () => Promise<T> {
  let last: { at: number; value: Promise<T> } | null = null;
  let running: Promise<T> | null = null;
  return () => {
    if (running) return running;
    if (last && now() - last.at < ttlMs) return last.value;
    const value = fn();
    running = value;
    const settle = () => {
      running = null;
      last = { at: now(), value };
    };
    value.then(settle, settle);
    return value;
  };
}
