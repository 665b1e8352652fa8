// Socket Mode end to end, driven as Slack drives it: the app asks `apps.connections.open` (through
// SLACK_API_URL, with the app token) for a WebSocket URL, a local WebSocket server standing in for Slack says
// `hello`, then sends `slash_commands` and `interactive` envelopes; the app acks each over the socket and
// replies through the response_url / Web API stand-in. Health checks still reach GET /healthz on PORT, no
// signing secret is needed, and stopping leaves nothing that keeps the process alive.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { connect, createServer, type AddressInfo } from 'node:net';
import { resolve as resolvePath } from 'node:path';
import { pathToFileURL } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { WebSocketServer, type WebSocket } from 'ws';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { approvalPosts, requestIdOf, requestRow, waitForStatus, waitForUpdate } from '../helpers/approval-flow.js';
import { APPROVER, BOT_TOKEN, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { freePort } from '../helpers/embedded.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { rowFor, type Reply } from '../helpers/replies.js';
import { sessionAlive, sleepSession, type SleepSession } from '../helpers/sessions.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockActionPayload, slashCommandBody, TEST_APP_ID } from '../helpers/slack-requests.js';

const APP_TOKEN = 'xapp-1-A1-1234567890-socketmodetesttoken';
const SOCKET_PATH = '/link';

// ---- a stand-in for Slack's Socket Mode endpoint ------------------------------------------------------

interface Received {
  at: number;
  /** The connection it came on (1 = the first). */
  connection: number;
  message: Record<string, unknown>;
}

interface SocketSlack {
  /** What `apps.connections.open` hands out. */
  url: string;
  /** Each WebSocket upgrade: its path and when its close handshake ended (code), if it did. */
  connections: Array<{ path: string; ws: WebSocket; closed?: { code: number; at: number } }>;
  /** Every text message the app sent us, parsed. */
  received: Received[];
  /** Pings the app's client sent (its liveness check; `ws` answers each with a pong). */
  pings: number;
  /** Sends a message on the newest open connection. */
  send(message: unknown): void;
  /** The ack of an envelope (`{ envelope_id, payload? }`), waiting for it. */
  ackOf(envelopeId: string, timeoutMs?: number): Promise<Received>;
  waitFor<T>(fn: () => T | undefined | null | false, description: string, timeoutMs?: number): Promise<T>;
  close(): Promise<void>;
}

/** Slack's first message on every Socket Mode connection; the client counts itself connected only after it. */
function hello(): Record<string, unknown> {
  return {
    type: 'hello',
    num_connections: 1,
    debug_info: { host: 'applink-test-1', build_number: 118, approximate_connection_time: 18060 },
    connection_info: { app_id: TEST_APP_ID },
  };
}

async function startSocketSlack(): Promise<SocketSlack> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 });
  await new Promise<void>((resolve, reject) => {
    wss.once('listening', resolve);
    wss.once('error', reject);
  });
  const address = wss.address();
  if (typeof address !== 'object' || address === null) throw new Error('the WebSocket server has no port');

  const waitFor = async <T>(
    fn: () => T | undefined | null | false,
    description: string,
    timeoutMs = 8000,
  ): Promise<T> => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = fn();
      if (value) return value;
      if (Date.now() >= deadline) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${description}; received over the socket: ${JSON.stringify(socket.received.map((r) => r.message))}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };

  const socket: SocketSlack = {
    url: `ws://127.0.0.1:${address.port}${SOCKET_PATH}`,
    connections: [],
    received: [],
    pings: 0,
    send(message) {
      const open = socket.connections.filter((c) => c.ws.readyState === c.ws.OPEN).at(-1);
      assert.ok(open, 'the app has an open Socket Mode connection');
      open.ws.send(JSON.stringify(message));
    },
    ackOf(envelopeId, timeoutMs) {
      return waitFor(
        () => socket.received.find((r) => r.message.envelope_id === envelopeId),
        `the ack of envelope ${envelopeId}`,
        timeoutMs,
      );
    },
    waitFor,
    async close() {
      for (const c of socket.connections) c.ws.terminate();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };

  wss.on('connection', (ws, req) => {
    const entry: SocketSlack['connections'][number] = { path: req.url ?? '', ws };
    socket.connections.push(entry);
    const number = socket.connections.length;
    ws.on('ping', () => {
      socket.pings += 1;
    });
    ws.on('message', (data, isBinary) => {
      assert.equal(isBinary, false, 'Socket Mode messages are text');
      socket.received.push({
        at: Date.now(),
        connection: number,
        message: JSON.parse(String(data)) as Record<string, unknown>,
      });
    });
    ws.on('close', (code) => {
      entry.closed = { code, at: Date.now() };
    });
    ws.send(JSON.stringify(hello()));
  });
  return socket;
}

/** A slash command as Socket Mode delivers it: the same fields as the HTTP form, as a JSON object. */
function slashEnvelope(options: { text: string; responseUrl: string; userId?: string; channelId?: string }): {
  envelope_id: string;
  envelope: Record<string, unknown>;
} {
  const envelopeId = randomUUID();
  const payload = Object.fromEntries(new URLSearchParams(slashCommandBody(options)));
  return {
    envelope_id: envelopeId,
    envelope: { envelope_id: envelopeId, payload, type: 'slash_commands', accepts_response_payload: true },
  };
}

function interactiveEnvelope(payload: unknown): { envelope_id: string; envelope: Record<string, unknown> } {
  const envelopeId = randomUUID();
  return {
    envelope_id: envelopeId,
    envelope: { envelope_id: envelopeId, payload, type: 'interactive', accepts_response_payload: false },
  };
}

/** Whether something accepts TCP connections on 127.0.0.1:port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}

/** The env of a Socket Mode run: an app token and no signing secret. */
function socketEnv(databaseUrl: string, slack: SlackApi, port: number): NodeJS.ProcessEnv {
  const env = baseEnv(databaseUrl, slack, { SLACK_APP_TOKEN: APP_TOKEN, PORT: String(port) });
  delete env.SLACK_SIGNING_SECRET;
  return env;
}

let db: TestDatabase;
let slack: SlackApi;
let socket: SocketSlack;
let app: TestApp;
let port: number;
let envelopesSeen: number;

before(async () => {
  [db, slack, socket] = await Promise.all([createTestDatabase('socket'), startSlackApi(), startSocketSlack()]);
  slack.handle('apps.connections.open', () => ({ ok: true, url: socket.url }));
  port = await freePort();
  app = await startTestApp(socketEnv(db.url, slack, port));
  envelopesSeen = 0;
});

after(async () => {
  await app?.stop();
  await socket?.close();
  await slack?.close();
  await db?.drop();
});

describe('connecting', () => {
  test('asks apps.connections.open on SLACK_API_URL with the app token, then connects to the URL it was given', () => {
    const opens = slack.callsTo('apps.connections.open');
    assert.equal(opens.length, 1, 'one connection was opened');
    assert.equal(opens[0]!.token, APP_TOKEN, 'apps.connections.open carries the app-level token, not the bot token');
    assert.notEqual(opens[0]!.token, BOT_TOKEN);
    assert.deepEqual(
      socket.connections.map((c) => c.path),
      [SOCKET_PATH],
      'the app connected to the URL apps.connections.open returned',
    );
    // The bot token still goes to the Web API for the app's own calls.
    assert.equal(slack.callsTo('auth.test')[0]?.token, BOT_TOKEN);
  });

  test('starts without SLACK_SIGNING_SECRET and serves GET /healthz with 200 on PORT', async () => {
    assert.equal(app.config.slack.signingSecret, null);
    assert.equal(app.port, port, 'startPgsessions reports the port it was given');
    const res = await fetch(`http://127.0.0.1:${app.port}/healthz`);
    assert.equal(res.status, 200);
    assert.deepEqual(await res.json(), { ok: true });
    // Slack's requests come over the socket only: no HTTP endpoint takes them.
    const events = await fetch(`http://127.0.0.1:${app.port}/slack/events`, {
      method: 'POST',
      body: 'payload=%7B%7D',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    assert.equal(events.status, 404);
  });
});

describe('envelopes over the socket', () => {
  test('a slash_commands envelope is acked over the socket, then the listing with a real pg_sleep session reaches the response_url', async () => {
    const sleeper = await sleepSession(db.url, { seconds: 120, application: 'sock-sleeper' });
    try {
      const responseId = `sock-list-${randomUUID()}`;
      const { envelope_id: envelopeId, envelope } = slashEnvelope({
        text: '',
        responseUrl: slack.responseUrl(responseId),
      });
      const sentAt = Date.now();
      socket.send(envelope);
      envelopesSeen += 1;

      const ack = await socket.ackOf(envelopeId, 3000);
      assert.equal(ack.message.envelope_id, envelopeId);
      // An empty ack: the reply goes to the response_url, not into the ack.
      assert.deepEqual(
        Object.keys(ack.message).filter((k) => k !== 'envelope_id' && k !== 'payload'),
        [],
      );
      assert.ok(
        ack.message.payload === undefined || Object.keys(ack.message.payload as object).length === 0,
        JSON.stringify(ack.message),
      );
      assert.ok(ack.at - sentAt < 3000, `acked within Slack's 3 seconds (${ack.at - sentAt} ms)`);

      const posted = await slack.waitFor(() => slack.responsesTo(responseId)[0], {
        timeoutMs: 8000,
        description: 'the listing at the response_url',
      });
      assert.ok(posted.at >= ack.at, 'the ack comes first, the listing after');
      const reply = posted.body as Reply;
      assert.equal(reply.response_type, 'ephemeral');
      const row = rowFor(reply, sleeper.pid);
      assert.match(row.text, /app sock-sleeper/);
      assert.match(row.text, /`SELECT pg_sleep\(120\)`/);
      assert.deepEqual(
        row.buttons.map((b) => b.actionId),
        [ACTION.cancel, ACTION.terminate],
      );
    } finally {
      await sleeper.end();
    }
  });

  test('a typed cancel and an Approve click, both as envelopes, are acked over the socket and cancel the running query', async () => {
    const channel = 'CSOCKET1';
    let victim: SleepSession | undefined;
    try {
      victim = await sleepSession(db.url, { seconds: 120, application: 'sock-victim' });
      const typed = slashEnvelope({
        text: `cancel ${victim.pid} runaway report`,
        responseUrl: slack.responseUrl(`sock-typed-${randomUUID()}`),
        userId: REQUESTER,
        channelId: channel,
      });
      socket.send(typed.envelope);
      envelopesSeen += 1;
      await socket.ackOf(typed.envelope_id, 3000);
      const post = await slack.waitFor(() => approvalPosts(slack, channel)[0], {
        timeoutMs: 8000,
        description: 'the approval message',
      });
      assert.equal(post.token, BOT_TOKEN, 'messages are posted with the bot token');
      const id = requestIdOf(post);
      const { message_ts: messageTs } = await requestRow(db.url, id);
      assert.equal(
        await sessionAlive(db.url, victim.pid, victim.backendStart),
        true,
        'nothing happens before approval',
      );

      const click = interactiveEnvelope(
        blockActionPayload({
          userId: APPROVER,
          channelId: channel,
          actionId: ACTION.approve,
          value: id,
          responseUrl: slack.responseUrl(`sock-approve-${randomUUID()}`),
          ...(messageTs ? { messageTs } : {}),
          text: 'Approve',
        }),
      );
      socket.send(click.envelope);
      envelopesSeen += 1;
      const ack = await socket.ackOf(click.envelope_id, 3000);
      assert.equal(ack.message.envelope_id, click.envelope_id);

      const row = await waitForStatus(db.url, id, ['executed', 'failed']);
      assert.equal(row.status, 'executed');
      assert.equal(row.decided_by, APPROVER);
      assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'cancelled' }]);
      assert.match(String((await victim.finished)?.message), /cancel/i, 'the query was cancelled');
      await waitForUpdate(slack, db.url, id, /cancelled/);
    } finally {
      await victim?.end();
    }
  });

  test('an interactive envelope for an action the app does not know is still acked, and the connection stays up', async () => {
    const unknown = interactiveEnvelope(
      blockActionPayload({
        userId: REQUESTER,
        channelId: 'CSOCKET2',
        actionId: 'not_ours_at_all',
        value: 'x',
        responseUrl: slack.responseUrl(`sock-unknown-${randomUUID()}`),
      }),
    );
    socket.send(unknown.envelope);
    envelopesSeen += 1;
    const ack = await socket.ackOf(unknown.envelope_id, 3000);
    assert.equal(ack.message.envelope_id, unknown.envelope_id);
    await slack.waitFor(() => app.logs.find((l) => l.includes('does not know') && l.includes('not_ours_at_all')), {
      description: 'a warning naming the unknown action',
    });

    // Still the one connection, still serving: a listing right after is answered.
    const responseId = `sock-after-${randomUUID()}`;
    const next = slashEnvelope({ text: 'help', responseUrl: slack.responseUrl(responseId) });
    socket.send(next.envelope);
    envelopesSeen += 1;
    await socket.ackOf(next.envelope_id, 3000);
    await slack.waitFor(() => slack.responsesTo(responseId)[0], { timeoutMs: 8000, description: 'the help reply' });
    assert.equal(socket.connections.length, 1, 'no reconnect happened');
    assert.equal(slack.callsTo('apps.connections.open').length, 1);
  });

  test('every envelope is acked exactly once, and nothing but acks comes back over the socket', () => {
    assert.ok(envelopesSeen >= 4, 'the envelope tests ran');
    const ids = socket.received.map((r) => r.message.envelope_id);
    assert.equal(
      ids.length,
      envelopesSeen,
      `one message per envelope: ${JSON.stringify(socket.received.map((r) => r.message))}`,
    );
    assert.equal(new Set(ids).size, ids.length, 'no envelope was acked twice');
  });
});

describe('stopping', () => {
  test('stop() closes the Socket Mode connection with a normal close and frees PORT', async () => {
    const ownPort = await freePort();
    const before = socket.connections.length;
    const second = await startTestApp(socketEnv(db.url, slack, ownPort));
    let stopped = false;
    try {
      const conn = await socket.waitFor(() => socket.connections[before], 'the second app to connect');
      assert.equal(await listening(ownPort), true, 'it serves on its PORT');
      await second.stop();
      stopped = true;
      const closed = await socket.waitFor(() => conn.closed, 'the close handshake', 3000);
      assert.equal(closed.code, 1000, 'a normal closure, not a dropped socket');
      assert.equal(await listening(ownPort), false, 'PORT is closed once stop() has returned');
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(socket.connections.length, before + 1, 'no reconnect after stop');
    } finally {
      if (!stopped) await second.stop();
    }
  });

  test('a process that started in Socket Mode (PORT=0) and stopped exits by itself: no socket, timer or server left behind', async () => {
    const before = socket.connections.length;
    const entry = pathToFileURL(resolvePath('src/pgsessions.ts')).href;
    // No process.exit: the child must end because nothing is left keeping its event loop alive.
    const script = `
      const { startPgsessions } = await import(${JSON.stringify(entry)});
      const app = await startPgsessions(JSON.parse(process.env.PGS_CHILD_ENV), { sweepIntervalMs: 100, outboxIntervalMs: 50 });
      process.stdout.write('STARTED ' + JSON.stringify({ port: app.port }) + '\\n');
      process.stdin.once('data', async () => {
        process.stdin.destroy();
        await app.stop();
        process.stdout.write('STOPPED\\n');
        // Only seen when the child fails to exit: names what keeps it alive, for the assertion message.
        setTimeout(() => process.stderr.write('still alive: ' + JSON.stringify(process.getActiveResourcesInfo()) + '\\n'), 3000).unref();
      });
    `;
    const env = { ...socketEnv(db.url, slack, 0), LOG_LEVEL: 'warn' };
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, PGS_CHILD_ENV: JSON.stringify(env) },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += String(d)));
    child.stderr.on('data', (d: Buffer) => (stderr += String(d)));
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
      child.once('exit', (code, signal) => resolve({ code, signal, at: Date.now() })),
    );
    try {
      const started = await socket.waitFor(
        () => /^STARTED (\{.*\})$/m.exec(stdout)?.[1],
        `the child to start (stderr: ${stderr})`,
        90_000,
      );
      const childPort = (JSON.parse(started) as { port: number }).port;
      assert.ok(childPort > 0, `PORT=0 reports the port actually bound, not ${childPort}`);
      const health = await fetch(`http://127.0.0.1:${childPort}/healthz`);
      assert.equal(health.status, 200, 'GET /healthz answers on the reported port');
      await health.arrayBuffer();
      assert.ok(socket.connections[before], 'the child connected over Socket Mode');

      child.stdin.write('stop\n');
      const stoppedAt = await socket.waitFor(
        () => (/^STOPPED$/m.test(stdout) ? Date.now() : 0),
        'the child to stop',
        10_000,
      );
      const result = await Promise.race([
        exited,
        new Promise<null>((resolve) => setTimeout(() => resolve(null), 5000)),
      ]);
      assert.ok(
        result,
        `the child was still running 5 s after stop() returned: something keeps it alive (stderr: ${stderr})`,
      );
      assert.equal(result.code, 0, stderr);
      assert.ok(result.at - stoppedAt < 5000);
      assert.equal(socket.connections[before]!.closed?.code, 1000, 'it closed its socket with a normal closure');
    } finally {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    }
  });
});

test('in Socket Mode a PORT already in use stops start-up with one clear message, not a crash', async () => {
  const blocker = createServer();
  await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
  const busyPort = (blocker.address() as AddressInfo).port;
  try {
    await assert.rejects(startTestApp(socketEnv(db.url, slack, busyPort)), /EADDRINUSE/);
  } finally {
    blocker.close();
  }
});
