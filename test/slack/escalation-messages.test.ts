// The thread's sentence of an escalation (src/slack/adapters/escalation-messages.ts): who was told, the groups
// as mentions, the delay in words, and nothing from a stored id that could smuggle in a broadcast.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { escalationSentence } from '../../src/slack/adapters/escalation-messages.js';

test('names each person told and each group, with the delay in minutes', () => {
  assert.equal(
    escalationSentence({ tier: 1, afterSeconds: 300, to: ['S0DBA', 'UBOSS'], told: ['UANA', 'ULI'] }),
    ':mega: No decision in 5 min: escalated to <@UANA>, <@ULI> (group <!subteam^S0DBA>).',
  );
});

test('seconds, odd delays, later tiers, and nobody new to tell', () => {
  assert.equal(
    escalationSentence({ tier: 1, afterSeconds: 10, to: ['UBOSS'], told: ['UBOSS'] }),
    ':mega: No decision in 10 s: escalated to <@UBOSS>.',
  );
  assert.equal(
    escalationSentence({ tier: 2, afterSeconds: 90, to: ['S0DBA'], told: [] }),
    ':mega: No decision in 1m 30s: escalated (tier 2) to nobody new (everyone named was already told) (group <!subteam^S0DBA>).',
  );
});

test('an id that is not a Slack id is shown escaped, never as a mention or a broadcast', () => {
  const text = escalationSentence({ tier: 1, afterSeconds: 60, to: ['S<!channel>'], told: ['<!here>'] });
  assert.doesNotMatch(text, /<!channel>|<!here>/);
});
