// The pure part of a drain: the grammar, what is refused and in which order, how a database is closed and what
// a drained one looks like, and the sentences people read.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createBinder } from '../../src/domain/binding.js';
import { parseCommand } from '../../src/domain/command.js';
import { sealedEnd } from '../../src/domain/drain-recovery.js';
import {
  drainedLine,
  drainedValues,
  drainEndSeal,
  drainMethod,
  drainPlan,
  drainRefusal,
  endSentence,
  formatWindow,
  type DatabaseFacts,
  type Drain,
} from '../../src/domain/drain.js';

const facts = (over: Partial<DatabaseFacts> = {}): DatabaseFacts => ({
  name: 'legacy',
  allowConnections: true,
  connectionLimit: -1,
  isTemplate: false,
  owner: 'legacy_owner',
  isCurrent: false,
  superuser: false,
  inheritsOwner: false,
  maySetOwner: true,
  ...over,
});

const drain: Drain = {
  id: '00000000-0000-4000-8000-000000000001',
  requestId: '00000000-0000-4000-8000-000000000002',
  cluster: 'default',
  database: 'legacy',
  method: 'allow_connections',
  prevAllowConnections: true,
  prevConnectionLimit: 25,
  endsAt: '2026-12-02T14:30:00.000000Z',
  requester: 'UALEX',
  approver: 'USAM',
  channel: 'C1',
  messageTs: null,
  state: 'active',
  endedAt: null,
  endedBy: null,
  endWhy: null,
  outcome: null,
  binding: 'x',
  endBinding: null,
};

test('drain and undrain parse; each mistake is a sentence', () => {
  assert.deepEqual(parseCommand('drain db:legacy for:45m restore from backup cluster:eu'), {
    kind: 'drain',
    database: 'legacy',
    windowSeconds: 2700,
    reason: 'restore from backup',
    cluster: 'eu',
  });
  assert.deepEqual(parseCommand('undrain db:legacy'), { kind: 'undrain', database: 'legacy' });
  for (const [text, pattern] of [
    ['drain for:1h x', /needs db:NAME/],
    ['drain db:legacy now', /needs for:DURATION/],
    ['drain db:legacy for:soon x', /for: needs a duration/],
    ['undrain', /needs db:NAME/],
    ['undrain db:legacy please', /Unknown word/],
    ['drain db:legacy db:other for:1h x', /db: is given twice/],
  ] as const) {
    const parsed = parseCommand(text);
    assert.equal(parsed.kind, 'invalid', text);
    assert.match((parsed as { message: string }).message, pattern, text);
  }
});

test('refusals, in the order a person wants them', () => {
  assert.equal(drainRefusal(null, false), 'no_database');
  assert.equal(drainRefusal(facts({ name: 'template1' }), false), 'template');
  assert.equal(drainRefusal(facts({ name: 'template0', superuser: true }), false), 'template');
  assert.equal(drainRefusal(facts(), true), 'state_database');
  assert.equal(drainRefusal(facts({ maySetOwner: false }), false), 'no_rights');
  assert.equal(drainRefusal(facts({ allowConnections: false }), false), 'already_closed');
  assert.equal(drainRefusal(facts({ connectionLimit: 0 }), false), 'already_closed');
  assert.equal(drainRefusal(facts(), false), null);
  assert.equal(drainRefusal(facts({ maySetOwner: false, inheritsOwner: true }), false), null);
  assert.equal(drainRefusal(facts({ maySetOwner: false, superuser: true }), false), null);
});

test('the database the bot connects to can only get a connection limit; a drained database keeps the other value', () => {
  assert.equal(drainMethod(facts()), 'allow_connections');
  assert.equal(drainMethod(facts({ isCurrent: true })), 'connection_limit');
  assert.deepEqual(drainedValues(drain), { allowConnections: false, connectionLimit: 25 });
  assert.deepEqual(drainedValues({ ...drain, method: 'connection_limit' }), {
    allowConnections: true,
    connectionLimit: 0,
  });
});

test('the sentences: plan, header line, each end', () => {
  const plan = drainPlan({
    database: 'legacy',
    sessions: [
      { application: 'web', user: 'app' },
      { application: 'web', user: 'app' },
      { application: null, user: 'alice' },
    ],
    windowSeconds: 5400,
    method: 'connection_limit',
  }).join('\n');
  assert.match(plan, /for 1h30m/);
  assert.match(plan, /3 now/);
  assert.match(plan, /web ×2, \(none\) ×1/);
  assert.match(plan, /app ×2, alice ×1/);
  assert.match(plan, /superusers, who can still connect/);
  const now = new Date('2026-12-02T10:00:00Z');
  assert.equal(
    drainedLine(drain, (u) => `<@${u}>`, now),
    'legacy is drained until 14:30 UTC (by <@UALEX>, approved by <@USAM>)',
  );
  assert.match(
    endSentence(drain, 'expired', { kind: 'restored' }, null),
    /allowed again, ALLOW_CONNECTIONS true, CONNECTION LIMIT 25 as before/,
  );
  assert.match(
    endSentence(drain, 'undrain', { kind: 'changed', now: { allowConnections: false, connectionLimit: 5 } }, 'x'),
    /changed by someone else meanwhile .* changed nothing/,
  );
  assert.match(endSentence(drain, 'ended', { kind: 'tampered' }, null), /REFUSED/);
  assert.equal(formatWindow(45), '45s');
  assert.equal(formatWindow(3600), '1h');
});

test('an end counts only with the seal the key makes, over exactly that drain and how it ended', () => {
  const binder = createBinder(randomBytes(32));
  const end = { state: 'ended', by: 'USAM', why: 'undrain', outcome: 'restored' } as const;
  const ended: Drain = {
    ...drain,
    state: end.state,
    endedBy: end.by,
    endWhy: end.why,
    outcome: end.outcome,
    endBinding: drainEndSeal(binder, drain.id, end),
  };
  assert.equal(sealedEnd(binder, ended), true);
  assert.equal(sealedEnd(binder, { ...ended, endBinding: null }), false, 'no seal');
  assert.equal(sealedEnd(binder, { ...ended, outcome: 'already' }), false, 'another outcome');
  assert.equal(sealedEnd(binder, { ...ended, endedBy: 'UALEX' }), false, 'someone else');
  assert.equal(sealedEnd(binder, { ...ended, id: drain.requestId }), false, 'another drain');
  assert.equal(sealedEnd(createBinder(randomBytes(32)), ended), false, 'another key');
  const unkeyed = createBinder(null);
  assert.equal(sealedEnd(binder, { ...ended, endBinding: drainEndSeal(unkeyed, drain.id, end) }), false, 'no key');
  assert.equal(sealedEnd(binder, { ...ended, state: 'active' }), false, 'a live drain has no end');
});
