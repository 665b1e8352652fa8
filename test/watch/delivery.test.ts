// Pure: what the watcher says in Slack (planDelivery) and how an alert reads (Block Kit renderers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { planDelivery, type Incident, type LiveIncident } from '../../src/domain/watch.js';
import {
  buildIncidentMessage,
  buildWatchSummary,
  connectionUse,
  requestButtons,
} from '../../src/slack/blocks/watch.js';
import { ACTION, decodeSnooze, decodeTarget } from '../../src/slack/blocks/ids.js';
import { LIMITS } from '../../src/slack/blocks/mrkdwn.js';
import { liveIncident } from '../helpers/watched.js';

const root = {
  pid: 4711,
  backendStart: '2026-01-01 00:00:00.123456+00',
  queryStart: '2026-01-01 00:01:00.5+00',
  xactStart: '2026-01-01 00:01:00.5+00',
  user: 'app',
  database: 'shop',
  application: 'rails-migrate',
  state: 'active',
  queryId: '-4123',
  query: 'ALTER TABLE orders ADD COLUMN x int',
  ageSeconds: 40,
  waitSeconds: 40,
};

function incident(over: Partial<Incident> = {}): Incident {
  return {
    key: 'main|lock-queue-head|4711:x',
    cluster: 'main',
    cause: 'lock-queue-head',
    subject: '4711:x',
    root,
    waiting: 38,
    oldestWaitSeconds: 35,
    applications: ['puma'],
    lock: {
      locktype: 'relation',
      mode: 'AccessExclusiveLock',
      relation: 'orders',
      relationOid: 1,
      transactionId: null,
    },
    behind: {
      ...root,
      pid: 42,
      query: 'SELECT * FROM orders',
      application: 'reporting',
      waitSeconds: null,
      ageSeconds: 600,
    },
    members: [],
    connections: null,
    lagBytes: null,
    error: null,
    ...over,
  };
}

let n = 0;
function live(over: Partial<LiveIncident> = {}): LiveIncident {
  n += 1;
  return liveIncident(incident(), {
    id: `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`,
    key: `k${n}`,
    cluster: 'main',
    cause: 'lock-queue-head',
    ...over,
  });
}

test('beyond the cap of open messages, the rest go into the summary', () => {
  const rows = [live({ messageTs: '1', shownVersion: 1, shownStatus: 'open' }), live(), live(), live()];
  const { steps, summarised } = planDelivery(rows, 2);
  assert.deepEqual(
    steps.map((s) => [s.kind, s.incident.id]),
    [['post', rows[1]!.id]],
  );
  assert.deepEqual(
    summarised.map((r) => r.id),
    [rows[2]!.id, rows[3]!.id],
  );
});

test('updates wait for the gap unless the incident cleared or reopened; nothing before Retry-After', () => {
  const changed = live({ messageTs: '1', version: 3, shownVersion: 2, shownStatus: 'open', updateDue: false });
  assert.deepEqual(planDelivery([changed], 5).steps, [], 'throttled');
  const cleared = { ...changed, status: 'cleared' as const };
  assert.equal(planDelivery([cleared], 5).steps[0]?.kind, 'update', 'a clear is shown at once');
  assert.deepEqual(planDelivery([{ ...cleared, postDue: false }], 5).steps, [], 'Retry-After honoured');
  assert.deepEqual(planDelivery([{ ...changed, updateDue: true, snoozed: true }], 5).steps, [], 'snoozed: no updates');
  assert.equal(
    planDelivery([{ ...cleared, snoozed: true }], 5).steps[0]?.kind,
    'update',
    'a snoozed incident still shows it cleared',
  );
  assert.deepEqual(planDelivery([live({ snoozed: true })], 5).steps, [], 'a snoozed cause is not posted');
  assert.equal(
    planDelivery([live({ status: 'cleared' })], 5).steps[0]?.kind,
    'settle',
    'cleared before ever posted: nothing to say',
  );
});

test('the lock-queue alert names the DDL, what it waits behind and the queue, and offers the cancel first', () => {
  const message = buildIncidentMessage({ incident: live(), now: new Date() });
  const text = JSON.stringify(message.blocks);
  assert.match(text, /ALTER TABLE orders ADD COLUMN x int/);
  assert.match(text, /behind pid 42/);
  assert.match(text, /38 sessions wait behind it/);
  const buttons = requestButtons(incident());
  assert.equal(buttons[0]?.action_id, ACTION.cancel);
  assert.equal((buttons[0]?.text as { text: string } | undefined)?.text, 'Request cancel of the waiting DDL…');
  assert.deepEqual(decodeTarget(buttons[0]!.value!), {
    cluster: 'main',
    pid: 4711,
    backendStart: root.backendStart,
    queryStart: root.queryStart,
    kind: 'cancel',
  });
  assert.equal(decodeTarget(buttons[1]!.value!)?.pid, 42);
  const snoozes = message.blocks
    .flatMap((b) => (b.type === 'actions' ? b.elements : []))
    .filter((e) => 'action_id' in e && e.action_id?.startsWith(ACTION.watchSnooze) === true);
  assert.deepEqual(
    snoozes.map((s) => decodeSnooze((s as { value: string }).value)?.minutes),
    [30, 120],
  );
});

test('a root blocker idle in transaction offers terminate only; text from the database is escaped', () => {
  const i = incident({
    cause: 'root-blocker',
    behind: null,
    root: { ...root, state: 'idle in transaction', query: 'SELECT `x` <!channel> &', application: '<!here>' },
  });
  const ids = requestButtons(i).map((b) => b.action_id);
  assert.deepEqual(ids, [ACTION.terminate]);
  const text = JSON.stringify(
    buildIncidentMessage({ incident: live({ cause: 'root-blocker', incident: i }), now: new Date() }).blocks,
  );
  assert.ok(!text.includes('<!channel>') && !text.includes('<!here>'), 'no mention smuggled in');
});

test('a cleared alert says how long it lasted and why, with no buttons left', () => {
  const message = buildIncidentMessage({
    incident: live({
      status: 'cleared',
      clearedAt: '2026-01-01T00:04:12.000000Z',
      clearReason: { kind: 'request', requestId: 'R-1', action: 'terminated', approver: 'UAPP' },
    }),
    now: new Date(),
  });
  const text = JSON.stringify(message.blocks);
  assert.match(text, /Cleared\* on `main` after 4m 12s: terminated through request `R-1` \(approved by <@UAPP>\)/);
  assert.ok(!message.blocks.some((b) => b.type === 'actions'));
});

test('connection use reads like the issue asks, and a huge summary stays within Slack limits', () => {
  assert.equal(
    connectionUse({ total: 412, available: 500, idle: 300, active: 80, idleInTransaction: 32 }),
    '412 of 500: 300 idle, 80 active, 32 idle in transaction',
  );
  const many = Array.from({ length: 500 }, () =>
    live({ incident: incident({ root: { ...root, application: 'x'.repeat(500) } }) }),
  );
  const summary = buildWatchSummary('main', many);
  for (const b of summary.blocks) if (b.type === 'section') assert.ok((b.text?.text.length ?? 0) <= LIMITS.sectionText);
  assert.match(JSON.stringify(summary.blocks), /and 480 more/);
});
