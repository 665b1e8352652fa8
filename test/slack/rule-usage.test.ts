// The usage line of a standing approval's message: what the cap counted, and how the last execution ended —
// a dry run counts what it would have used, an interrupted execution says it was not re-run, and an outcome
// that signalled nothing says it did not count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { usageLine, buildRuleMessage } from '../../src/slack/blocks/rule.js';
import type { Rule } from '../../src/domain/rules.js';
import { textOf } from '../helpers/approval-flow.js';

function rule(over: Partial<Rule> = {}, dryRun = false): Rule {
  return {
    id: '11111111-1111-4111-8111-111111111111',
    cluster: 'main',
    spec: {
      action: 'cancel',
      cause: 'lock-queue-head',
      filters: { application: 'rails-migrate' },
      thresholds: { waitingSeconds: 5 },
      lifetimeSeconds: 3600,
      maxExecutions: 10,
      dryRun,
      reason: 'deploy',
    },
    status: 'approved',
    proposer: 'UA',
    approver: 'UB',
    endedBy: null,
    channel: 'C1',
    messageTs: '1.2',
    createdAt: '2026-01-01T12:00:00Z',
    proposalExpiresAt: '2026-01-01T12:10:00Z',
    expiresAt: '2026-01-01T13:00:00Z',
    used: 3,
    last: { at: '2026-01-01T12:34:00Z', pid: 4711, query: 'ALTER TABLE orders ADD COLUMN x int', outcome: 'cancelled' },
    ...over,
  };
}

test('a real rule counts what it used, with the last execution and its outcome', () => {
  assert.equal(
    usageLine(rule()),
    '3 of 10 used, last at 12:34 UTC — pid 4711, `ALTER TABLE orders ADD COLUMN x int` (cancelled)',
  );
});

test('a dry run says what it would have used, on the line and on the message', () => {
  const dry = rule({ last: { at: '2026-01-01T12:34:00Z', pid: 4711, query: null, outcome: 'dry_run' } }, true);
  assert.equal(usageLine(dry), 'would have used 3 of 10, last at 12:34 UTC — pid 4711 (dry run: nothing signalled)');
  assert.match(textOf(buildRuleMessage(dry).blocks), /would have used 3 of 10/);
});

test('an interrupted execution says it was reconciled and not re-run; a refused one says it did not count', () => {
  assert.match(
    usageLine(rule({ last: { at: '2026-01-01T12:34:00Z', pid: 4711, query: null, outcome: 'interrupted' } })),
    /\(interrupted by a restart: reconciled, not re-run\)$/,
  );
  for (const [outcome, words] of [
    ['permission_denied', 'permission denied'],
    ['gone', 'gone before the signal'],
    ['refused', 'protected'],
  ] as const) {
    assert.match(
      usageLine(rule({ used: 0, last: { at: '2026-01-01T12:34:00Z', pid: 4711, query: null, outcome } })),
      new RegExp(`^0 of 10 used, .*\\(${words}: not counted\\)$`),
    );
  }
  // While the signal is out, nothing is said about an outcome yet.
  assert.equal(
    usageLine(rule({ last: { at: '2026-01-01T12:34:00Z', pid: 4711, query: null, outcome: 'claimed' } })),
    '3 of 10 used, last at 12:34 UTC — pid 4711',
  );
});

test('a rule message shows the stored query only as PGSESSIONS_QUERY_TEXT allows today: lowered to none, it is gone', () => {
  const long = `SELECT '${'x'.repeat(250)}' AS tail_marker_after_200`;
  assert.doesNotMatch(usageLine(rule(), 'none'), /ALTER TABLE/);
  assert.match(usageLine(rule(), 'none'), /^3 of 10 used, last at 12:34 UTC — pid 4711 \(cancelled\)$/);
  assert.doesNotMatch(textOf(buildRuleMessage(rule(), { queryText: 'none' }).blocks), /ALTER TABLE orders/);
  const truncated = textOf(
    buildRuleMessage(rule({ last: { at: '2026-01-01T12:34:00Z', pid: 1, query: long, outcome: 'cancelled' } }), {
      queryText: 'truncated',
    }).blocks,
  );
  assert.doesNotMatch(truncated, /tail_marker_after_200/);
});
