// What the proposer is told in the rule's thread, and what the person who pressed Revoke is told: pure
// renderers, checked for each status, for escaping, and for the honest "not known yet".
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Rule } from '../../src/domain/rules.js';
import { revokedReply, ruleNotice } from '../../src/slack/blocks/rule.js';

const rule = (over: Partial<Rule> = {}): Rule => ({
  id: '11111111-2222-4333-8444-555555555555',
  cluster: 'prod',
  spec: {
    action: 'terminate',
    cause: 'idle-in-transaction',
    filters: { application: 'reporting' },
    thresholds: { idleSeconds: 900 },
    lifetimeSeconds: 3600,
    maxExecutions: 10,
    dryRun: false,
    reason: 'reporting tool',
  },
  status: 'approved',
  proposer: 'UPROP',
  approver: 'UAPPR',
  endedBy: null,
  channel: 'COPS',
  messageTs: '1700000000.000100',
  createdAt: '2026-01-01T12:00:00.000000Z',
  proposalExpiresAt: '2026-01-01T12:15:00.000000Z',
  expiresAt: '2026-01-01T13:00:00.000000Z',
  used: 3,
  last: null,
  ...over,
});

test('the proposer is told, by mention, when the rule is approved (by whom, until when), denied, revoked, expired or exhausted', () => {
  assert.equal(
    ruleNotice(rule()),
    '<@UPROP> your rule was approved by <@UAPPR>: it is active until 13:00 UTC, at most 10 times.',
  );
  assert.match(
    ruleNotice(rule({ status: 'denied', approver: null, endedBy: 'UDENY' }))!,
    /^<@UPROP> your rule was denied by <@UDENY>\. It will not execute\.$/,
  );
  assert.match(
    ruleNotice(rule({ status: 'revoked', endedBy: 'UREV' }))!,
    /^<@UPROP> your rule was revoked by <@UREV>: it executed 3 of at most 10 times, and executes no more\.$/,
  );
  assert.match(
    ruleNotice(rule({ status: 'revoked', approver: null, expiresAt: null, endedBy: 'UREV' }))!,
    /your proposal was revoked by <@UREV> before anyone approved it/,
  );
  assert.match(
    ruleNotice(rule({ status: 'expired' }))!,
    /your rule's time is up \(13:00 UTC\): it executed 3 of at most 10 times/,
  );
  assert.match(
    ruleNotice(rule({ status: 'expired', approver: null, expiresAt: null, used: 0 }))!,
    /your proposal expired: nobody decided it in time/,
  );
  assert.match(
    ruleNotice(rule({ status: 'exhausted', used: 10 }))!,
    /your rule reached its cap: it executed 10 of 10 times/,
  );
  assert.equal(
    ruleNotice(rule({ status: 'withdrawn', approver: null, endedBy: 'UPROP' })),
    null,
    'the proposer withdrew it: nothing to tell',
  );
  assert.equal(ruleNotice(rule({ status: 'proposed', approver: null, expiresAt: null })), null);
});

test('a name that is not a Slack id is escaped, never a live mention or link', () => {
  const text = ruleNotice(rule({ status: 'denied', endedBy: '<!channel> <https://evil.example|x>' }))!;
  assert.doesNotMatch(text, /<!channel>/);
  assert.doesNotMatch(text, /<https:/);
});

test('the revoke answer says what was still under way, and says so honestly when an outcome is not known', () => {
  const quiet = revokedReply({ rule: rule({ status: 'revoked' }), inFlight: [] });
  assert.equal(quiet, 'Rule revoked: it executes no more (audited).');
  const one = revokedReply({
    rule: rule({ status: 'revoked' }),
    inFlight: [{ id: 'e1', pid: 4711, outcome: 'terminated' }],
  });
  assert.match(
    one,
    /^Rule revoked: it executes no more \(audited\)\.\n1 execution begun before the revoke finished: pid 4711 terminated\.$/,
  );
  const late = revokedReply({
    rule: rule({ status: 'revoked' }),
    inFlight: [
      { id: 'e1', pid: 4711, outcome: 'still_running' },
      { id: 'e2', pid: 4712, outcome: null },
    ],
  });
  assert.match(late, /1 execution begun before the revoke finished: pid 4711 still running\./);
  assert.match(
    late,
    /1 execution begun before the revoke had not finished when this answer was sent: pid 4712 — its outcome is not known yet/,
  );
});
