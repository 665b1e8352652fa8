// Break-glass on screen: the button and its deadline only where it applies and only while pending, the form's
// limits, the executed-alone status line, the unreviewed list within Slack's limits, and the opening time
// computed from the cluster's own routing.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { breakGlassOpensAt, utcClock, type BreakGlassUse } from '../../src/domain/break-glass.js';
import { DEFAULT_ROUTING } from '../../src/domain/routing.js';
import type { KillRequest } from '../../src/domain/types.js';
import { breakGlassModal, breakGlassUsedMessage, withUnreviewed } from '../../src/slack/blocks/break-glass.js';
import { ACTION, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { buildApprovalMessage } from '../../src/slack/blocks/request.js';

const request = (over: Partial<KillRequest> = {}): KillRequest => ({
  id: '0f04ab3b-f1d4-47d8-8f52-650f312f64ca',
  cluster: 'prod',
  action: 'cancel',
  targets: [
    {
      pid: 42,
      backendStart: '2026-11-25T14:00:00Z',
      queryStart: '2026-11-25T14:30:00Z',
      xactStart: null,
      backendType: 'client backend',
      user: 'app',
      database: 'shop',
      application: 'report',
      client: null,
      state: 'active',
      query: 'SELECT pg_sleep(600)',
    },
  ],
  reason: 'runaway',
  requester: 'UREQ',
  channel: 'CINC',
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
});
const NOW = new Date('2026-11-25T14:41:00.000Z');
const json = (v: unknown) => JSON.stringify(v);

test('the Break glass button and its deadline appear only when break-glass applies, and only while pending', () => {
  const without = json(buildApprovalMessage({ request: request(), now: NOW }));
  assert.ok(!without.includes(ACTION.breakGlass));
  assert.ok(!without.includes('break-glass'));
  const withIt = json(buildApprovalMessage({ request: request(), now: NOW, breakGlassAt: '2026-11-25T14:50:00.000Z' }));
  assert.ok(withIt.includes(ACTION.breakGlass));
  assert.ok(
    withIt.includes(
      'If nobody decides by 14:50 UTC, the requester may execute it alone (break-glass, reviewed afterwards)',
    ),
  );
  const decided = request({ status: 'denied', decidedBy: 'UAPP', decidedAt: '2026-11-25T14:42:00.000Z' });
  assert.ok(
    !json(buildApprovalMessage({ request: decided, now: NOW, breakGlassAt: '2026-11-25T14:50:00Z' })).includes(
      ACTION.breakGlass,
    ),
  );
});

test('a request decided by its requester reads as executed alone, never as approved', () => {
  const alone = request({
    status: 'executed',
    decidedBy: 'UREQ',
    decidedAt: '2026-11-25T14:51:00.000Z',
    result: { outcomes: [{ pid: 42, outcome: 'cancelled' }] },
  });
  const shown = json(buildApprovalMessage({ request: alone, now: NOW }));
  assert.match(shown, /Executed alone by <@UREQ>/);
  assert.doesNotMatch(shown, /Approved by/);
});

test('the opening time follows the cluster routing and the kind of action; HH:MM:SS only off the minute', () => {
  const routing = { ...DEFAULT_ROUTING, breakGlass: { kinds: ['cancel' as const], afterSeconds: 600 } };
  const settings = { routing: (cluster: string) => (cluster === 'prod' ? routing : DEFAULT_ROUTING) };
  assert.equal(breakGlassOpensAt(settings, request()), '2026-11-25T14:50:00.000Z');
  assert.equal(breakGlassOpensAt(settings, request({ action: 'terminate' })), null, 'terminate is not listed');
  assert.equal(breakGlassOpensAt(settings, request({ cluster: 'other' })), null, 'off on another cluster');
  assert.equal(breakGlassOpensAt({}, request()), null, 'off by default');
  assert.equal(utcClock('2026-11-25T14:50:00.000Z'), '14:50 UTC');
  assert.equal(utcClock('2026-11-25T14:50:10.000Z'), '14:50:10 UTC');
});

test('the form requires a reason of at most 500 characters and carries only the request id', () => {
  const modal = breakGlassModal(request());
  assert.equal(modal.callback_id, VIEW.breakGlass);
  assert.equal(modal.private_metadata, request().id);
  const input = modal.blocks.find((b) => b.type === 'input') as {
    block_id: string;
    optional?: boolean;
    element: { action_id: string; max_length: number };
  };
  assert.equal(input.block_id, INPUT.breakGlassBlock);
  assert.equal(input.element.action_id, INPUT.breakGlassAction);
  assert.equal(input.element.max_length, 500);
  assert.notEqual(input.optional, true);
});

test('the approvers’ message escapes the reason, and the unreviewed list stays within 50 blocks', () => {
  const use: BreakGlassUse = {
    seq: 7,
    requestId: request().id,
    cluster: 'prod',
    requester: 'UREQ',
    action: 'cancel',
    why: '<!channel> *urgent*',
    at: '2026-11-25T14:51:00.000Z',
  };
  const told = json(breakGlassUsedMessage(request(), use));
  assert.ok(!told.includes('<!channel>'), 'no live broadcast from a reason');
  assert.ok(told.includes(ACTION.breakGlassReviewed));
  const full = { text: 'status', blocks: Array.from({ length: 50 }, () => ({ type: 'divider' as const })) };
  const listed = withUnreviewed(
    full,
    Array.from({ length: 30 }, (_, i) => ({ ...use, seq: i })),
  );
  assert.equal(listed.blocks.length, 50);
  assert.match(json(listed.blocks[2]), /Break-glass uses awaiting review — 30/);
  assert.equal(withUnreviewed(full, []), full);
});
