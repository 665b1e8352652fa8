// Each person's direct message with the app and their Home tab on the playground page, played by an attacker
// too: nobody sees, types into or presses a button in another person's DM or Home, and what the page sends the
// app is what Slack sends — a DM button's block_actions names the D… channel, opening Home posts a signed
// `app_home_opened` event, a Home button's block_actions has the view as its container. The "app" here is a
// recorder that checks each signature, as Bolt does.
import assert from 'node:assert/strict';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { sign } from '../helpers/slack-requests.js';
import { startPageServer, type PageServer } from '../../src/playground/page-server.js';
import { PEOPLE } from '../../src/playground/people.js';

const SECRET = 's'.repeat(32);
let slack: SlackApi;
let page: PageServer;
let app: Server;
/** What reached the "app", signature checked: content type and body. */
const received: Array<{ type: string; body: string }> = [];

before(async () => {
  slack = await startSlackApi({ log: () => undefined });
  app = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      const timestamp = Number(req.headers['x-slack-request-timestamp']);
      const valid = sign(SECRET, body, timestamp)['X-Slack-Signature'] === req.headers['x-slack-signature'];
      if (valid) received.push({ type: String(req.headers['content-type']), body });
      res.writeHead(valid ? 200 : 401).end();
    });
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', () => resolve()));
  page = await startPageServer({
    port: 0,
    slack,
    app: { port: (app.address() as AddressInfo).port, signingSecret: SECRET },
    people: PEOPLE,
    channels: { CINCIDENTS: 'incidents', CDBAUDIT: 'db-audit' },
    banner: { mode: 'demo', readOnly: false, target: 'postgres://pgsessions@127.0.0.1/shop' },
    log: () => undefined,
  });
});
after(async () => {
  await page.close();
  app.closeAllConnections();
  await new Promise<void>((resolve) => app.close(() => resolve()));
  await slack.close();
});
beforeEach(() => {
  received.length = 0;
});

function call(method: 'GET' | 'POST', path: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const host = `127.0.0.1:${page.port}`;
  const text = body === undefined ? '' : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: page.port,
        method,
        path,
        headers: { host, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) },
        agent: false,
      },
      (res) => {
        let out = '';
        res.on('data', (c: Buffer) => (out += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: out ? JSON.parse(out) : null }));
      },
    );
    req.on('error', reject);
    req.end(text);
  });
}
interface PageState {
  channels: Array<{ id: string; name: string }>;
  dms: Array<{ id: string; name: string; latest: string | null }>;
  channel: string;
  tab: string;
  timeline: string;
  home: { id: string | null; html: string } | null;
}
const state = async (query: string) => (await call('GET', `/ui/state?${query}`)).json as PageState;

const approveButton = (value: string) => ({
  type: 'actions',
  block_id: 'decide',
  elements: [
    {
      type: 'button',
      action_id: 'pgs_approve',
      text: { type: 'plain_text', text: 'Approve' },
      style: 'primary',
      value,
    },
  ],
});

/** A DM the app sent someone (as chat.postMessage to D+user id lands in the workspace). */
function dm(user: string, text: string): string {
  const ts = slack.nextTs();
  slack.workspace.post({
    channel: `D${user}`,
    ts,
    text,
    user: 'UBOT',
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }, approveButton('req-1')],
  });
  return ts;
}

test('each person sees their own direct message with the app, and nobody else’s', async () => {
  dm('URILEY', 'for riley only');
  const newest = dm('UALEX', 'for alex only');
  const alex = await state('as=UALEX&channel=dm');
  // `latest` lets the page mark the DM new for its person.
  assert.deepEqual(alex.dms, [{ id: 'DUALEX', name: 'pgsessions', latest: newest }]);
  assert.equal(alex.channel, 'DUALEX');
  assert.match(alex.timeline, /for alex only/);
  assert.ok(!alex.channels.some((c) => c.id.startsWith('D')), 'no one’s DM among the channels');
  // Asking for Riley's DM by its id shows a channel instead, never Riley's messages.
  const peek = await state('as=UALEX&channel=DURILEY');
  assert.equal(peek.channel, 'CINCIDENTS');
  assert.ok(!JSON.stringify(peek).includes('for riley only'));
});

test('a DM button sends block_actions from the D… channel, as Slack does; another person’s DM button is refused', async () => {
  const ts = dm('UJORDAN', 'terminate pid 42 on payments');
  const stolen = await call('POST', '/ui/action', { as: 'USAM', channel: 'DUJORDAN', ts, block: 1, element: 0 });
  assert.equal(stolen.status, 404);
  assert.equal(received.length, 0, 'nothing reached the app');

  const own = await call('POST', '/ui/action', { as: 'UJORDAN', channel: 'DUJORDAN', ts, block: 1, element: 0 });
  assert.equal(own.status, 200);
  assert.equal(received.length, 1);
  const payload = JSON.parse(new URLSearchParams(received[0]!.body).get('payload')!);
  assert.equal(payload.type, 'block_actions');
  assert.equal(payload.user.id, 'UJORDAN');
  assert.deepEqual(payload.channel, { id: 'DUJORDAN', name: 'directmessage' });
  assert.equal(payload.container.channel_id, 'DUJORDAN');
  assert.equal(payload.container.message_ts, ts);
  assert.equal(payload.actions[0].action_id, 'pgs_approve');
  assert.equal(payload.actions[0].value, 'req-1');
});

test('nobody types a slash command into another person’s DM', async () => {
  const res = await call('POST', '/ui/command', { as: 'USAM', channel: 'DUALEX', text: '/pgsessions' });
  assert.equal(res.status, 404);
  assert.equal(received.length, 0);
});

test('opening Home posts a signed app_home_opened event; the published Home shows with working buttons for its person only', async () => {
  const opened = await call('POST', '/ui/home', { as: 'UALEX' });
  assert.equal(opened.status, 200);
  assert.equal(received.length, 1);
  assert.match(received[0]!.type, /^application\/json/);
  const event = JSON.parse(received[0]!.body);
  assert.equal(event.type, 'event_callback');
  assert.deepEqual(
    { type: event.event.type, user: event.event.user, channel: event.event.channel, tab: event.event.tab },
    { type: 'app_home_opened', user: 'UALEX', channel: 'DUALEX', tab: 'home' },
  );

  // What the app answers with views.publish is what the Home tab shows.
  slack.workspace.publishHome('UALEX', {
    id: 'VHOME1',
    type: 'home',
    hash: 'h1',
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text: '*Waiting for you*' } }, approveButton('req-9')],
  });
  const home = await state('as=UALEX&channel=dm&tab=home');
  assert.equal(home.tab, 'home');
  assert.equal(home.home?.id, 'VHOME1');
  assert.match(home.home?.html ?? '', /Waiting for you/);
  assert.match(home.home?.html ?? '', /data-interactive="button"/);
  assert.equal((await state('as=URILEY&channel=dm&tab=home')).home?.id, null, 'Riley has no Home of Alex’s');

  received.length = 0;
  const stolen = await call('POST', '/ui/home-action', { as: 'URILEY', view: 'VHOME1', block: 1, element: 0 });
  assert.equal(stolen.status, 404);
  assert.equal(received.length, 0, 'another person cannot press a button on Alex’s Home');

  const pressed = await call('POST', '/ui/home-action', { as: 'UALEX', view: 'VHOME1', block: 1, element: 0 });
  assert.equal(pressed.status, 200);
  const payload = JSON.parse(new URLSearchParams(received[0]!.body).get('payload')!);
  assert.equal(payload.type, 'block_actions');
  assert.deepEqual(payload.container, { type: 'view', view_id: 'VHOME1' });
  assert.equal(payload.view.id, 'VHOME1');
  assert.equal(payload.view.type, 'home');
  assert.equal(payload.channel, undefined, 'a Home click has no channel');
  assert.equal(payload.message, undefined, 'and no message');
  assert.equal(payload.actions[0].value, 'req-9');

  // A Home replaced since the page showed it: the old view's buttons are gone, as in Slack.
  slack.workspace.publishHome('UALEX', { id: 'VHOME2', type: 'home', blocks: [] });
  const stale = await call('POST', '/ui/home-action', { as: 'UALEX', view: 'VHOME1', block: 1, element: 0 });
  assert.equal(stale.status, 404);
});
