import { test } from 'node:test';
import assert from 'node:assert/strict';
import type {
  ExecutionResult,
  KillRequest,
  ListFilters,
  ReplicationRow,
  RoleCapabilities,
  SessionRow,
  TargetSnapshot,
  BlockingRow,
} from '../../src/domain/types.js';
import { TARGET_OUTCOMES } from '../../src/domain/types.js';
import { USAGE } from '../../src/domain/command.js';
import {
  ACTION,
  BLOCK,
  ESCALATE_CHOICE,
  INPUT,
  VIEW,
  decodeModalMetadata,
  decodeTarget,
  type ButtonTarget,
} from '../../src/slack/blocks/ids.js';
import {
  LIMITS,
  codeSpan,
  escapeMrkdwn,
  escapeTruncate,
  truncate,
  type RenderedMessage,
} from '../../src/slack/blocks/mrkdwn.js';
import { buildListing } from '../../src/slack/blocks/listing.js';
import { buildBlocking } from '../../src/slack/blocks/blocking.js';
import { buildReplication, formatBytes } from '../../src/slack/blocks/replication.js';
import { buildHelp, buildUsageError } from '../../src/slack/blocks/help.js';
import { buildApprovalMessage, buildPendingList } from '../../src/slack/blocks/request.js';
import { buildRequestModal } from '../../src/slack/blocks/request-form.js';
import { describeOutcome, describeResult } from '../../src/slack/blocks/outcome.js';

// ------------------------------------------------------------------------------------------ fixtures

const HOSTILE = '<!channel> & <@U999> `x` *bold* _it_ ~s~ > \n\t<https://evil|click>';
const HUGE_QUERY = `SELECT '${HOSTILE}' ${'a < b && c > d `tick`\n'.repeat(4000)}`.slice(0, 100_000);
const TS = '2026-11-25 14:36:10.123456+00';

function session(i: number, over: Partial<SessionRow> = {}): SessionRow {
  return {
    pid: 1000 + i,
    user: `user<${i}>&\`x\``,
    database: `db&${i}`,
    application: `app <${i}>\nnext line`,
    client: '10.0.0.1',
    state: 'active',
    backendType: 'client backend',
    backendStart: `2026-11-25 14:36:${String(i % 60).padStart(2, '0')}.123456+00`,
    xactStart: TS,
    queryStart: `2026-11-25 14:40:00.${String(i).padStart(6, '0')}+00`,
    ageSeconds: 10_000 - i,
    queryAgeSeconds: 10_000 - i,
    xactAgeSeconds: 10_000 - i,
    waitEventType: null,
    waitEvent: null,
    blockedBy: [],
    blocking: 0,
    parallelWorkers: 0,
    queryId: null,
    query: HUGE_QUERY,
    ...over,
  };
}

const filters: ListFilters = { limit: 200 };

function snapshot(i: number, over: Partial<TargetSnapshot> = {}): TargetSnapshot {
  const s = session(i);
  return {
    pid: s.pid,
    backendStart: s.backendStart,
    queryStart: s.queryStart,
    xactStart: s.xactStart,
    backendType: s.backendType,
    user: s.user,
    database: s.database,
    application: s.application,
    client: s.client,
    state: s.state,
    query: s.query,
    ...over,
  };
}

function request(over: Partial<KillRequest> = {}): KillRequest {
  return {
    id: 'req_01HXYZ',
    cluster: 'prod<&>',
    action: 'terminate',
    targets: [snapshot(1)],
    reason: `Holding locks ${HOSTILE}`,
    requester: 'U0REQUESTER',
    channel: 'C0INCIDENT',
    messageTs: '1700000000.000100',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: '2026-11-25T14:40:00.000Z',
    expiresAt: '2026-11-25T14:55:00.000Z',
    escalateAfterSeconds: null,
    scope: null,
    result: null,
    ...over,
  };
}

const NOW = new Date('2026-11-25T14:41:00.000Z');

// ------------------------------------------------------------------------------------ structure walk

type Json = Record<string, unknown>;
interface ButtonLike {
  action_id: string;
  value?: string;
  style?: string;
  text: { text: string };
}

function blocksOf(msg: { blocks: unknown[] }): Json[] {
  return msg.blocks as Json[];
}

function buttons(msg: { blocks: unknown[] }): ButtonLike[] {
  const out: ButtonLike[] = [];
  for (const b of blocksOf(msg)) {
    if (b.type === 'actions') out.push(...(b.elements as ButtonLike[]));
    const accessory = b.accessory as Json | undefined;
    if (accessory?.type === 'button') out.push(accessory as unknown as ButtonLike);
  }
  return out;
}

/** Every mrkdwn string in the blocks. */
function mrkdwnTexts(msg: { blocks: unknown[] }): string[] {
  const out: string[] = [];
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(visit);
    if (node === null || typeof node !== 'object') return;
    const obj = node as Json;
    if (obj.type === 'mrkdwn' && typeof obj.text === 'string') out.push(obj.text);
    for (const value of Object.values(obj)) visit(value);
  };
  visit(msg.blocks);
  return out;
}

function allText(msg: { blocks: unknown[] }): string {
  return JSON.stringify(msg.blocks);
}

/** Every limit Slack documents for what we render, and that nothing we did not mean is live mrkdwn. */
function assertSlackSafe(msg: { blocks: unknown[]; text?: string }, maxBlocks: number = LIMITS.blocksPerMessage): void {
  const blocks = blocksOf(msg);
  assert.ok(blocks.length >= 1 && blocks.length <= maxBlocks, `${blocks.length} blocks`);
  if (msg.text !== undefined) {
    assert.ok(msg.text.length > 0 && msg.text.length <= LIMITS.fallbackText, `fallback ${msg.text.length}`);
  }
  for (const b of blocks) {
    const text = b.text as Json | undefined;
    switch (b.type) {
      case 'header':
        assert.equal(text?.type, 'plain_text');
        assert.ok(String(text?.text).length <= LIMITS.headerText);
        break;
      case 'section':
        assert.ok(text !== undefined || Array.isArray(b.fields));
        if (text)
          assert.ok(
            String(text.text).length >= 1 && String(text.text).length <= LIMITS.sectionText,
            `section ${String(text.text).length}`,
          );
        break;
      case 'context': {
        const elements = b.elements as Json[];
        assert.ok(elements.length >= 1 && elements.length <= LIMITS.contextElements);
        for (const e of elements) assert.ok(String(e.text).length <= LIMITS.sectionText);
        break;
      }
      case 'actions':
        assert.ok((b.elements as unknown[]).length >= 1 && (b.elements as unknown[]).length <= LIMITS.actionsElements);
        break;
      case 'input':
      case 'divider':
        break;
      default:
        assert.fail(`unexpected block type ${String(b.type)}`);
    }
  }
  for (const btn of buttons(msg)) {
    assert.ok(btn.text.text.length >= 1 && btn.text.text.length <= LIMITS.buttonText);
    assert.ok(btn.action_id.length >= 1 && btn.action_id.length <= LIMITS.actionId);
    assert.ok((btn.value ?? '').length <= LIMITS.buttonValue);
  }
  for (const t of [...mrkdwnTexts(msg), ...(msg.text !== undefined ? [msg.text] : [])]) {
    // The only live angle-bracket syntax we emit: user and channel mentions and Slack dates.
    const rest = t.replace(/<@[UW][A-Z0-9]+>|<#[CGD][A-Z0-9]+>|<!date\^\d+\^[^|>]+\|[^<>]+>/g, '');
    assert.ok(!/[<>]/.test(rest), `unescaped angle bracket in ${JSON.stringify(rest.slice(0, 200))}`);
    assert.ok(!/&(?!amp;|lt;|gt;)/.test(t), 'unescaped ampersand');
    assert.ok(!t.includes('<!channel>'));
  }
  for (const t of mrkdwnTexts(msg)) {
    assert.equal((t.match(/`/g) ?? []).length % 2, 0, `unbalanced backticks in ${JSON.stringify(t.slice(0, 200))}`);
  }
}

// ------------------------------------------------------------------------------------- mrkdwn helpers

test('escapeMrkdwn escapes the three characters Slack reserves', () => {
  assert.equal(escapeMrkdwn('a & b < c > d'), 'a &amp; b &lt; c &gt; d');
  assert.equal(escapeMrkdwn('&amp;'), '&amp;amp;');
});

test('truncate never exceeds max, ends with an ellipsis when cut, and never splits a surrogate pair', () => {
  assert.equal(truncate('short', 10), 'short');
  assert.equal(truncate('exactly10!', 10), 'exactly10!');
  assert.equal(truncate('0123456789abc', 10), '012345678…');
  assert.equal(truncate('abc', 0), '');
  const emoji = '😀'.repeat(10);
  for (let max = 1; max <= 21; max++) {
    const out = truncate(emoji, max);
    assert.ok(out.length <= max);
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(out), `lone high surrogate at max ${max}`);
    assert.ok(!/(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(out));
  }
});

test('escapeTruncate fits after escaping and never cuts an entity in half', () => {
  const out = escapeTruncate('&&&&&&&&&&', 12);
  assert.ok(out.length <= 12);
  assert.equal(out, '&amp;&amp;…');
});

test('codeSpan neutralises backticks, collapses whitespace, escapes and bounds its length', () => {
  const span = codeSpan('select `a`\n  from\t<t> & u', 100);
  assert.equal(span, '`select ˋaˋ from &lt;t&gt; &amp; u`');
  const long = codeSpan(HUGE_QUERY, 302);
  assert.ok(long.length <= 302);
  assert.ok(long.startsWith('`') && long.endsWith('…`'));
  assert.equal((long.match(/`/g) ?? []).length, 2);
  assert.equal(codeSpan('  \n '), '_(empty)_');
});

// -------------------------------------------------------------------------------------------- listing

test('a listing of 200 sessions with 100 KB hostile queries stays within every Slack limit', () => {
  const rows = Array.from({ length: 200 }, (_, i) => session(i));
  const msg = buildListing({ cluster: 'prod', rows, totalMatched: 250, filters, killable: () => true });
  assertSlackSafe(msg);
  const shown = blocksOf(msg).filter((b) => b.type === 'section').length;
  assert.ok(shown >= 15, `only ${shown} rows shown`);
  assert.ok(allText(msg).includes(`${250 - shown} more not shown — narrow with db:, user:, min: or limit:`));
});

test('a listing row shows identity, state, both ages, wait event, blockers, workers and the start of the query', () => {
  const row = session(1, {
    pid: 4242,
    user: 'alice',
    database: 'shop',
    application: 'psql',
    state: 'idle in transaction',
    ageSeconds: 760,
    queryAgeSeconds: 303,
    xactAgeSeconds: 760,
    waitEventType: 'Client',
    waitEvent: 'ClientRead',
    blockedBy: [123, 456],
    parallelWorkers: 2,
    query: 'UPDATE orders SET x = 1 WHERE id < 10 & `y`',
  });
  const msg = buildListing({ cluster: 'prod', rows: [row], totalMatched: 1, filters, killable: () => true });
  assertSlackSafe(msg);
  const section = mrkdwnTexts(msg).find((t) => t.includes('pid 4242'));
  assert.ok(section);
  for (const fragment of [
    'alice',
    'shop',
    'psql',
    '10.0.0.1',
    'idle in transaction',
    '12m 40s',
    'query 5m 03s',
    'transaction 12m 40s',
    'Client:ClientRead',
    'blocked by 123, 456',
    '+2 parallel workers',
    '`UPDATE orders SET x = 1 WHERE id &lt; 10 &amp; ˋyˋ`',
  ]) {
    assert.ok(section.includes(fragment), `missing ${fragment} in ${section}`);
  }
  assert.ok(!allText(msg).includes('more not shown'));
});

test('a listing truncates each query to about 300 characters with an ellipsis', () => {
  const msg = buildListing({
    cluster: 'prod',
    rows: [session(1, { query: 'x'.repeat(5000) })],
    totalMatched: 1,
    filters,
    killable: () => true,
  });
  const section = mrkdwnTexts(msg).find((t) => t.includes('pid 1001'))!;
  const code = /`([^`]*)`/.exec(section)![1]!;
  assert.ok(code.length <= 300 && code.endsWith('…'), String(code.length));
});

test('hostile names and queries are escaped in a listing', () => {
  const msg = buildListing({ cluster: 'prod', rows: [session(1)], totalMatched: 1, filters, killable: () => true });
  const text = mrkdwnTexts(msg).join('\n');
  assert.ok(text.includes('user&lt;1&gt;&amp;'));
  assert.ok(text.includes('&lt;!channel&gt;'));
  assert.ok(!text.includes('<!channel>'));
});

test('Cancel and Terminate are offered for an active session, with values naming exactly that session', () => {
  const row = session(7);
  const msg = buildListing({ cluster: 'prod', rows: [row], totalMatched: 1, filters, killable: () => true });
  const [cancel, terminate, ...rest] = buttons(msg);
  assert.equal(rest.length, 0);
  assert.equal(cancel?.action_id, ACTION.cancel);
  assert.equal(cancel?.text.text, 'Cancel');
  assert.equal(terminate?.action_id, ACTION.terminate);
  assert.equal(terminate?.text.text, 'Terminate');
  assert.equal(terminate?.style, 'danger');
  const identity = { cluster: 'prod', pid: row.pid, backendStart: row.backendStart, queryStart: row.queryStart };
  assert.deepEqual(decodeTarget(cancel!.value!), { ...identity, kind: 'cancel' } satisfies ButtonTarget);
  assert.deepEqual(decodeTarget(terminate!.value!), { ...identity, kind: 'terminate' } satisfies ButtonTarget);
});

test('Cancel is not offered for idle in transaction sessions, only Terminate', () => {
  for (const state of ['idle in transaction', 'idle in transaction (aborted)']) {
    const msg = buildListing({
      cluster: 'prod',
      rows: [session(1, { state })],
      totalMatched: 1,
      filters,
      killable: () => true,
    });
    assert.deepEqual(
      buttons(msg).map((b) => b.action_id),
      [ACTION.terminate],
    );
  }
});

test('no buttons appear for sessions that are not killable', () => {
  const rows = [session(1), session(2, { user: 'replicator' })];
  const none = buildListing({ cluster: 'prod', rows, totalMatched: 2, filters, killable: () => false });
  assert.equal(buttons(none).length, 0);
  assert.ok(!blocksOf(none).some((b) => b.type === 'actions'));
  const some = buildListing({
    cluster: 'prod',
    rows,
    totalMatched: 2,
    filters,
    killable: (r) => r.user !== 'replicator',
  });
  assert.equal(blocksOf(some).filter((b) => b.type === 'actions').length, 1);
});

test('an empty listing says so kindly', () => {
  const quiet = buildListing({
    cluster: 'prod',
    rows: [],
    totalMatched: 0,
    filters: { limit: 20 },
    killable: () => true,
  });
  assertSlackSafe(quiet);
  assert.ok(allText(quiet).includes('No active sessions match. All quiet.'));
  const filtered = buildListing({
    cluster: 'prod',
    rows: [],
    totalMatched: 0,
    filters: { limit: 20, database: 'shop' },
    killable: () => true,
  });
  assertSlackSafe(filtered);
  assert.ok(allText(filtered).includes('db:shop'));
});

// ------------------------------------------------------------------------------------------- blocking

function blockingRow(i: number, depth: number, over: Partial<BlockingRow> = {}): BlockingRow {
  return { ...session(i), depth, blocksCount: depth === 0 ? 3 : 0, ...over };
}

test('the blocking tree shows root blockers first with their count, and buttons only on roots', () => {
  const rows: BlockingRow[] = [
    blockingRow(1, 0, { state: 'idle in transaction', blocksCount: 2 }),
    blockingRow(2, 1, { blockedBy: [1001], blocksCount: 1 }),
    blockingRow(3, 2, { blockedBy: [1002] }),
    blockingRow(4, 0, { state: 'active', blocksCount: 1 }),
    blockingRow(5, 1, { blockedBy: [1004] }),
  ];
  const msg = buildBlocking({ cluster: 'prod', rows, killable: () => true });
  assertSlackSafe(msg);
  const sections = blocksOf(msg)
    .filter((b) => b.type === 'section')
    .map((b) => String((b.text as Json).text));
  assert.ok(sections[0]!.includes('pid 1001') && sections[0]!.includes('blocks 2 sessions'));
  assert.ok(sections[1]!.includes('↳') && sections[1]!.includes('blocked by 1001'));
  assert.ok(sections[3]!.includes('blocks 1 session'));
  const btns = buttons(msg);
  const targets = btns.map((b) => decodeTarget(b.value!)!);
  assert.deepEqual(
    targets.map((t) => [t.pid, t.kind]),
    [
      [1001, 'terminate'],
      [1004, 'cancel'],
      [1004, 'terminate'],
    ],
  );
});

test('the blocking tree of 200 sessions with huge queries stays within limits, and an empty one is calm', () => {
  const rows = Array.from({ length: 200 }, (_, i) => blockingRow(i, i % 4 === 0 ? 0 : Math.min(i % 4, 9)));
  const msg = buildBlocking({ cluster: 'prod', rows, killable: () => true });
  assertSlackSafe(msg);
  assert.ok(allText(msg).includes('more not shown'));
  const none = buildBlocking({ cluster: 'prod', rows: [], killable: () => true });
  assertSlackSafe(none);
  assert.ok(allText(none).includes('Nothing is waiting on a lock'));
  assert.equal(buttons(buildBlocking({ cluster: 'prod', rows, killable: () => false })).length, 0);
});

// ---------------------------------------------------------------------------------------- replication

function walsender(i: number, over: Partial<ReplicationRow> = {}): ReplicationRow {
  return {
    pid: 500 + i,
    user: 'replicator',
    application: `standby<${i}>`,
    client: '10.0.0.9',
    state: 'streaming',
    backendStart: TS,
    sentLsn: '0/3000060',
    replayLsn: '0/3000000',
    lagBytes: 12 * 1024 * 1024,
    replayLagSeconds: 4,
    syncState: 'async',
    slotName: 'slot_a',
    ...over,
  };
}

test('walsenders show lag and an End walsender button naming the walsender, with the reconnect warning', () => {
  const msg = buildReplication({ cluster: 'prod', rows: [walsender(1)], killable: () => true });
  assertSlackSafe(msg);
  const text = mrkdwnTexts(msg).join('\n');
  for (const fragment of [
    'standby&lt;1&gt;',
    '10.0.0.9',
    'streaming',
    'async',
    'slot_a',
    'lag 12 MB',
    'replay lag 4s',
  ]) {
    assert.ok(text.includes(fragment), fragment);
  }
  assert.match(text, /standby reconnects/);
  assert.match(text, /slot keeps holding WAL/);
  const [btn] = buttons(msg);
  assert.equal(btn?.action_id, ACTION.terminateWalsender);
  assert.equal(btn?.text.text, 'End walsender…');
  assert.deepEqual(decodeTarget(btn!.value!), {
    cluster: 'prod',
    pid: 501,
    backendStart: TS,
    queryStart: null,
    kind: 'terminate_walsender',
  });
});

test('walsenders are listed by application name, without buttons when not killable, and within limits', () => {
  const rows = [
    walsender(2, { application: 'b' }),
    walsender(3, { application: null }),
    walsender(1, { application: 'a' }),
  ];
  const msg = buildReplication({ cluster: 'prod', rows, killable: () => false });
  assert.equal(buttons(msg).length, 0);
  const sections = mrkdwnTexts(msg).filter((t) => t.includes('pid'));
  assert.deepEqual(
    sections.map((t) => /pid (\d+)/.exec(t)![1]),
    ['501', '502', '503'],
  );
  const many = buildReplication({
    cluster: 'prod',
    rows: Array.from({ length: 200 }, (_, i) => walsender(i)),
    killable: () => true,
  });
  assertSlackSafe(many);
  assert.ok(allText(many).includes('more not shown'));
  const none = buildReplication({ cluster: 'prod', rows: [], killable: () => true });
  assertSlackSafe(none);
  assert.ok(allText(none).includes('No walsenders'));
});

test('formatBytes reads like pg_size_pretty', () => {
  assert.equal(formatBytes(0), '0 B');
  assert.equal(formatBytes(512), '512 B');
  assert.equal(formatBytes(12 * 1024 * 1024), '12 MB');
  assert.equal(formatBytes(1.5 * 1024 ** 3), '1.5 GB');
  assert.equal(formatBytes(-1), '?');
});

// ----------------------------------------------------------------------------------------------- help

const caps = (over: Partial<RoleCapabilities> = {}): RoleCapabilities => ({
  role: 'pgsessions',
  superuser: false,
  readAllStats: true,
  signalBackend: true,
  reservedConnections: { member: true, reserved: 3 },
  serverVersion: '16.4',
  serverVersionNum: 160004,
  ...over,
});

test('help shows the usage and, per cluster, the version and what the role cannot do', () => {
  const msg = buildHelp({
    readOnly: true,
    clusters: [
      { name: 'full', capabilities: caps(), reachable: true },
      { name: 'blind', capabilities: caps({ readAllStats: false, signalBackend: false }), reachable: true },
      { name: 'root', capabilities: caps({ superuser: true }), reachable: true },
      { name: 'down', capabilities: null, reachable: false },
    ],
  });
  assertSlackSafe(msg);
  const text = mrkdwnTexts(msg).join('\n');
  assert.ok(text.includes(USAGE));
  assert.ok(text.includes('PostgreSQL 16.4'));
  assert.match(text, /query text is hidden/);
  assert.match(text, /cannot cancel or terminate sessions of other roles/);
  assert.match(text, /superuser\*: it should not be/);
  assert.match(text, /\*down\* — :red_circle: unreachable/);
  assert.match(text, /Read-only mode/);
});

test('help with 100 clusters stays within limits', () => {
  const clusters = Array.from({ length: 100 }, (_, i) => ({ name: `c<${i}>`, capabilities: caps(), reachable: true }));
  const msg = buildHelp({ readOnly: false, clusters });
  assertSlackSafe(msg);
  assert.ok(allText(msg).includes('more clusters not shown'));
});

test('a usage error shows the escaped message and the usage', () => {
  const msg = buildUsageError('Unknown word “<!here>&”.');
  assertSlackSafe(msg);
  const text = mrkdwnTexts(msg).join('\n');
  assert.ok(text.includes('&lt;!here&gt;&amp;'));
  assert.ok(text.includes(USAGE));
});

// ---------------------------------------------------------------------------------------------- modal

function modal(kind: ButtonTarget['kind'], state = 'active') {
  const snap = snapshot(3, { state });
  const target: ButtonTarget = {
    cluster: 'prod',
    pid: snap.pid,
    backendStart: snap.backendStart,
    queryStart: kind === 'terminate_walsender' ? null : snap.queryStart,
    kind,
  };
  return { target, view: buildRequestModal({ target, snapshot: snap, channel: 'C0INCIDENT' }) };
}

test('the request modal asks for a required reason of at most 500 characters and carries target and channel', () => {
  for (const kind of ['cancel', 'terminate', 'terminate_walsender'] as const) {
    const { target, view } = modal(kind);
    assertSlackSafe(view, LIMITS.blocksPerModal);
    assert.equal(view.type, 'modal');
    assert.equal(view.callback_id, VIEW.request);
    assert.ok(view.title.text.length <= LIMITS.modalTitle);
    assert.ok(view.submit && view.submit.text.length <= 24);
    assert.ok(view.close && view.close.text.length <= 24);
    assert.ok(view.private_metadata!.length <= LIMITS.privateMetadata);
    assert.deepEqual(decodeModalMetadata(view.private_metadata!), { target, channel: 'C0INCIDENT' });
    const reason = blocksOf(view).find((b) => b.block_id === INPUT.reasonBlock)!;
    assert.equal(reason.type, 'input');
    assert.notEqual(reason.optional, true);
    const element = reason.element as Json;
    assert.equal(element.action_id, INPUT.reasonAction);
    assert.equal(element.multiline, true);
    assert.equal(element.max_length, 500);
    assert.ok(mrkdwnTexts(view).some((t) => t.includes(`pid ${target.pid}`)));
  }
});

test('the escalate choice appears only when cancelling an active query', () => {
  const choice = (kind: ButtonTarget['kind'], state?: string) =>
    blocksOf(modal(kind, state).view).find((b) => b.block_id === INPUT.escalateBlock);
  const block = choice('cancel');
  assert.ok(block);
  const element = block.element as Json;
  assert.equal(element.action_id, INPUT.escalateAction);
  const options = element.options as { value: string; text: { text: string } }[];
  assert.deepEqual(
    options.map((o) => o.value),
    [ESCALATE_CHOICE.cancelOnly, ESCALATE_CHOICE.cancelThenTerminate],
  );
  assert.equal(options[0]!.text.text, 'Cancel only');
  assert.match(options[1]!.text.text, /Cancel, then terminate if still running after 10 s/);
  assert.equal(choice('cancel', 'idle in transaction'), undefined);
  assert.equal(choice('terminate'), undefined);
  assert.equal(choice('terminate_walsender'), undefined);
});

test('the walsender modal carries the reconnect warning', () => {
  assert.ok(mrkdwnTexts(modal('terminate_walsender').view).some((t) => t.includes('slot keeps holding WAL')));
  assert.ok(!mrkdwnTexts(modal('terminate').view).some((t) => t.includes('slot keeps holding WAL')));
});

// ------------------------------------------------------------------------------------------- approval

test('a pending request shows Approve, Deny and Withdraw carrying only the request id', () => {
  const msg = buildApprovalMessage({ request: request(), now: NOW });
  assertSlackSafe(msg);
  const actions = blocksOf(msg).filter((b) => b.type === 'actions');
  assert.equal(actions.length, 1);
  assert.equal(actions[0]!.block_id, BLOCK.decision);
  const btns = buttons(msg);
  assert.deepEqual(
    btns.map((b) => [b.action_id, b.text.text, b.style, b.value]),
    [
      [ACTION.approve, 'Approve', 'primary', 'req_01HXYZ'],
      [ACTION.deny, 'Deny', 'danger', 'req_01HXYZ'],
      [ACTION.withdraw, 'Withdraw', undefined, 'req_01HXYZ'],
    ],
  );
});

test('a pending request shows the target as seen, the requester, the escaped reason and the expiry', () => {
  const msg = buildApprovalMessage({ request: request(), now: NOW });
  const header = blocksOf(msg)[0]!;
  assert.equal((header.text as Json).text, 'Terminate request');
  const text = mrkdwnTexts(msg).join('\n');
  assert.ok(text.includes('<@U0REQUESTER>'));
  assert.ok(text.includes('prod&lt;&amp;&gt;'));
  assert.ok(text.includes('Holding locks &lt;!channel&gt; &amp;'));
  const epoch = Date.parse('2026-11-25T14:55:00.000Z') / 1000;
  assert.ok(text.includes(`<!date^${epoch}^{time}|`));
  for (const fragment of [
    'pid 1001',
    'user&lt;1&gt;',
    'db&amp;1',
    'query started 2026-11-25 14:40:00.000001+00',
    '`SELECT',
  ]) {
    assert.ok(text.includes(fragment), fragment);
  }
});

test('headers name the action', () => {
  const header = (r: KillRequest) =>
    String((blocksOf(buildApprovalMessage({ request: r, now: NOW }))[0]!.text as Json).text);
  assert.equal(header(request({ action: 'cancel' })), 'Cancel request');
  assert.match(
    header(request({ action: 'cancel_then_terminate', escalateAfterSeconds: 10 })),
    /^Cancel request .*10 s/,
  );
  assert.equal(header(request({ action: 'terminate_walsender' })), 'End walsender request');
  const all = request({ action: 'terminate_all', scope: { database: 'shop' }, targets: [snapshot(1), snapshot(2)] });
  assert.equal(header(all), 'Terminate ALL sessions of db shop — 2 sessions');
});

test('a walsender request carries the reconnect warning', () => {
  const msg = buildApprovalMessage({ request: request({ action: 'terminate_walsender' }), now: NOW });
  assert.ok(mrkdwnTexts(msg).some((t) => t.includes('slot keeps holding WAL')));
});

test('a terminate-all request with 500 huge targets lists about 30 and counts the rest, within limits', () => {
  const targets = Array.from({ length: 500 }, (_, i) => snapshot(i));
  const outcomes = targets.map((t, i) => ({
    pid: t.pid,
    outcome: i % 3 === 0 ? ('gone' as const) : ('terminated' as const),
  }));
  for (const status of ['pending', 'executed'] as const) {
    const msg = buildApprovalMessage({
      request: request({
        action: 'terminate_all',
        scope: { database: 'shop', user: 'etl', application: 'my app' },
        targets,
        status,
        decidedBy: status === 'pending' ? null : 'U0APPROVER',
        decidedAt: status === 'pending' ? null : '2026-11-25T14:42:00.000Z',
        result: status === 'pending' ? null : { outcomes },
      }),
      now: NOW,
    });
    assertSlackSafe(msg);
    const text = allText(msg);
    assert.ok(text.includes('pid 1029') && !text.includes('*pid 1030*'));
    assert.ok(text.includes('470 more not shown'));
    assert.ok(
      mrkdwnTexts(msg).some(
        (t) => t.includes('db:shop user:etl app:\\"my app\\"') || t.includes('db:shop user:etl app:"my app"'),
      ),
    );
    if (status === 'executed') {
      assert.ok(
        text.includes('333 terminated, 167 no longer running or changed — nothing killed') ||
          text.includes('167 no longer running or changed — nothing killed, 333 terminated'),
      );
      assert.ok(text.includes('pid 1000: no longer running or changed — nothing killed'));
      assert.equal(buttons(msg).length, 0);
    }
  }
});

test('a decided request has no buttons and says the outcome in plain words', () => {
  const decided = (over: Partial<KillRequest>) => {
    const msg = buildApprovalMessage({ request: request(over), now: NOW });
    assertSlackSafe(msg);
    assert.equal(buttons(msg).length, 0);
    assert.ok(!blocksOf(msg).some((b) => b.type === 'actions'));
    return mrkdwnTexts(msg).join('\n');
  };
  const at = { decidedBy: 'U0APPROVER', decidedAt: '2026-11-25T14:42:00.000Z' };
  const result = (r: ExecutionResult) => ({ ...at, status: 'executed' as const, result: r });
  assert.match(
    decided(result({ outcomes: [{ pid: 1001, outcome: 'terminated' }] })),
    /Approved by <@U0APPROVER> at <!date\^\d+\^\{time\}\|[^>]+> — terminated/,
  );
  assert.match(decided({ ...at, status: 'denied' }), /Denied by <@U0APPROVER>/);
  assert.match(decided({ status: 'withdrawn', decidedBy: 'U0REQUESTER' }), /Withdrawn by the requester/);
  assert.match(decided({ status: 'expired' }), /Expired unapproved/);
  assert.match(decided({ ...at, status: 'approved' }), /Approved by <@U0APPROVER>.*executing/);
  assert.match(
    decided({
      ...at,
      status: 'failed',
      result: {
        outcomes: [
          {
            pid: 1001,
            outcome: 'permission_denied',
            message: 'must be a member of the role whose process is being terminated <x>',
          },
        ],
      },
    }),
    /permission denied: must be a member of the role whose process is being terminated &lt;x&gt;/,
  );
  assert.match(
    decided({ ...at, status: 'failed', result: { outcomes: [], unreachable: true } }),
    /cluster unreachable/,
  );
  assert.match(
    decided(result({ outcomes: [{ pid: 1001, outcome: 'gone' }], interrupted: true })),
    /interrupted by a restart — reconciled, not re-run: no longer running/,
  );
  assert.match(
    decided(result({ outcomes: [{ pid: 1001, outcome: 'still_running' }] })),
    /still running after the signal/,
  );
});

test('a pending request past its expiry offers no buttons', () => {
  const msg = buildApprovalMessage({ request: request(), now: new Date('2026-11-25T15:00:00.000Z') });
  assert.equal(buttons(msg).length, 0);
  assert.match(mrkdwnTexts(msg).join('\n'), /Expired unapproved/);
});

test('a requester id that is not a Slack user id is escaped, not turned into a mention', () => {
  const msg = buildApprovalMessage({ request: request({ requester: '!channel' }), now: NOW });
  assertSlackSafe(msg);
  assert.ok(!allText(msg).includes('<@!channel>'));
});

test('describeOutcome has plain words for every outcome code', () => {
  const words = TARGET_OUTCOMES.map((outcome) => describeOutcome({ pid: 1, outcome, message: 'server said no' }));
  assert.deepEqual(words, [
    'terminated',
    'cancelled',
    'server said no',
    'server said no',
    'permission denied: server said no',
    'refused (protected): server said no',
    'failed: server said no',
  ]);
  assert.equal(describeOutcome({ pid: 1, outcome: 'refused' }), 'refused (protected)');
  // Without the server's or the executor's own words, the defaults speak plainly.
  assert.equal(describeOutcome({ pid: 1, outcome: 'still_running' }), 'still running after the signal');
  assert.equal(describeOutcome({ pid: 1, outcome: 'gone' }), 'no longer running or changed — nothing killed');
  assert.equal(describeResult(null), 'no result recorded');
});

// ---------------------------------------------------------------------------------------- pending list

test('the pending list shows each open request within limits, and says when there are none', () => {
  const many = Array.from({ length: 200 }, (_, i) => request({ id: `r${i}`, targets: [snapshot(i)] }));
  const msg = buildPendingList(many);
  assertSlackSafe(msg);
  assert.ok(allText(msg).includes('more not shown'));
  assert.equal(buttons(msg).length, 0);
  assert.ok(
    mrkdwnTexts(msg).some((t) => t.includes('<@U0REQUESTER>') && t.includes('<#C0INCIDENT>') && t.includes('pid 1000')),
  );
  const none = buildPendingList([]);
  assertSlackSafe(none);
  assert.ok(allText(none).includes('No open requests'));
});

test('every renderer returns a fallback text within limits', () => {
  const outputs: RenderedMessage[] = [
    buildListing({
      cluster: '<&`>'.repeat(15),
      rows: Array.from({ length: 200 }, (_, i) => session(i)),
      totalMatched: 200,
      filters,
      killable: () => true,
    }),
    buildApprovalMessage({ request: request({ cluster: '<&`>'.repeat(15), reason: 'z'.repeat(10_000) }), now: NOW }),
    buildPendingList([request({ reason: 'z'.repeat(10_000) })]),
  ];
  for (const o of outputs) assertSlackSafe(o);
});

test('a listing row says how many sessions it blocks, so the root blocker stands out', () => {
  const root = session(1, { state: 'idle in transaction', blocking: 2 });
  const waiter = session(2, { blockedBy: [root.pid] });
  const { blocks } = buildListing({
    cluster: 'c',
    rows: [root, waiter],
    totalMatched: 2,
    filters: { limit: 20 },
    killable: () => true,
  });
  const texts = blocks.filter((b) => b.type === 'section').map((b) => JSON.stringify(b));
  assert.match(texts.find((t) => t.includes(`pid ${root.pid}`)) ?? '', /blocks 2/);
  assert.doesNotMatch(texts.find((t) => t.includes(`pid ${waiter.pid}`)) ?? '', /blocks \d/);
});
