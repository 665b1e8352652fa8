// The direct message an approver gets (src/slack/adapters/approver-notices.ts buildApproverMessage): within
// Slack's limits for the largest request, hostile text kept inert, the deciding buttons only while it waits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { KillRequest, TargetSnapshot } from '../../src/domain/types.js';
import { buildApproverMessage } from '../../src/slack/adapters/approver-notices.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { checkMessageBlocks, checkMessageText } from '../../src/slack/blocks/limits-check.js';

const HOSTILE = '<!channel> <@U0EVIL> *bold* `tick` <https://evil.example|click> &amp;';

function target(i: number): TargetSnapshot {
  return {
    pid: 1000 + i,
    backendStart: '2026-11-25 14:00:00.123456+00',
    queryStart: '2026-11-25 14:30:00.123456+00',
    xactStart: null,
    backendType: 'client backend',
    user: `app_${i} ${HOSTILE}`,
    database: 'orders',
    application: HOSTILE,
    client: '10.0.0.1',
    state: 'idle',
    query: `SELECT ${'x'.repeat(5000)} ${HOSTILE}`,
  };
}

function request(over: Partial<KillRequest> = {}): KillRequest {
  return {
    id: '0b7e3c57-2a53-4d1f-9f0e-7d6a2b1c0a11',
    cluster: 'prod',
    action: 'terminate_all',
    targets: Array.from({ length: 500 }, (_, i) => target(i)),
    reason: `${'Holding locks '.repeat(300)}${HOSTILE}`,
    requester: 'U0REQUESTER',
    channel: 'C0INCIDENT',
    messageTs: '1700000000.000100',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
    escalateAfterSeconds: null,
    scope: { database: 'orders' },
    result: null,
    ...over,
  };
}

const actionIds = (blocks: unknown[]): string[] =>
  JSON.stringify(blocks)
    .match(/"action_id":"[^"]+"/g)
    ?.map((s) => s.slice('"action_id":"'.length, -1)) ?? [];

test('the largest request’s DM fits Slack’s limits, keeps Approve/Deny, and keeps hostile text inert', () => {
  const message = buildApproverMessage({ kind: 'request', request: request() }, 'in <#C0INCIDENT>', 'full');
  assert.deepEqual(checkMessageBlocks(message.blocks), []);
  assert.deepEqual(checkMessageText(message.text), []);
  assert.deepEqual(actionIds(message.blocks), [ACTION.approve, ACTION.deny], 'no Withdraw in a DM');
  const all = JSON.stringify(message);
  assert.ok(!all.includes('<!channel>') && !all.includes('<@U0EVIL>'), 'no live mention from the payload');
  assert.ok(all.includes('<@U0REQUESTER>') && all.includes('pid 1000, 1001'), 'names the requester and the pids');
});

test('a decided request’s DM has no buttons and says it no longer waits', () => {
  const message = buildApproverMessage(
    {
      kind: 'request',
      request: request({ status: 'denied', decidedBy: 'U0APPROVER', decidedAt: new Date().toISOString() }),
    },
    'in <#C0INCIDENT>',
    'full',
  );
  assert.deepEqual(actionIds(message.blocks), []);
  assert.match(JSON.stringify(message.blocks), /no longer waits for you \(denied\)/);
});

test('an expired but still pending request’s DM has no buttons', () => {
  const message = buildApproverMessage(
    { kind: 'request', request: request({ expiresAt: new Date(Date.now() - 1000).toISOString() }) },
    'in <#C0INCIDENT>',
    'full',
  );
  assert.deepEqual(actionIds(message.blocks), []);
});

test('PGSESSIONS_QUERY_TEXT governs the DM as it does the channel message', () => {
  const message = buildApproverMessage(
    { kind: 'request', request: request({ action: 'terminate', targets: [target(1)] }) },
    'x',
    'none',
  );
  assert.ok(!JSON.stringify(message).includes('xxxxxxxxxx'), 'the query text is not shown');
});
