// The revoke use case with stand-in ports: it answers only once the executions begun before it have an
// outcome (or its bounded wait is over), and the rule's message and the proposer's notice come before the
// answer. The state database side of the same race is in test/watch/rules-races.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRuleService,
  type RuleInFlight,
  type RuleMessagesPort,
  type RuleStorePort,
} from '../../src/domain/rule-service.js';
import type { Rule } from '../../src/domain/rules.js';

const RULE: Rule = {
  id: '11111111-2222-4333-8444-555555555555',
  cluster: 'c1',
  spec: {
    action: 'terminate',
    cause: 'idle-in-transaction',
    filters: { application: 'x' },
    thresholds: {},
    lifetimeSeconds: 3600,
    maxExecutions: 5,
    dryRun: false,
    reason: 'r',
  },
  status: 'approved',
  proposer: 'UA',
  approver: 'UB',
  endedBy: null,
  channel: 'C1',
  messageTs: '1.1',
  createdAt: '2026-01-01T00:00:00Z',
  proposalExpiresAt: '2026-01-01T00:15:00Z',
  expiresAt: '2026-01-01T01:00:00Z',
  used: 1,
  last: null,
};

function harness(inFlight: () => RuleInFlight[], revokeWaitMs = 2_000, requesters: string[] | null = null) {
  const events: string[] = [];
  let rule: Rule = RULE;
  const store = {
    get: async () => rule,
    revoke: async (_id: string, user: string) => {
      rule = { ...rule, status: 'revoked', endedBy: user };
      events.push('revoke committed');
      return { ok: true as const, rule };
    },
    inFlightAtEnd: async () => {
      events.push('poll');
      return inFlight();
    },
  } as unknown as RuleStorePort;
  const messages: RuleMessagesPort = {
    post: async () => '1.1',
    update: async (r) => void events.push(`message ${r.status}`),
    notify: async (r) => void events.push(`notice ${r.status}`),
  };
  const service = createRuleService({
    store,
    messages,
    cluster: () => undefined,
    groups: { members: async () => [] },
    settings: {
      readOnly: false,
      queryText: 'full',
      proposalTtlSeconds: 900,
      terminateTimeoutMs: 3_000,
      protectedRoles: [],
      protectedApps: [],
      rules: () => ({ requesters, approvers: ['UB'] }),
      watchThresholds: () => null,
      revokeWaitMs,
    },
    readNow: async () => ({
      ok: false as const,
      refusal: { code: 'read_failed' as const, message: 'not read in this test' },
    }),
    isUnreachable: () => false,
  });
  return { service, events };
}

test('a revoke answers only after the execution under way has its outcome, and shows and tells before answering', async () => {
  let polls = 0;
  const { service, events } = harness(() => [{ id: 'e1', pid: 4711, outcome: ++polls >= 3 ? 'terminated' : null }]);
  const result = await service.revoke(RULE.id, 'UC');
  events.push('answer');
  assert.ok(result.ok);
  assert.deepEqual(result.value.inFlight, [{ id: 'e1', pid: 4711, outcome: 'terminated' }]);
  assert.deepEqual(events, ['revoke committed', 'poll', 'poll', 'poll', 'message revoked', 'notice revoked', 'answer']);
});

test('the wait is bounded: an execution that never finishes is answered as not known, after the wait', async () => {
  const { service, events } = harness(() => [{ id: 'e1', pid: 4711, outcome: null }], 200);
  const started = Date.now();
  const result = await service.revoke(RULE.id, 'UC');
  assert.ok(result.ok);
  assert.deepEqual(result.value.inFlight, [{ id: 'e1', pid: 4711, outcome: null }]);
  assert.ok(Date.now() - started < 5_000, 'it did not wait for ever');
  assert.ok(events.filter((e) => e === 'poll').length >= 2, 'it did wait');
  assert.deepEqual(events.slice(-2), ['message revoked', 'notice revoked']);
});

test('a revoke with nothing under way answers after one look; someone not allowed to revoke changes nothing', async () => {
  const { service, events } = harness(() => []);
  assert.ok((await service.revoke(RULE.id, 'UC')).ok);
  assert.deepEqual(events, ['revoke committed', 'poll', 'message revoked', 'notice revoked']);
  const strict = harness(() => [], 2_000, ['UR']);
  const refused = await strict.service.revoke(RULE.id, 'UZ');
  assert.equal(refused.ok, false);
  assert.equal(!refused.ok && refused.refusal.code, 'not_allowed');
  assert.deepEqual(strict.events, [], 'nothing revoked, shown or told');
});
