// Anyone who can reach the HTTP port can send a body of any size. The app must refuse one over 1 MiB with
// 413 before reading it whole: the attacker here sends 300 MB, unsigned, with Content-Length and chunked,
// and the process's resident memory is watched while it does (the app runs in this process).
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect } from 'node:net';
import { test } from 'node:test';
import { SIGNING_SECRET } from '../helpers/app.js';
import { allText, ask } from '../helpers/replies.js';
import { FORM_CONTENT_TYPE, postSigned } from '../helpers/slack-requests.js';
import { BODY_TIMEOUT_MS, MAX_BODY_BYTES, MAX_IN_FLIGHT_BYTES, processBodyBudget } from '../../src/slack/body-limit.js';
import { useTestApp } from '../helpers/use-test-app.js';

const { slack, app } = useTestApp({ database: 'bodylimit' });

const MB = 1024 * 1024;

/**
 * POSTs `total` bytes of junk, generated on the fly from one reused 64 KB chunk (the sender holds no
 * copy), until the server answers. Returns the status and the highest RSS seen while it ran.
 */
async function flood(
  port: number,
  total: number,
  framing: 'content-length' | 'chunked',
): Promise<{ status: number; sent: number; peakRss: number }> {
  const chunk = Buffer.alloc(64 * 1024, 'a');
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 10);
  try {
    return await new Promise((resolve, reject) => {
      let sent = 0;
      let status = 0;
      const headers: Record<string, string> = { 'content-type': FORM_CONTENT_TYPE };
      if (framing === 'content-length') headers['content-length'] = String(total);
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/slack/events', headers, agent: false });
      const finish = () => {
        req.destroy();
        resolve({ status, sent, peakRss: Math.max(peakRss, process.memoryUsage().rss) });
      };
      req.on('response', (res) => {
        status = res.statusCode ?? 0;
        res.resume();
        finish();
      });
      // Once the server has answered and closed, writes fail: that is the expected end, not an error.
      req.on('error', (error) => (status ? finish() : reject(error)));
      const timer = setTimeout(() => reject(new Error(`no answer after sending ${sent} bytes`)), 60_000);
      req.on('close', () => clearTimeout(timer));
      const pump = () => {
        while (!status && sent < total) {
          const n = Math.min(chunk.length, total - sent);
          sent += n;
          if (!req.write(n === chunk.length ? chunk : chunk.subarray(0, n))) {
            req.once('drain', pump);
            return;
          }
        }
        if (!status && sent >= total) req.end();
      };
      pump();
    });
  } finally {
    clearInterval(sampler);
  }
}

for (const framing of ['content-length', 'chunked'] as const) {
  test(`a 300 MB unsigned POST (${framing}) gets 413 without the process growing by more than a few MB`, async () => {
    global.gc?.();
    const rssBefore = process.memoryUsage().rss;
    const result = await flood(app.port, 300 * MB, framing);
    assert.equal(result.status, 413);
    // Before the limit, Bolt read all 300 MB into memory (then answered 401): RSS grew by hundreds of MB.
    const growth = result.peakRss - rssBefore;
    assert.ok(growth < 50 * MB, `RSS grew by ${(growth / MB).toFixed(1)} MB while receiving the body`);
    assert.ok(result.sent < 300 * MB, `the whole body was taken (${result.sent} bytes sent) before the answer`);
    // The app is unharmed and still serves.
    const { reply } = await ask(app, slack, 'help');
    assert.match(allText(reply), /\*Usage:\*/);
  });
}

test('the limit is 1 MiB: just under it a body is read and checked (401 unsigned); just over it, 413', async () => {
  const under = 'x'.repeat(MAX_BODY_BYTES - 10);
  const over = 'x'.repeat(MAX_BODY_BYTES + 1);
  const unsigned = { omitSignature: true } as const;
  assert.equal((await postSigned(app.port, SIGNING_SECRET, under, FORM_CONTENT_TYPE, unsigned)).status, 401);
  assert.equal((await postSigned(app.port, SIGNING_SECRET, over, FORM_CONTENT_TYPE, unsigned)).status, 413);
  // Correctly signed does not help: the signature is checked only on bodies the app agrees to read.
  assert.equal((await postSigned(app.port, SIGNING_SECRET, over, FORM_CONTENT_TYPE)).status, 413);
});

test('an unknown path still gets 404, a GET /healthz still 200 (the body reader passes them to Bolt)', async () => {
  const get = (path: string) =>
    new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: app.port, path, method: 'GET', agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end();
    });
  assert.equal(await get('/no-such-path'), 404);
  assert.equal(await get('/healthz'), 200);
});

/**
 * A client that announces a body of `declared` bytes, sends `sent` of them and then stalls. Resolves with
 * the status the server answered (0 when it closed without one) once the server is done with it.
 */
function slowClient(port: number, declared: number, sent: number): Promise<number> {
  return new Promise((resolve) => {
    let answer = '';
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(
        `POST /slack/events HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: ${FORM_CONTENT_TYPE}\r\ncontent-length: ${declared}\r\n\r\n`,
      );
      socket.write(Buffer.alloc(sent, 'a'));
    });
    socket.on('data', (data) => (answer += data.toString('latin1')));
    socket.on('error', () => undefined);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1] ?? 0)));
  });
}

test('200 slow clients each sending part of a large body hold at most 16 MiB between them, get 408/413 or are closed, and a signed request is still served', async (t) => {
  processBodyBudget.peakBytes = processBodyBudget.bytes;
  // 200 × 400 KiB = 78 MiB if every partial body were kept (before the shared budget, each was, for 300 s).
  const clients = Array.from({ length: 200 }, () => slowClient(app.port, MAX_BODY_BYTES, 400 * 1024));
  // While they stall, the app answers a real, signed command.
  const { reply } = await ask(app, slack, 'help', { timeoutMs: 20_000 });
  assert.match(allText(reply), /\*Usage:\*/);
  const started = Date.now();
  const statuses = await Promise.all(clients);
  const waited = Date.now() - started;
  assert.ok(
    processBodyBudget.peakBytes <= MAX_IN_FLIGHT_BYTES,
    `the app held ${processBodyBudget.peakBytes} bytes of unfinished bodies at once`,
  );
  assert.ok(processBodyBudget.peakBytes > 0, 'the slow clients were read at all');
  for (const status of statuses) assert.ok([0, 408, 413].includes(status), `a slow client got ${status}`);
  assert.ok(
    statuses.some((s) => s === 408),
    'the ones kept within the budget were timed out (408)',
  );
  assert.ok(
    statuses.some((s) => s === 413),
    'the budget crowded some out (413)',
  );
  // Timed out in seconds, not Node's 300 s (generous for a loaded machine).
  assert.ok(waited < BODY_TIMEOUT_MS + 30_000, `slow clients were held ${waited} ms`);
  assert.equal(processBodyBudget.bytes, 0, 'every byte was let go');
  const count = (n: number) => statuses.filter((s) => s === n).length;
  t.diagnostic(
    `peak buffered ${(processBodyBudget.peakBytes / MB).toFixed(2)} MiB; 408: ${count(408)}, 413: ${count(413)}, closed: ${count(0)}; all done ${waited} ms after the signed reply`,
  );
});
