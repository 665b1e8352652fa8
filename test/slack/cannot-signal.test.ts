// Rows the bot's role could never signal: no button that can only end in "permission denied", and one line
// saying why. Pure renderers, checked structurally.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BlockingRow, ReplicationRow, SessionRow } from '../../src/domain/types.js';
import { SIGNAL_BLOCKERS } from '../../src/domain/types.js';
import { SIGNAL_BLOCKER_REASONS } from '../../src/domain/policy.js';
import { LIMITS, type RenderedMessage } from '../../src/slack/blocks/mrkdwn.js';
import { buildListing } from '../../src/slack/blocks/listing.js';
import { buildBlocking } from '../../src/slack/blocks/blocking.js';
import { buildReplication } from '../../src/slack/blocks/replication.js';

function session(pid: number, over: Partial<SessionRow> = {}): SessionRow {
  return {
    pid,
    user: 'app',
    database: 'shop',
    application: 'puma',
    client: '10.0.0.1:5000',
    state: 'active',
    backendType: 'client backend',
    backendStart: '2026-11-25 14:36:00.123456+00',
    xactStart: '2026-11-25 14:36:01.123456+00',
    queryStart: '2026-11-25 14:36:02.123456+00',
    ageSeconds: 100,
    queryAgeSeconds: 100,
    xactAgeSeconds: 100,
    waitEventType: null,
    waitEvent: null,
    blockedBy: [],
    blocking: 0,
    parallelWorkers: 0,
    queryId: null,
    query: 'SELECT 1',
    ...over,
  };
}

const kills = (message: RenderedMessage): string[] =>
  JSON.stringify(message.blocks)
    .match(/"action_id":"pgs_[a-z_]+"/g)
    ?.filter((a) => !a.includes('share')) ?? [];
const texts = (message: RenderedMessage): string => JSON.stringify(message.blocks);

test('a listing row the server would refuse has no buttons and says why; the others keep theirs', () => {
  for (const blocker of SIGNAL_BLOCKERS) {
    const msg = buildListing({
      cluster: 'prod',
      rows: [session(1, { signalBlocker: blocker }), session(2)],
      totalMatched: 2,
      filters: { limit: 20 },
      killable: () => true,
    });
    const blocks = msg.blocks as Array<{ type: string; text?: { text: string }; elements?: Array<{ text?: string }> }>;
    const first = blocks.findIndex((b) => b.type === 'section' && b.text?.text.includes('*pid 1*'));
    assert.equal(blocks[first + 1]?.type, 'context', `${blocker}: a reason line right under the row`);
    assert.ok(blocks[first + 1]?.elements?.[0]?.text?.includes(SIGNAL_BLOCKER_REASONS[blocker]), blocker);
    const second = blocks.findIndex((b) => b.type === 'section' && b.text?.text.includes('*pid 2*'));
    assert.equal(blocks[second + 1]?.type, 'actions', 'the signallable row keeps its buttons');
    assert.equal(kills(msg).length, 2, `${blocker}: only the second row's Cancel and Terminate`);
  }
});

test('no reason line where there are no buttons for another cause (read-only, protected): nothing to explain twice', () => {
  const msg = buildListing({
    cluster: 'prod',
    rows: [session(1, { signalBlocker: 'superuser' })],
    totalMatched: 1,
    filters: { limit: 20 },
    killable: () => false,
  });
  assert.deepEqual(kills(msg), []);
  assert.ok(!texts(msg).includes(SIGNAL_BLOCKER_REASONS.superuser));
});

test('a listing of 200 rows the server would refuse stays within Slack’s block limit', () => {
  const rows = Array.from({ length: 200 }, (_, i) => session(i + 1, { signalBlocker: 'superuser' }));
  const msg = buildListing({ cluster: 'prod', rows, totalMatched: 200, filters: { limit: 200 }, killable: () => true });
  assert.ok(msg.blocks.length <= LIMITS.blocksPerMessage);
  assert.deepEqual(kills(msg), []);
});

test('a root blocker the server would refuse has no buttons in `blocking`, and says why', () => {
  const root: BlockingRow = {
    ...session(1, { state: 'idle in transaction', blocking: 1, signalBlocker: 'superuser' }),
    blocksCount: 1,
    depth: 0,
  };
  const waiter: BlockingRow = { ...session(2, { blockedBy: [1] }), blocksCount: 0, depth: 1 };
  const msg = buildBlocking({ cluster: 'prod', rows: [root, waiter], killable: () => true });
  assert.deepEqual(kills(msg), []);
  assert.ok(texts(msg).includes(SIGNAL_BLOCKER_REASONS.superuser));
});

test('a walsender the server would refuse has no End walsender button, and says why', () => {
  const ws = (pid: number, over: Partial<ReplicationRow> = {}): ReplicationRow => ({
    pid,
    user: 'replicator',
    application: `standby${pid}`,
    client: '10.0.0.9:5432',
    state: 'streaming',
    backendStart: '2026-11-25 14:36:00.123456+00',
    sentLsn: '0/1',
    replayLsn: '0/1',
    lagBytes: 0,
    replayLagSeconds: 0,
    syncState: 'async',
    slotName: null,
    ...over,
  });
  const msg = buildReplication({
    cluster: 'prod',
    rows: [ws(1, { signalBlocker: 'superuser' }), ws(2)],
    killable: () => true,
  });
  assert.equal(kills(msg).length, 1, 'only the second walsender has a button');
  assert.ok(texts(msg).includes(SIGNAL_BLOCKER_REASONS.superuser));
});

test('Cancel is offered only for a running query: never for idle, never-queried, disabled or idle-in-transaction rows', () => {
  const cases: Array<[Partial<SessionRow>, string[]]> = [
    [{ state: 'active' }, ['Cancel', 'Terminate']],
    [{ state: 'fastpath function call' }, ['Cancel', 'Terminate']],
    [{ state: 'idle' }, ['Terminate']],
    [{ state: 'idle', queryStart: null }, ['Terminate']],
    [{ state: 'active', queryStart: null }, ['Terminate']],
    [{ state: 'disabled' }, ['Terminate']],
    [{ state: 'idle in transaction' }, ['Terminate']],
  ];
  for (const [over, labels] of cases) {
    const msg = buildListing({
      cluster: 'prod',
      rows: [session(1, over)],
      totalMatched: 1,
      filters: { limit: 20 },
      killable: () => true,
    });
    const shown = (
      JSON.stringify(msg.blocks).match(/"text":\{"type":"plain_text","text":"(Cancel|Terminate)"/g) ?? []
    ).map((m) => (m.includes('Cancel') ? 'Cancel' : 'Terminate'));
    assert.deepEqual(shown, labels, JSON.stringify(over));
  }
});
