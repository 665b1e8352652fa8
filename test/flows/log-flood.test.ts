// Logs under attack: anyone who can reach the HTTP port can send unknown paths, huge bodies and forged
// signatures as fast as they like. Each costs a clipped log line, the lines are rate-limited, and the app
// still serves Slack afterwards. The attacker here is anyone on the HTTP port.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, describe, test } from 'node:test';
import type { Logger as SlackLogger } from '@slack/logger';
import { LogLevel } from '@slack/logger';
import { clipLine, limitRequestLog } from '../../src/slack/guards/request-log.js';
import { baseEnv, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { ask } from '../helpers/replies.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { FORM_CONTENT_TYPE, postSigned, slashCommandBody } from '../helpers/slack-requests.js';

const STACK = /\n\s+at .+:\d+:\d+/;

function recorder(): { logger: SlackLogger; lines: string[] } {
  const lines: string[] = [];
  const push = (...msg: unknown[]) => void lines.push(msg.join(' '));
  return {
    lines,
    logger: {
      debug: push,
      info: push,
      warn: push,
      error: push,
      setLevel: () => undefined,
      getLevel: () => LogLevel.INFO,
      setName: () => undefined,
    },
  };
}

describe('the request log limiter', () => {
  test('clips a line to its limit and says how much was cut', () => {
    assert.equal(clipLine('short', 10), 'short');
    assert.equal(clipLine('x'.repeat(15_000), 300), `${'x'.repeat(300)}… (14700 more characters cut)`);
  });

  test('writes at most perWindow lines per window, then one summary of how many were suppressed', () => {
    const { logger, lines } = recorder();
    let now = 0;
    const timers: Array<() => void> = [];
    const limited = limitRequestLog(
      logger,
      { perWindow: 3, windowMs: 1000, maxChars: 50 },
      { now: () => now, later: (fn) => timers.push(fn) },
    );
    for (let i = 0; i < 100; i++) limited.info(`Unhandled HTTP request (GET) made to /${'a'.repeat(10_000)}`);
    assert.equal(lines.length, 3);
    assert.ok(
      lines.every((l) => l.length < 100),
      'each line is clipped',
    );
    assert.equal(timers.length, 1, 'one summary is scheduled, not one per suppressed line');
    now = 1000;
    timers[0]!();
    assert.match(lines[3]!, /^suppressed 97 request log lines/);
    limited.warn('next window');
    assert.equal(lines.at(-1), 'next window');
  });
});

function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string>,
  body = '',
): Promise<{ status: number; body: string }> {
  return new Promise((resolve) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: '' }));
      },
    );
    // A refused body may be cut off mid-send (413 then close): that is an answer too.
    req.on('error', () => resolve({ status: -1, body: '' }));
    req.end(body);
  });
}

describe('an HTTP flood of junk', () => {
  let db: TestDatabase;
  let slack: SlackApi;
  let app: TestApp;

  before(async () => {
    [db, slack] = await Promise.all([createTestDatabase('log_flood'), startSlackApi()]);
    app = await startTestApp(baseEnv(db.url, slack));
  });

  after(async () => {
    await app?.stop();
    await slack?.close();
    await db?.drop();
  });

  test('huge paths, huge bodies and forged signatures from 20 clients cost a bounded number of log bytes, and a signed command is still served', async (t) => {
    const before = app.logs.join('').length;
    const longPath = `/${'p'.repeat(15_000)}`;
    const forgedBody = slashCommandBody({
      text: `top ${'q'.repeat(200_000)}`,
      responseUrl: slack.responseUrl('forged'),
    });
    const forged = {
      'content-type': FORM_CONTENT_TYPE,
      'x-slack-signature': `v0=${'ab'.repeat(32)}`,
      'x-slack-request-timestamp': String(Math.floor(Date.now() / 1000)),
    };
    const client = async (c: number) => {
      const answers: Array<{ status: number; body: string }> = [];
      for (let i = 0; i < 10; i++) {
        answers.push(await raw(app.port, 'GET', `${longPath}${c}-${i}`, {}));
        answers.push(await raw(app.port, 'POST', `${longPath}${c}-${i}`, forged, forgedBody));
        answers.push(await raw(app.port, 'POST', '/slack/events', forged, forgedBody));
        answers.push(
          await raw(
            app.port,
            'POST',
            '/slack/events',
            { ...forged, 'x-slack-signature': 's'.repeat(8_000) },
            'x'.repeat(900_000),
          ),
        );
      }
      return answers;
    };
    const answers = (await Promise.all(Array.from({ length: 20 }, (_, c) => client(c)))).flat();
    assert.equal(answers.length, 800);
    assert.ok(
      answers.every((a) => a.status === 404 || a.status === 401 || a.status === -1),
      `unexpected answers: ${[...new Set(answers.map((a) => a.status))].join(', ')}`,
    );
    assert.ok(answers.filter((a) => a.status === 401).length >= 200, 'forged signatures are refused with 401');
    for (const a of answers) assert.doesNotMatch(a.body, STACK);

    const written = app.logs.join('').length - before;
    // 800 requests carrying about 12 MB of path and body: without limits, several MB of log.
    t.diagnostic(`800 junk requests wrote ${written} bytes of log`);
    assert.ok(written < 40_000, `the flood wrote ${written} bytes of log`);
    assert.ok(!app.logs.join('').includes('p'.repeat(1_000)), 'no log line carries a long path');
    assert.ok(!app.logs.some((l) => STACK.test(l)), 'no stack trace in the log');

    const { ack } = await ask(app, slack, 'help');
    assert.equal(ack.status, 200);
    assert.equal(
      (
        await postSigned(
          app.port,
          SIGNING_SECRET,
          slashCommandBody({ text: 'help', responseUrl: slack.responseUrl('after') }),
          FORM_CONTENT_TYPE,
        )
      ).status,
      200,
    );
    await slack.waitFor(() => slack.responsesTo('after')[0], {
      timeoutMs: 15_000,
      description: 'the answer to a signed command after the flood',
    });
    // The suppressed lines are summed up in one line when the window ends (10 s).
    await slack.waitFor(() => app.logs.some((l) => l.includes('suppressed') && l.includes('request log lines')), {
      timeoutMs: 20_000,
      intervalMs: 200,
      description: 'the summary of suppressed lines',
    });
  });
});
