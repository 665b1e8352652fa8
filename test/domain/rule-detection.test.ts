// What the watcher looks for when rules are active: a rule acts on its own thresholds, not the alert's; a rule
// whose cause the cluster never looks for is refused; a query storm reaches a rule as each of its sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/domain/command.js';
import { ruleDetectionThresholds, ruleFloor, ruleMatches, type RuleSpec } from '../../src/domain/rules.js';
import { detectIncidents, ruleCandidates, type WatchThresholds } from '../../src/domain/watch.js';
import { relLock, sessionBuilder, snapshot } from '../helpers/watched.js';

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

const session = sessionBuilder(500);

/** The demo incident two seconds in: a DDL behind a long read, three readers behind the DDL. */
function lockQueue(ddlWait: number) {
  const read = session({ query: 'SELECT * FROM orders', queryAgeSeconds: 600, holding: [relLock('AccessShareLock')] });
  const ddl = session({ query: 'ALTER TABLE orders ADD COLUMN x int', blockedBy: [read.pid], waitEventType: 'Lock', waitingFor: relLock('AccessExclusiveLock'), waitSeconds: ddlWait, application: 'rails-migrate' });
  const readers = [1, 2, 3].map(() => session({ blockedBy: [ddl.pid], waitEventType: 'Lock', waitingFor: relLock('AccessShareLock'), waitSeconds: ddlWait - 0.5 }));
  return { ddl, all: [read, ddl, ...readers] };
}

test("a rule's own threshold decides when it acts, below the cluster's alert threshold", () => {
  const rule = allow('cancel lock-queue-head app:rails-migrate waiting:1s blocking:3 for:1h deploy');
  const { ddl, all } = lockQueue(2);
  assert.deepEqual(detectIncidents(snapshot(all), ALERTS), [], 'no alert yet at 30 s');
  const lowered = ruleDetectionThresholds(ALERTS, [rule]);
  assert.equal(lowered.lockWaitSeconds, 1);
  assert.equal(lowered.activeSeconds, ALERTS.activeSeconds, 'other causes untouched');
  const matched = ruleMatches(rule, ruleCandidates(snapshot(all), lowered));
  assert.deepEqual(matched.map((i) => i.root?.pid), [ddl.pid]);
});

test('thresholds are only ever lowered, and a rule without one uses the alert threshold', () => {
  const later = allow('cancel lock-queue-head app:x waiting:2m for:1h r');
  assert.equal(ruleDetectionThresholds(ALERTS, [later]).lockWaitSeconds, 30);
  const none = allow('terminate idle-in-transaction user:reporting for:1h r');
  assert.deepEqual(ruleFloor(none, ALERTS), { ok: true, seconds: 600 });
  assert.deepEqual(ruleDetectionThresholds(ALERTS, [none]), ALERTS);
  assert.deepEqual(ruleDetectionThresholds(ALERTS, []), ALERTS);
});

test('a rule on a cause the cluster does not look for, with no threshold of its own, is refused with what to add', () => {
  const off = { ...ALERTS, idleInTransactionSeconds: null, activeSeconds: null };
  const idle = ruleFloor(allow('terminate idle-in-transaction user:reporting for:1h r'), off);
  assert.equal(idle.ok, false);
  assert.match((idle as { message: string }).message, /PGSESSIONS_WATCH_IDLE_IN_TRANSACTION is off.*Add idle:/);
  const active = ruleFloor(allow('cancel active query_id:-412345678 for:1h r'), off);
  assert.match((active as { message: string }).message, /PGSESSIONS_WATCH_ACTIVE is off.*running:/);
  // With its own threshold the cluster looks for it for the rule's sake, alerts stay off.
  const own = allow('cancel active query_id:-412345678 running:10m for:1h r');
  assert.deepEqual(ruleFloor(own, off), { ok: true, seconds: 600 });
  assert.equal(ruleDetectionThresholds(off, [own]).activeSeconds, 600);
});

test('a query storm reaches a rule on one query_id as each of its sessions', () => {
  const rule = allow('cancel active query_id:-412345678 running:10m for:1h runaway report');
  const storm = Array.from({ length: 12 }, () => session({ queryId: '-412345678', query: 'SELECT report()', queryAgeSeconds: 700 }));
  const young = session({ queryId: '-412345678', query: 'SELECT report()', queryAgeSeconds: 30 });
  const other = session({ queryId: '99', query: 'SELECT other()', queryAgeSeconds: 900 });
  const sessions = [...storm, young, other];
  // What alerts see: one storm incident, which an `active` rule never matched before.
  const alerts = detectIncidents(snapshot(sessions), ALERTS);
  assert.deepEqual(alerts.map((i) => i.cause), ['query-storm']);
  assert.deepEqual(ruleMatches(rule, alerts), []);
  const matched = ruleMatches(rule, ruleCandidates(snapshot(sessions), ruleDetectionThresholds(ALERTS, [rule])));
  assert.deepEqual(matched.map((i) => i.root?.pid).sort(), storm.map((s) => s.pid).sort(), 'every long-running session of the query, not the young one nor the other query');
  assert.ok(matched.every((i) => i.cause === 'active' && i.root?.ageSeconds === 700));
});
