// The playground page server plays the attacker's targets: it listens on loopback only, accepts actions only
// as same-origin JSON from its own host names (no cross-site form post, no DNS rebinding), only for the
// playground's people, and never lets one person press a button on another person's ephemeral message.
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { after, before, test } from 'node:test';
import { freePort } from '../helpers/embedded.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { startPageServer, type PageServer } from '../../src/playground/page-server.js';
import { PEOPLE } from '../../src/playground/people.js';

let slack: SlackApi;
let page: PageServer;
let appPort: number;
const logged: string[] = [];

before(async () => {
  slack = await startSlackApi({ log: (l) => logged.push(l) });
  appPort = await freePort(); // nothing listens: a request that reached "the app" would fail loudly
  page = await startPageServer({
    port: 0,
    slack,
    app: { port: appPort, signingSecret: 'x'.repeat(32) },
    people: PEOPLE,
    channels: { CINCIDENTS: 'incidents', CDBAUDIT: 'db-audit' },
    banner: { mode: 'demo', readOnly: false, target: 'postgres://pgsessions@127.0.0.1/shop' },
    log: (l) => logged.push(l),
  });
});
after(async () => {
  await page.close();
  await slack.close();
});

interface Answer {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

function raw(method: string, path: string, headers: Record<string, string>, body = ''): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: page.port,
        method,
        path,
        headers: { 'content-length': String(Buffer.byteLength(body)), ...headers },
        agent: false,
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}
const host = () => `127.0.0.1:${page.port}`;
const json = (path: string, body: unknown, extra: Record<string, string> = {}) =>
  raw(
    'POST',
    path,
    { host: host(), 'content-type': 'application/json', origin: `http://${host()}`, ...extra },
    JSON.stringify(body),
  );

test('the page is served with a strict content security policy and no third-party anything', async () => {
  const res = await raw('GET', '/', { host: host() });
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-security-policy']), /default-src 'self'/);
  assert.match(String(res.headers['content-security-policy']), /script-src 'self'/);
  assert.ok(!/https?:\/\//.test(res.body.replace(/http:\/\/www\.w3\.org[^"]*/g, '')), 'nothing loaded from elsewhere');
});

test('a post from another origin is refused, and nothing reaches the app', async () => {
  const before = slack.workspace.messages.length;
  const res = await json(
    '/ui/command',
    { as: 'URILEY', channel: 'CINCIDENTS', text: 'hello' },
    { origin: 'https://evil.example' },
  );
  assert.equal(res.status, 403);
  assert.equal(slack.workspace.messages.length, before);
});

test('a cross-site form post (no JSON content type) is refused', async () => {
  const res = await raw(
    'POST',
    '/ui/reset',
    { host: host(), 'content-type': 'application/x-www-form-urlencoded' },
    'a=1',
  );
  assert.equal(res.status, 415);
});

test('a request under another host name (DNS rebinding) is refused, even a read', async () => {
  assert.equal((await raw('GET', '/ui/state?as=URILEY', { host: 'evil.example:3030' })).status, 403);
  assert.equal(
    (
      await json(
        '/ui/command',
        { as: 'URILEY', channel: 'CINCIDENTS', text: 'hi' },
        { host: `evil.example:${page.port}` },
      )
    ).status,
    403,
  );
});

test('someone who is not one of the playground’s people, or a malformed body, gets 400 and changes nothing', async () => {
  const before = slack.workspace.messages.length;
  assert.equal(
    (await json('/ui/command', { as: 'UATTACKER', channel: 'CINCIDENTS', text: '/pgsessions' })).status,
    400,
  );
  assert.equal((await json('/ui/command', { as: 'URILEY', channel: '<script>', text: '/pgsessions' })).status, 400);
  assert.equal(
    (await raw('POST', '/ui/command', { host: host(), 'content-type': 'application/json' }, '{not json')).status,
    400,
  );
  assert.equal(
    (await json('/ui/command', { as: 'URILEY', channel: 'CINCIDENTS', text: 'x'.repeat(70_000) })).status,
    413,
  );
  assert.equal(slack.workspace.messages.length, before);
});

test('nobody can press a button on someone else’s ephemeral message', async () => {
  const ts = slack.nextTs();
  slack.workspace.post({
    channel: 'CINCIDENTS',
    ts,
    text: 'listing',
    user: 'UBOT',
    visibleTo: 'URILEY',
    blocks: [
      {
        type: 'actions',
        elements: [
          { type: 'button', action_id: 'pgs_terminate', text: { type: 'plain_text', text: 'Terminate' }, value: 'x' },
        ],
      },
    ],
  });
  const res = await json('/ui/action', { as: 'USAM', channel: 'CINCIDENTS', ts, block: 0, element: 0 });
  assert.equal(res.status, 404);
  const state = JSON.parse((await raw('GET', '/ui/state?as=USAM&channel=CINCIDENTS', { host: host() })).body) as {
    timeline: string;
  };
  assert.ok(!state.timeline.includes(ts), 'and nobody else sees it');
});

test('text typed in the message box is a person’s message, escaped; an unknown slash command gets Slack’s answer', async () => {
  assert.equal(
    (await json('/ui/command', { as: 'URILEY', channel: 'CINCIDENTS', text: '<img src=x onerror=alert(1)> hi' }))
      .status,
    200,
  );
  assert.equal((await json('/ui/command', { as: 'URILEY', channel: 'CINCIDENTS', text: '/deploy now' })).status, 200);
  const state = JSON.parse((await raw('GET', '/ui/state?as=URILEY&channel=CINCIDENTS', { host: host() })).body) as {
    timeline: string;
  };
  assert.ok(!state.timeline.includes('<img'), state.timeline);
  assert.match(state.timeline, /&lt;img src=x onerror=alert\(1\)&gt; hi/);
  assert.match(state.timeline, /\/deploy is not a valid command/);
});

test('when the app does not answer, the person is told what Slack would say', async () => {
  assert.equal((await json('/ui/command', { as: 'URILEY', channel: 'CINCIDENTS', text: '/pgsessions' })).status, 200);
  const state = JSON.parse((await raw('GET', '/ui/state?as=URILEY&channel=CINCIDENTS', { host: host() })).body) as {
    timeline: string;
  };
  assert.match(state.timeline, /\/pgsessions failed with the error/);
});
