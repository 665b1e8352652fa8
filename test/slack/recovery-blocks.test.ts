// The listing of a standby, rendered alone: the header's wording for each state of replay, the startup and
// walreceiver rows without buttons, and Slack's limits kept whatever the rows and the server say.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecoveryState, SessionRow } from '../../src/domain/types.js';
import { buildListing } from '../../src/slack/blocks/listing.js';
import { LIMITS } from '../../src/slack/blocks/mrkdwn.js';
import { recoveryHeadline } from '../../src/slack/blocks/recovery.js';
import { decodeTarget } from '../../src/slack/blocks/ids.js';

const processes: RecoveryState['processes'] = [
  { pid: 41, backendType: 'startup', ageSeconds: 7_300, waitEventType: 'IPC', waitEvent: 'RecoveryWalStream' },
  { pid: 42, backendType: 'walreceiver', ageSeconds: 7_290, waitEventType: 'Activity', waitEvent: 'WalReceiverMain' },
];
const standby = (over: Partial<RecoveryState> = {}): RecoveryState => ({
  paused: false,
  bytesBehind: 12_288,
  lastReplaySeconds: 3.4,
  receiver: 'streaming',
  processes,
  ...over,
});

function session(i: number): SessionRow {
  return {
    pid: 1000 + i,
    user: 'app',
    database: 'shop',
    application: 'web',
    client: '10.0.0.1:5000',
    state: 'active',
    backendType: 'client backend',
    backendStart: '2026-11-25 14:36:00.123456+00',
    xactStart: '2026-11-25 14:40:00.000001+00',
    queryStart: `2026-11-25 14:40:00.${String(i).padStart(6, '0')}+00`,
    ageSeconds: 500 - i,
    queryAgeSeconds: 500 - i,
    xactAgeSeconds: 500 - i,
    waitEventType: null,
    waitEvent: null,
    blockedBy: [],
    blocking: 0,
    parallelWorkers: 0,
    queryId: null,
    query: `SELECT ${'x'.repeat(5000)}`,
  };
}

type Block = { type: string; text?: { text: string }; elements?: Array<{ text?: string; value?: string }> };
const listing = (recovery: RecoveryState | null, rows: SessionRow[] = [session(1)]) => {
  const rendered = buildListing({
    cluster: 'replica',
    rows,
    totalMatched: rows.length,
    filters: { limit: 200 },
    killable: () => true,
    recovery,
  });
  return { text: rendered.text, blocks: rendered.blocks as Block[] };
};
const textOf = (b: Block) => [b.text?.text ?? '', ...(b.elements ?? []).map((e) => e.text ?? '')].join(' ');

test('the header line says standby and how far replay is, for each state of replay', () => {
  assert.equal(recoveryHeadline(standby()), 'standby · replaying, 3s behind · 12 kB received, not yet replayed');
  assert.equal(
    recoveryHeadline(standby({ paused: true, lastReplaySeconds: 130 })),
    'standby · replay paused, 2m 10s behind · 12 kB received, not yet replayed',
  );
  // Nothing waiting to be replayed: the last commit's age is the primary's quiet, not lag.
  assert.equal(
    recoveryHeadline(standby({ bytesBehind: 0, lastReplaySeconds: 600 })),
    'standby · replaying, caught up with the WAL received (last replayed commit 10m 00s ago)',
  );
  assert.equal(
    recoveryHeadline(standby({ lastReplaySeconds: null, bytesBehind: 0 })),
    'standby · replaying, no transaction replayed since start-up',
  );
  assert.equal(
    recoveryHeadline(standby({ receiver: null, bytesBehind: null, lastReplaySeconds: 45 })),
    'standby · replaying, 45s behind · no WAL receiver: not streaming from a primary',
  );
  assert.equal(
    recoveryHeadline(standby({ receiver: 'waiting', bytesBehind: 0, lastReplaySeconds: 5 })),
    'standby · replaying, caught up with the WAL received (last replayed commit 5s ago) · WAL receiver waiting',
  );
  // A clock a little ahead on the standby never shows a negative lag; the role that may not read the receiver's status says nothing of it.
  assert.equal(
    recoveryHeadline(standby({ lastReplaySeconds: -2, receiver: 'unknown' })),
    'standby · replaying, 0s behind · 12 kB received, not yet replayed',
  );
});

test('a standby’s listing says so in its header and fallback text, and shows the startup process and walreceiver as rows with no buttons', () => {
  const { text, blocks } = listing(standby());
  assert.equal(blocks[0]!.text!.text, 'Sessions on replica (standby) — 1 match');
  assert.ok(
    blocks.some(
      (b) =>
        b.type === 'context' &&
        textOf(b).includes('*standby · replaying, 3s behind · 12 kB received, not yet replayed*'),
    ),
  );
  assert.match(text, /^Sessions on replica \(standby\): showing 1 of 1\. standby · replaying, 3s behind/);
  const startup = blocks.findIndex(
    (b) => textOf(b) === '*pid 41* · startup (WAL replay) · running for 2h 01m · waiting on IPC:RecoveryWalStream',
  );
  const receiver = blocks.findIndex(
    (b) =>
      textOf(b) === '*pid 42* · walreceiver (WAL receiver) · running for 2h 01m · waiting on Activity:WalReceiverMain',
  );
  assert.ok(startup > 0 && receiver === startup + 1, blocks.map(textOf).join('\n'));
  assert.notEqual(blocks[receiver + 1]!.type, 'actions', 'no buttons under the recovery rows');
  assert.match(textOf(blocks[startup - 1]!), /Recovery.*no buttons, pgsessions never signals them/);
  // The client backend keeps its buttons, and they are the only ones.
  const targets = blocks
    .filter((b) => b.type === 'actions')
    .flatMap((b) => b.elements ?? [])
    .map((e) => decodeTarget(e.value ?? '')?.pid);
  assert.deepEqual([...new Set(targets)], [1001]);
});

test('an empty standby listing still says standby and shows its recovery rows', () => {
  const { text, blocks } = listing(standby({ bytesBehind: 0, lastReplaySeconds: 20 }), []);
  assert.equal(blocks[0]!.text!.text, 'Sessions on replica (standby) — 0 matches');
  assert.equal(
    text,
    'Sessions on replica (standby): none match. standby · replaying, caught up with the WAL received (last replayed commit 20s ago).',
  );
  assert.ok(blocks.some((b) => textOf(b).startsWith('*pid 41* · startup (WAL replay)')));
  assert.ok(blocks.some((b) => textOf(b).startsWith('*pid 42* · walreceiver (WAL receiver)')));
  assert.ok(!blocks.some((b) => b.type === 'actions'));
});

test('a primary’s listing (no recovery) says nothing of standby or recovery', () => {
  for (const { text, blocks } of [listing(null), listing(null, [])]) {
    assert.doesNotMatch(`${text}\n${blocks.map(textOf).join('\n')}`, /standby|recovery|WAL replay|walreceiver/i);
  }
});

test('a standby’s listing of many long sessions stays within Slack’s limits, the recovery rows kept and the rest counted', () => {
  const rows = Array.from({ length: 60 }, (_, i) => session(i));
  const hostile = standby({
    receiver: '<!channel> *x* '.repeat(50),
    processes: [...processes, ...processes, ...processes],
  });
  const { text, blocks } = listing(hostile, rows);
  assert.ok(blocks.length <= LIMITS.blocksPerMessage, `${blocks.length} blocks`);
  assert.ok(text.length <= LIMITS.fallbackText);
  assert.ok(blocks[0]!.text!.text.length <= LIMITS.headerText);
  for (const b of blocks) {
    if (b.text) assert.ok(b.text.text.length <= LIMITS.sectionText);
    for (const e of b.elements ?? []) if (typeof e.text === 'string') assert.ok(e.text.length <= LIMITS.sectionText);
  }
  // At most four recovery rows, whatever comes back; the server's words never ping anyone.
  assert.equal(blocks.filter((b) => /^\*pid 4[12]\* · /.test(textOf(b))).length, 4);
  assert.doesNotMatch(JSON.stringify(blocks), /<!channel>/);
  assert.match(textOf(blocks.at(-1)!), /more not shown/);
});
