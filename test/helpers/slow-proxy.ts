// A TCP proxy on 127.0.0.1 that holds every chunk, in both directions, for `delayMs` before passing it on,
// preserving order. Point a second pgsessions cluster at it to make "the database is slow" real: every
// round trip to PostgreSQL then costs 2 × delayMs.
import { createServer, connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

export interface SlowProxy {
  port: number;
  /** Applies to chunks that arrive from now on. */
  delayMs: number;
  /**
   * Holds only what matches: a chunk on its way to the server whose text matches `pattern` (say, the one
   * statement that signals) waits `ms` more, and so does everything after it on that connection, in order.
   * Other connections (reads, the watcher) pass at `delayMs`. Null: nothing is held. Applies from now on.
   */
  hold: { pattern: RegExp; ms: number } | null;
  /** How many chunks `hold` has matched so far (a test waits for the statement to be held in flight). */
  held: number;
  close(): Promise<void>;
}

/** listenPort: a fixed port, to bring a "cluster" back at the same address after close(). */
export async function startSlowProxy(targetPort: number, delayMs: number, listenPort = 0): Promise<SlowProxy> {
  const sockets = new Set<Socket>();
  const timers = new Set<NodeJS.Timeout>();
  const proxy: SlowProxy = { port: 0, delayMs, hold: null, held: 0, close: async () => undefined };

  // Release times never go backwards, so a change of delay cannot reorder bytes.
  const pipeDelayed = (from: Socket, to: Socket, toServer: boolean) => {
    let lastRelease = 0;
    from.on('data', (chunk: Buffer) => {
      const hold = toServer && proxy.hold?.pattern.test(chunk.toString('latin1')) ? proxy.hold.ms : 0;
      if (hold > 0) proxy.held++;
      const release = Math.max(Date.now() + proxy.delayMs + hold, lastRelease);
      lastRelease = release;
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!to.destroyed) to.write(chunk);
      }, release - Date.now());
      timers.add(timer);
    });
    from.on('end', () => {
      const timer = setTimeout(
        () => {
          timers.delete(timer);
          to.end();
        },
        Math.max(0, lastRelease - Date.now()),
      );
      timers.add(timer);
    });
  };

  const server = createServer((client) => {
    const upstream = connect({ host: '127.0.0.1', port: targetPort });
    sockets.add(client);
    sockets.add(upstream);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    pipeDelayed(client, upstream, true);
    pipeDelayed(upstream, client, false);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listenPort, '127.0.0.1', () => resolve());
  });
  proxy.port = (server.address() as AddressInfo).port;
  proxy.close = async () => {
    for (const timer of timers) clearTimeout(timer);
    timers.clear();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return proxy;
}
