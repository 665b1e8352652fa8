// What others wrote never becomes live mrkdwn: formatting markers at a word's edge are replaced, outcomes
// carrying the server's words are escaped in the thread reply and the audit post, and every message that
// leaves is verbatim. Pure functions, no Slack.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { AuditEntry } from '../../src/domain/audit.js';
import type { KillRequest } from '../../src/domain/types.js';
import { buildAuditMessage } from '../../src/audit/message.js';
import { inlineText, neutraliseFormatting, safeText, sealed, verbatim } from '../../src/slack/blocks/mrkdwn.js';
import { outcomeSentence } from '../../src/slack/adapters/request-messages.js';

const SERVER_WORDS = '<!channel> *Approved* by <@UEVIL> <http://evil.example|here>';

test('formatting markers at a word edge are replaced; inside a word they stay, so names can still be copied', () => {
  assert.equal(neutraliseFormatting('*Approved* _by_ ~me~'), '\u2217Approved\u2217 \uFF3Fby\uFF3F \u223Cme\u223C');
  assert.equal(neutraliseFormatting('pg_dump a*b x~y test_decoding'), 'pg_dump a*b x~y test_decoding');
  assert.equal(neutraliseFormatting('__init__'), '\uFF3F\uFF3Finit\uFF3F\uFF3F');
  assert.equal(inlineText('*bold*\nline `code`', 80), '\u2217bold\u2217 line \u02CBcode\u02CB');
  assert.equal(safeText('<@U1> & *x*', 80), '&lt;@U1&gt; &amp; \u2217x\u2217');
});

test('verbatim marks every mrkdwn text object, however deep, and nothing else', () => {
  const view = {
    type: 'modal',
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: 'a' },
        fields: [
          { type: 'mrkdwn', text: 'b' },
          { type: 'plain_text', text: 'c' },
        ],
      },
    ],
  };
  const out = verbatim(view);
  assert.deepEqual(out.blocks[0]!.text, { type: 'mrkdwn', text: 'a', verbatim: true });
  assert.deepEqual(out.blocks[0]!.fields, [
    { type: 'mrkdwn', text: 'b', verbatim: true },
    { type: 'plain_text', text: 'c' },
  ]);
  assert.equal((view.blocks[0]!.text as { verbatim?: boolean }).verbatim, undefined, 'the input is not changed');
  const message = sealed({
    text: 'fallback',
    blocks: [{ type: 'context', elements: [{ type: 'mrkdwn', text: 'x' }] }],
  });
  assert.equal(message.text, 'fallback');
  assert.deepEqual(message.blocks[0], { type: 'context', elements: [{ type: 'mrkdwn', text: 'x', verbatim: true }] });
});

const decided: KillRequest = {
  id: '7b7e2f0e-7d1e-4c47-9d7a-1d2a6c0e9f11',
  cluster: 'prod',
  action: 'terminate',
  targets: [],
  reason: 'r',
  requester: 'UREQ',
  channel: 'CINC',
  messageTs: '1.2',
  status: 'failed',
  decidedBy: 'UAPP',
  decidedAt: null,
  createdAt: '2026-11-25T14:40:00.000Z',
  expiresAt: '2026-11-25T14:55:00.000Z',
  escalateAfterSeconds: null,
  scope: null,
  result: { outcomes: [{ pid: 42, outcome: 'permission_denied', message: SERVER_WORDS }] },
};

test('the thread reply shows the server’s words escaped, never as a live mention, link or bold text', () => {
  const text = outcomeSentence(decided);
  assert.match(text, /^<@UREQ> approved by <@UAPP>: permission denied: /);
  for (const live of ['<!channel>', '<@UEVIL>', '<http', '*Approved*'])
    assert.ok(!text.includes(live), `${live} in ${text}`);
  assert.ok(text.includes('&lt;!channel&gt;'));
});

function entry(details: Record<string, unknown>): AuditEntry {
  // Whatever the stored details hold (the state database is not trusted to keep them well-formed).
  return {
    seq: 7,
    at: '2026-11-25T14:41:00.000000Z',
    requestId: decided.id,
    event: 'failed',
    actor: 'UAPP',
    cluster: 'prod',
    details,
    prevHash: '0'.repeat(64),
    hash: 'a'.repeat(64),
  } as unknown as AuditEntry;
}

test('an audit post escapes outcomes, reasons and names, and shows query text only as PGSESSIONS_QUERY_TEXT allows', () => {
  const target = {
    pid: 42,
    backendStart: 'b',
    queryStart: null,
    xactStart: null,
    backendType: 'client backend',
    user: '*root*',
    database: 'db',
    application: '<!here>',
    client: null,
    state: 'active',
    query: 'SELECT secret_marker',
  };
  const message = buildAuditMessage(
    entry({ result: decided.result, reason: '_urgent_ <!channel>', why: '<@UEVIL>', action: '*x*', targets: [target] }),
  );
  const text = JSON.stringify(message.blocks);
  for (const live of ['<!channel>', '<!here>', '<@UEVIL>', '<http', '*Approved*', '_urgent_', '*root*', '*x*'])
    assert.ok(!text.includes(live), `${live} in ${text}`);
  assert.ok(text.includes('secret_marker'));
  const none = JSON.stringify(buildAuditMessage(entry({ targets: [target] }), { queryText: 'none' }));
  assert.ok(!none.includes('secret_marker'), 'query text in an audit post with PGSESSIONS_QUERY_TEXT=none');
  const truncated = JSON.stringify(
    buildAuditMessage(entry({ targets: [{ ...target, query: `SELECT 1 ${'x'.repeat(300)} TAILMARK` }] }), {
      queryText: 'truncated',
    }),
  );
  assert.ok(!truncated.includes('TAILMARK'));
});
