// Request bodies are read here, with a cap, before Bolt sees them: Bolt's HTTPReceiver reads the whole body
// into memory (raw-body, no limit) before it checks the signature, so anyone who can reach the port could
// make the process hold hundreds of MB. Slack's own payloads are a few KB. Three bounds: one body (1 MiB),
// all bodies being read at once (16 MiB, whatever the number of clients), and the time a body may take (10 s).
import type { IncomingMessage, ServerResponse } from 'node:http';

/** 1 MiB: far above any Slack payload (a full modal submission is tens of KB). */
export const MAX_BODY_BYTES = 1024 * 1024;
/** 16 MiB: what all unfinished bodies together may hold. */
export const MAX_IN_FLIGHT_BYTES = 16 * 1024 * 1024;
/** Slack sends a payload in one go and wants the answer within 3 s: a body still arriving after 10 s is not Slack's. */
export const BODY_TIMEOUT_MS = 10_000;

/** Node's own clocks for the same server (http.createServer options): headers and the whole request, in seconds not minutes. */
export const SERVER_TIMEOUTS = {
  headersTimeout: 5_000,
  requestTimeout: 15_000,
  connectionsCheckingInterval: 1_000,
} as const;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

interface Reading {
  size: number;
  refuse(status: 408 | 413): void;
}

/**
 * The bytes held by bodies not yet read to their end, across every request. When a new chunk would take the
 * total over the budget, the reading that holds the most is refused (413) and its bytes let go: slow clients
 * that hoard crowd out each other, while a small, quick request (Slack's) is still read.
 */
export class BodyBudget {
  private readonly readings = new Set<Reading>();
  bytes = 0;
  /** The most ever held at once (for tests and benchmarks: the bytes the app buffered, not RSS). */
  peakBytes = 0;

  constructor(readonly maxBytes: number) {}

  add(reading: Reading): void {
    this.readings.add(reading);
  }

  /** Counts a chunk; false when the reading itself had to make room and is now refused. */
  grow(reading: Reading, n: number): boolean {
    reading.size += n;
    this.bytes += n;
    while (this.bytes > this.maxBytes) {
      let largest = reading;
      for (const r of this.readings) if (r.size > largest.size) largest = r;
      this.release(largest);
      largest.refuse(413);
      if (largest === reading) return false;
    }
    this.peakBytes = Math.max(this.peakBytes, this.bytes);
    return true;
  }

  release(reading: Reading): void {
    if (!this.readings.delete(reading)) return;
    this.bytes -= reading.size;
    reading.size = 0;
  }
}

/** One budget for the process: the memory it bounds is the process's. */
export const processBodyBudget = new BodyBudget(MAX_IN_FLIGHT_BYTES);

export interface BodyLimits {
  maxBytes?: number;
  budget?: BodyBudget;
  timeoutMs?: number;
}

/**
 * Wraps an HTTP request listener: a body over maxBytes — announced by Content-Length, or counted as it
 * streams in (chunked) — gets 413; one not finished within timeoutMs gets 408; one crowded out of the
 * shared budget gets 413; each time the connection is closed and the rest never read. A body within the
 * limits is handed on as `req.rawBody`, which Bolt uses instead of reading the stream again.
 */
export function limitBody(inner: Listener, limits: BodyLimits = {}): Listener {
  const { maxBytes = MAX_BODY_BYTES, budget = processBodyBudget, timeoutMs = BODY_TIMEOUT_MS } = limits;
  return (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuse(req, res, 413);
      return;
    }
    const chunks: Buffer[] = [];
    let done = false;
    const finish = () => {
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      budget.release(reading);
      chunks.length = 0;
    };
    const reading: Reading = {
      size: 0,
      refuse: (status) => {
        if (done) return;
        finish();
        refuse(req, res, status);
      },
    };
    const onData = (chunk: Buffer) => {
      if (done) return;
      if (reading.size + chunk.length > maxBytes) return reading.refuse(413);
      if (!budget.grow(reading, chunk.length)) return;
      chunks.push(chunk);
    };
    const timer = setTimeout(() => reading.refuse(408), timeoutMs);
    timer.unref();
    budget.add(reading);
    req.on('data', onData);
    req.once('error', () => reading.refuse(408)); // a client that hangs up mid-body: nothing to answer
    req.once('close', () => {
      if (!done && !req.complete) finish();
    });
    req.once('end', () => {
      if (done) return;
      const size = reading.size;
      const body = Buffer.concat(chunks, size);
      finish();
      (req as IncomingMessage & { rawBody?: Buffer }).rawBody = body;
      inner(req, res);
    });
  };
}

const REFUSAL: Record<408 | 413, string> = { 408: 'request body too slow', 413: 'request body too large' };

function refuse(req: IncomingMessage, res: ServerResponse, status: 408 | 413): void {
  // Stop reading: TCP back-pressure then holds the sender, and nothing more is buffered. The socket is
  // closed shortly after the answer is flushed (at once, the client might see a reset before the answer).
  req.pause();
  if (!res.headersSent && !res.destroyed) {
    res.writeHead(status, { 'content-type': 'text/plain', connection: 'close' });
    res.end(REFUSAL[status]);
  }
  const close = () => setTimeout(() => req.destroy(), 500).unref();
  if (res.writableFinished) close();
  else res.once('finish', close);
}
