// Approval routing settings: the global words, a cluster's own on top, and one clear sentence per bad value.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseClustersFile, DEFAULT_WATCH } from '../../src/config.js';
import { globalRouting } from '../../src/config/routing.js';
import { DEFAULT_ROUTING, quorumFor, breakGlassAllows } from '../../src/domain/routing.js';

test('unset routing is today’s behaviour: one approver, no escalation, no break-glass', () => {
  const problems: string[] = [];
  const routing = globalRouting({}, problems);
  assert.deepEqual(problems, []);
  assert.deepEqual(routing, DEFAULT_ROUTING);
  assert.equal(quorumFor(routing, 'terminate_all'), 1);
  assert.equal(breakGlassAllows(routing, 'cancel'), false);
});

test('the global words set quorum per kind, escalation and break-glass', () => {
  const problems: string[] = [];
  const routing = globalRouting(
    {
      quorum: 'terminate:2,cancel:1',
      escalateAfter: '5m',
      escalateTo: 'S0DBA0001,U0LEAD001',
      breakGlass: 'cancel',
      breakGlassAfter: '15m',
    },
    problems,
  );
  assert.deepEqual(problems, []);
  assert.equal(quorumFor(routing, 'terminate'), 2);
  assert.equal(quorumFor(routing, 'drain'), 2, 'a drain ends sessions: it needs the terminate quorum');
  assert.equal(quorumFor(routing, 'cancel_then_terminate'), 2);
  assert.equal(quorumFor(routing, 'cancel_all'), 1);
  assert.deepEqual(routing.escalate, { afterSeconds: 300, to: ['S0DBA0001', 'U0LEAD001'] });
  assert.equal(breakGlassAllows(routing, 'cancel'), true);
  assert.equal(breakGlassAllows(routing, 'terminate'), false);
  assert.equal(routing.breakGlass.afterSeconds, 900);
});

test('bad routing words are each named, and none is taken', () => {
  const problems: string[] = [];
  globalRouting(
    { quorum: 'terminate:0', escalateAfter: '5s', escalateTo: '#dba', breakGlass: 'drop', breakGlassAfter: 'soon' },
    problems,
  );
  assert.equal(problems.length, 5, problems.join('\n'));
  for (const name of [
    'PGSESSIONS_QUORUM',
    'PGSESSIONS_ESCALATE_AFTER',
    'PGSESSIONS_ESCALATE_TO',
    'PGSESSIONS_BREAK_GLASS ',
    'PGSESSIONS_BREAK_GLASS_AFTER',
  ]) {
    assert.ok(
      problems.some((p) => p.startsWith(name)),
      `${name} named`,
    );
  }
  const half: string[] = [];
  globalRouting({ escalateTo: 'S0DBA0001' }, half);
  assert.deepEqual(half, ['PGSESSIONS_ESCALATE_TO needs PGSESSIONS_ESCALATE_AFTER']);
});

test('a cluster’s own quorum, escalation and break-glass go on top of the global ones', () => {
  const global = globalRouting({ quorum: 'terminate:2', escalateAfter: '10m', escalateTo: 'S0ALL0001' }, []);
  const text = [
    'clusters:',
    '  - name: payments',
    '    url: postgres://bot@payments/app',
    '    quorum: { terminate: 3 }',
    '    escalate: { after: 2m, to: [S0DBA0001] }',
    '    breakGlass: { actions: [cancel, terminate], after: 1m }',
    '  - name: plain',
    '    url: postgres://bot@plain/app',
  ].join('\n');
  const parsed = parseClustersFile(text, {}, { path: 'c.yml', watch: DEFAULT_WATCH, routing: global });
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('\n'));
  const [payments, plain] = parsed.clusters;
  assert.deepEqual(payments!.routing, {
    quorum: { cancel: 1, terminate: 3 },
    escalate: { afterSeconds: 120, to: ['S0DBA0001'] },
    breakGlass: { kinds: ['cancel', 'terminate'], afterSeconds: 60 },
  });
  assert.equal(plain!.routing, undefined, 'a cluster without its own keys follows the global routing');
});

test('a cluster’s bad routing is named with its cluster, and the file is refused whole', () => {
  const text = [
    'clusters:',
    '  - name: payments',
    '    url: postgres://bot@payments/app',
    '    quorum: { terminate: 11 }',
    '    escalate: { after: 1s, to: [S0DBA0001] }',
    '    breakGlass: { actions: everything }',
  ].join('\n');
  const parsed = parseClustersFile(text, {}, { path: 'c.yml', watch: DEFAULT_WATCH });
  assert.equal(parsed.ok, false);
  if (parsed.ok) return;
  assert.deepEqual(parsed.problems, [
    'PGSESSIONS_CLUSTERS: cluster payments quorum.terminate must be a whole number from 1 to 10',
    'PGSESSIONS_CLUSTERS: cluster payments escalate.after must be a duration from 10s to 24h, such as 5m',
    'PGSESSIONS_CLUSTERS: cluster payments breakGlass.actions must be cancel, terminate, or both',
  ]);
});
