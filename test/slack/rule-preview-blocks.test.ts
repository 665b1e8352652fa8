// The proposal's "Would match right now" section: pure renderer, checked for what it says per match, for a
// preview that could not be read, for hostile names and for Slack's limits.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { previewLines } from '../../src/slack/blocks/rule.js';
import { LIMITS } from '../../src/slack/blocks/mrkdwn.js';
import type { PreviewMatch } from '../../src/domain/rule-service.js';
import type { Incident } from '../../src/domain/watch.js';

function match(
  pid: number,
  verdict: PreviewMatch['verdict'],
  extra: { application?: string; query?: string; why?: string } = {},
): PreviewMatch {
  const incident: Incident = {
    key: `main|lock-queue-head|${pid}:t`,
    cluster: 'main',
    cause: 'lock-queue-head',
    subject: `${pid}:t`,
    root: {
      pid,
      backendStart: 't',
      queryStart: 'q',
      xactStart: 'x',
      user: 'deploy',
      database: 'app',
      application: extra.application ?? 'rails-migrate',
      state: 'active',
      queryId: null,
      query: extra.query ?? 'ALTER TABLE orders ADD COLUMN c int',
      ageSeconds: 3,
      waitSeconds: 3,
    },
    waiting: 4,
    oldestWaitSeconds: 3,
    applications: ['puma'],
    lock: null,
    behind: null,
    members: [],
    connections: null,
    lagBytes: null,
    error: null,
  };
  return { incident, verdict, why: verdict === 'protected' ? (extra.why ?? 'a protected role or application') : null };
}

test('each match says what the rule would do, or that it never touches it', () => {
  const text = previewLines({
    ok: true,
    value: [
      match(101, 'cancel'),
      match(102, 'terminate'),
      match(103, 'protected', { why: "a superuser's session: the bot's role cannot signal it" }),
    ],
  });
  assert.match(text, /Would match right now \(3\)/);
  assert.match(
    text,
    /• would cancel pid 101 · app rails-migrate · user deploy · 4 waiting · `ALTER TABLE orders ADD COLUMN c int`/,
  );
  assert.match(text, /• would terminate pid 102 /);
  assert.match(text, /• never touched: protected — a superuser's session: the bot's role cannot signal it; pid 103 /);
});

test('an empty preview and a preview that could not be read each say so', () => {
  assert.match(previewLines({ ok: true, value: [] }), /nothing on the cluster/);
  const failed = previewLines({
    ok: false,
    refusal: { code: 'read_failed', message: 'the cluster could not be reached (ECONNREFUSED)' },
  });
  assert.match(failed, /could not be read \(the cluster could not be reached \(ECONNREFUSED\)\)/);
  assert.match(failed, /proposed all the same/);
});

test('hostile names are escaped, ten matches are shown and the rest counted, within the section limit', () => {
  const hostile = match(7, 'cancel', {
    application: '<!channel> *x*',
    query: `SELECT '${'`'.repeat(50)}${'x'.repeat(5_000)}'`,
  });
  const text = previewLines({
    ok: true,
    value: [hostile, ...Array.from({ length: 30 }, (_, n) => match(1000 + n, 'cancel'))],
  });
  assert.doesNotMatch(text, /<!channel>/);
  assert.match(text, /… and 21 more/);
  assert.ok(text.length <= LIMITS.sectionText, `${text.length} characters`);
  assert.equal((text.match(/^• /gm) ?? []).length, 10);
});
