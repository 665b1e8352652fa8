import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/domain/command.js';
import { describeRule, matchesRule, ruleMatches, ruleText, type RuleSpec } from '../../src/domain/rules.js';
import type { Incident, RootSession, WatchThresholds } from '../../src/domain/watch.js';

const ALERTS: WatchThresholds = {
  lockWaitSeconds: 30,
  idleInTransactionSeconds: 600,
  activeSeconds: 1800,
  connectionsShare: null,
  replicationLagBytes: null,
  stormSessions: 10,
  stormSeconds: 10,
};

function allow(text: string): RuleSpec {
  const parsed = parseCommand(`allow ${text}`);
  assert.equal(parsed.kind, 'allow', parsed.kind === 'invalid' ? parsed.message : '');
  return (parsed as Extract<typeof parsed, { kind: 'allow' }>).rule;
}
function refused(text: string): string {
  const parsed = parseCommand(`allow ${text}`);
  assert.equal(parsed.kind, 'invalid');
  return (parsed as { message: string }).message;
}

test('the issue\u2019s three rules parse, with reason, cap and lifetime', () => {
  const a = allow(
    'cancel lock-queue-head app:rails-migrate waiting:5s blocking:3 for:2h max:10 cluster:prod deploy window',
  );
  assert.deepEqual(a, {
    action: 'cancel',
    cause: 'lock-queue-head',
    filters: { application: 'rails-migrate' },
    thresholds: { waitingSeconds: 5, blocking: 3 },
    lifetimeSeconds: 7200,
    maxExecutions: 10,
    dryRun: false,
    reason: 'deploy window',
  });
  assert.equal(
    (parseCommand('allow cancel lock-queue-head app:x for:1h r cluster:prod') as { cluster?: string }).cluster,
    'prod',
  );
  const b = allow(
    'terminate idle-in-transaction user:reporting idle:15m blocking:1 for:8h max:20 reporting tool'.replace(
      ' blocking:1',
      '',
    ),
  );
  assert.equal(b.thresholds.idleSeconds, 900);
  assert.equal(b.maxExecutions, 20);
  const c = allow('cancel active query_id:-412345678 running:10m for:1h runaway report');
  assert.equal(c.filters.queryId, '-412345678');
  assert.equal(c.maxExecutions, 5, 'max defaults to 5');
  assert.equal(allow('cancel active app:x for:1h dry-run watch it first').dryRun, true);
  assert.equal(parseCommand('rules cluster:prod').kind, 'rules');
});

test('unsafe or meaningless rules are refused with a sentence', () => {
  assert.match(refused('cancel lock-queue-head waiting:5s for:2h deploy'), /at least one narrowing filter/);
  assert.match(refused('cancel lock-queue-head app:x for:25h deploy'), /at most 24h/);
  assert.match(refused('cancel lock-queue-head app:x deploy'), /needs a lifetime/);
  assert.match(refused('cancel lock-queue-head app:x for:1h'), /reason/);
  assert.match(refused('cancel connections app:x for:1h r'), /cause is one of/);
  assert.match(refused('kill active app:x for:1h r'), /cancel or terminate/);
  assert.match(refused('cancel idle-in-transaction app:x for:1h r'), /terminate/);
  assert.match(refused('cancel active app:x max:0 for:1h r'), /max: must be/);
  assert.match(refused('cancel active app:x waiting:1s for:1h r'), /waiting: and blocking:/);
  assert.match(refused('cancel active app:x for:soon r'), /for: needs a duration/);
  assert.match(refused('cancel active query_id:abc for:1h r'), /query_id:/);
  assert.match(refused('cancel'), /needs an action and a cause/);
});

test('a rule reads in plain words, before and after approval', () => {
  const spec = allow('cancel lock-queue-head app:rails-migrate waiting:5s blocking:3 for:2h max:10 deploy');
  assert.equal(
    describeRule(spec, '2026-11-30T14:30:00Z'),
    'cancel any statement of app rails-migrate that has waited ≥ 5 s on a lock, at the head of a lock queue while ≥ 3 sessions wait behind it — at most 10 times, until 14:30 UTC',
  );
  assert.match(describeRule(spec, null), /for 2h once approved/);
  assert.equal(ruleText(spec), 'cancel lock-queue-head app:rails-migrate waiting:5s blocking:3 for:2h max:10');
});

function root(over: Partial<RootSession> = {}): RootSession {
  return {
    pid: 4711,
    backendStart: '2026-01-01 00:00:00+00',
    queryStart: '2026-01-01 00:01:00+00',
    xactStart: '2026-01-01 00:01:00+00',
    user: 'app',
    database: 'shop',
    application: 'rails-migrate',
    state: 'active',
    queryId: null,
    query: 'ALTER TABLE orders ADD COLUMN x int',
    ageSeconds: 8,
    waitSeconds: 8,
    ...over,
  };
}
function incident(over: Partial<Incident> = {}): Incident {
  return {
    key: 'k',
    cluster: 'default',
    cause: 'lock-queue-head',
    subject: 's',
    root: root(),
    waiting: 3,
    oldestWaitSeconds: 8,
    applications: [],
    lock: null,
    behind: null,
    members: [],
    connections: null,
    lagBytes: null,
    error: null,
    ...over,
  };
}

test('a rule matches its cause, filters and every threshold, and nothing else', () => {
  const spec = allow('cancel lock-queue-head app:rails-migrate waiting:5s blocking:3 for:2h deploy');
  assert.equal(matchesRule(spec, incident()), true);
  assert.equal(matchesRule(spec, incident({ root: root({ application: 'puma' }) })), false, 'other app');
  assert.equal(matchesRule(spec, incident({ waiting: 2 })), false, 'fewer waiters');
  assert.equal(matchesRule(spec, incident({ root: root({ waitSeconds: 4 }) })), false, 'below the wait threshold');
  assert.equal(matchesRule(spec, incident({ cause: 'root-blocker' })), false, 'other cause');
  assert.equal(
    matchesRule(spec, incident({ root: root({ state: 'idle in transaction' }) })),
    false,
    'a cancel needs a running statement',
  );
  assert.equal(matchesRule(spec, incident({ root: null })), false);
  const idle = allow('terminate idle-in-transaction user:reporting idle:15m for:8h r');
  const idleRoot = root({ user: 'reporting', state: 'idle in transaction', ageSeconds: 901 });
  assert.equal(matchesRule(idle, incident({ cause: 'idle-in-transaction', root: idleRoot })), true);
  assert.equal(
    matchesRule(idle, incident({ cause: 'idle-in-transaction', root: { ...idleRoot, ageSeconds: 899 } })),
    false,
  );
  const q = allow('cancel active query_id:-412345678 running:10m for:1h r');
  assert.equal(
    matchesRule(q, incident({ cause: 'active', root: root({ queryId: '-412345678', ageSeconds: 600 }) })),
    true,
  );
  assert.equal(matchesRule(q, incident({ cause: 'active', root: root({ queryId: '1', ageSeconds: 600 }) })), false);
  assert.equal(ruleMatches(spec, [incident(), incident({ key: 'k2' })], ALERTS).length, 1, 'one session, one match');
});
