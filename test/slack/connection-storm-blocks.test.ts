// The connections alert and the relief form, rendered alone: who holds the connections, the one relief
// button (carrying only the incident id), hostile application names kept inert, Slack's limits respected.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIncidentMessage, connectionHolders, requestButtons } from '../../src/slack/blocks/watch.js';
import { buildReliefModal, INCLUDE_ACTIVE } from '../../src/slack/blocks/relief.js';
import { reliefOf, type ConnectionGroup, type Incident, type LiveIncident } from '../../src/domain/watch.js';
import { ACTION, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { LIMITS } from '../../src/slack/blocks/mrkdwn.js';

const ID = '2d6f0a8e-0b5e-4c8a-9f3e-7d1c2b3a4f50';
const group = (name: string, idle: number, active: number, idleInTransaction = 0): ConnectionGroup => ({
  name,
  total: idle + active + idleInTransaction,
  idle,
  active,
  idleInTransaction,
});

function connections(applications: ConnectionGroup[]): Incident {
  return {
    key: 'main|connections|-',
    cluster: 'main',
    cause: 'connections',
    subject: '-',
    root: null,
    waiting: 0,
    oldestWaitSeconds: 0,
    applications: applications.map((a) => a.name),
    lock: null,
    behind: null,
    members: [],
    connections: {
      total: 95,
      available: 97,
      idle: 80,
      active: 15,
      idleInTransaction: 0,
      top: { applications, users: [group('app', 80, 15)], clients: [group('10.0.3.17', 60, 5)] },
    },
    seenAt: '2026-12-02T14:00:00.000000Z',
    lagBytes: null,
    error: null,
  };
}

function live(incident: Incident): LiveIncident {
  return {
    id: ID,
    key: incident.key,
    cluster: 'main',
    cause: 'connections',
    status: 'open',
    incident,
    openedAt: '2026-12-02T14:00:00Z',
    clearedAt: null,
    clearReason: null,
    messageTs: null,
    snoozedUntil: null,
    channel: 'CW',
    version: 1,
    shownVersion: 0,
    shownStatus: null,
    snoozedBy: null,
    snoozed: false,
    postDue: true,
    updateDue: true,
  };
}

test('the connections alert names the largest holders by state and offers to terminate the idle sessions of the first with idle ones', () => {
  const i = connections([group('busy-active', 0, 40), group('checkout', 50, 3, 2), group('api', 2, 0)]);
  assert.deepEqual(reliefOf(i), {
    application: 'checkout',
    idle: 52,
    active: 3,
    seenAt: '2026-12-02T14:00:00.000000Z',
  });
  const msg = buildIncidentMessage({ incident: live(i), now: new Date() });
  const text = JSON.stringify(msg.blocks);
  assert.match(
    text,
    /Applications: `busy-active` 40 \(0 idle, 0 idle in transaction, 40 active\) · `checkout` 55 \(50 idle, 2 idle in transaction, 3 active\)/,
  );
  assert.match(text, /Users: `app` 95/);
  assert.match(text, /Client addresses: `10.0.3.17` 65/);
  const buttons = requestButtons(i, ID);
  assert.equal(buttons.length, 1);
  assert.equal(buttons[0]!.action_id, ACTION.watchRelieveConnections);
  assert.equal(buttons[0]!.text.text, 'Request terminate of the 52 idle sessions of app checkout…');
  assert.deepEqual(JSON.parse(buttons[0]!.value!), { i: ID }, 'only the incident id');
  assert.deepEqual(requestButtons(connections([group('all-busy', 0, 40)]), ID), [], 'nobody idles: no button');
  assert.deepEqual(requestButtons(i), [], 'no incident id yet: no button');
});

test('hostile application names stay inert in the alert, the button and the form, within Slack limits', () => {
  const hostile = `<!channel> \`x\` *y* <@U123>${'z'.repeat(300)}`;
  const i = connections([group(hostile, 30, 1)]);
  const text = connectionHolders(i.connections!).join('\n');
  assert.doesNotMatch(text, /<!channel>|<@U123>/);
  const [button] = requestButtons(i, ID);
  assert.ok(button!.text.text.length <= LIMITS.buttonText);
  const modal = buildReliefModal({ cluster: 'main', incidentId: ID, channel: 'CW', relief: reliefOf(i)! });
  assert.equal(modal.callback_id, VIEW.reliefRequest);
  assert.deepEqual(JSON.parse(modal.private_metadata!), { incidentId: ID, channel: 'CW' });
  const body = JSON.stringify(modal.blocks);
  assert.doesNotMatch(body, /<!channel>|<@U123>/);
  assert.match(body, new RegExp(`"action_id":"${INPUT.includeActiveAction}"`));
  assert.match(body, new RegExp(`"value":"${INCLUDE_ACTIVE}"`));
  assert.match(body, /Also its 1 session running a statement/);
});
