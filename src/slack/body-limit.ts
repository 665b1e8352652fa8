// Request bodies are read here, with a cap, before Bolt sees them: Bolt's HTTPReceiver reads the whole body
// into memory (raw-body, no limit) before it checks the signature, so anyone who can reach the port could
// make the process hold hundreds of MB. Slack's own payloads are a few KB.
import type { IncomingMessage, ServerResponse } from 'node:http';

/** 1 MiB: far above any Slack payload (a full modal submission is tens of KB). */
export const MAX_BODY_BYTES = 1024 * 1024;

type Listener = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Wraps an HTTP request listener: a body over maxBytes — announced by Content-Length, or counted as it
 * streams in (chunked) — gets 413 and the connection is closed; the rest is never read. A body within the
 * limit is handed on as `req.rawBody`, which Bolt uses instead of reading the stream again.
 */
export function limitBody(inner: Listener, maxBytes = MAX_BODY_BYTES): Listener {
  return (req, res) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) {
      refuse(req, res);
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        refused = true;
        chunks.length = 0;
        req.off('data', onData);
        refuse(req, res);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('error', () => undefined); // a client that hangs up mid-body: nothing to answer
    req.once('end', () => {
      if (refused) return;
      (req as IncomingMessage & { rawBody?: Buffer }).rawBody = Buffer.concat(chunks, size);
      inner(req, res);
    });
  };
}

function refuse(req: IncomingMessage, res: ServerResponse): void {
  // Stop reading: TCP back-pressure then holds the sender, and nothing more is buffered. The socket is
  // closed shortly after the answer is flushed (at once, the client might see a reset before the 413).
  req.pause();
  if (!res.headersSent) {
    res.writeHead(413, { 'content-type': 'text/plain', connection: 'close' });
    res.end('request body too large');
  }
  res.once('finish', () => setTimeout(() => req.destroy(), 500).unref());
}
