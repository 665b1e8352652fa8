// What the watcher looks for when rules are active: a rule acts on its own thresholds, not the alert's; a rule
// whose cause the cluster never looks for is refused; a query storm reaches a rule as each of its sessions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCommand } from '../../src/domain/command.js';
import {
  describeRule,
  effectiveThresholds,
  ruleDetectionThresholds,
  ruleFloor,
  ruleMatches,
  ruleText,
  withAlertFloor,
  type RuleSpec,
} from '../../src/domain/rules.js';
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
  const ddl = session({
    query: 'ALTER TABLE orders ADD COLUMN x int',
    blockedBy: [read.pid],
    waitEventType: 'Lock',
    waitingFor: relLock('AccessExclusiveLock'),
    waitSeconds: ddlWait,
    application: 'rails-migrate',
  });
  const readers = [1, 2, 3].map(() =>
    session({
      blockedBy: [ddl.pid],
      waitEventType: 'Lock',
      waitingFor: relLock('AccessShareLock'),
      waitSeconds: ddlWait - 0.5,
    }),
  );
  return { ddl, all: [read, ddl, ...readers] };
}

test("a rule's own threshold decides when it acts, below the cluster's alert threshold", () => {
  const rule = allow('cancel lock-queue-head app:rails-migrate waiting:1s blocking:3 for:1h deploy');
  const { ddl, all } = lockQueue(2);
  assert.deepEqual(detectIncidents(snapshot(all), ALERTS), [], 'no alert yet at 30 s');
  const lowered = ruleDetectionThresholds(ALERTS, [rule]);
  assert.equal(lowered.lockWaitSeconds, 1);
  assert.equal(lowered.activeSeconds, ALERTS.activeSeconds, 'other causes untouched');
  const matched = ruleMatches(rule, ruleCandidates(snapshot(all), lowered), ALERTS);
  assert.deepEqual(
    matched.map((i) => i.root?.pid),
    [ddl.pid],
  );
});

test('thresholds are only ever lowered, and a rule without one uses the alert threshold', () => {
  const later = allow('cancel lock-queue-head app:x waiting:2m for:1h r');
  assert.equal(ruleDetectionThresholds(ALERTS, [later]).lockWaitSeconds, 30);
  const none = allow('terminate idle-in-transaction user:reporting for:1h r');
  assert.deepEqual(ruleFloor(none, ALERTS), { ok: true, value: 600 });
  assert.deepEqual(ruleDetectionThresholds(ALERTS, [none]), ALERTS);
  assert.deepEqual(ruleDetectionThresholds(ALERTS, []), ALERTS);
});

test('a rule on a cause the cluster does not look for, with no threshold of its own, is refused with what to add', () => {
  const off = { ...ALERTS, idleInTransactionSeconds: null, activeSeconds: null };
  const idle = ruleFloor(allow('terminate idle-in-transaction user:reporting for:1h r'), off);
  assert.equal(idle.ok, false);
  assert.match(idle.ok ? '' : idle.refusal.message, /PGSESSIONS_WATCH_IDLE_IN_TRANSACTION is off.*Add idle:/);
  const active = ruleFloor(allow('cancel active query_id:-412345678 for:1h r'), off);
  assert.match(active.ok ? '' : active.refusal.message, /PGSESSIONS_WATCH_ACTIVE is off.*running:/);
  // With its own threshold the cluster looks for it for the rule's sake, alerts stay off.
  const own = allow('cancel active query_id:-412345678 running:10m for:1h r');
  assert.deepEqual(ruleFloor(own, off), { ok: true, value: 600 });
  assert.equal(ruleDetectionThresholds(off, [own]).activeSeconds, 600);
});

test('a query storm reaches a rule on one query_id as each of its sessions', () => {
  const rule = allow('cancel active query_id:-412345678 running:10m for:1h runaway report');
  const storm = Array.from({ length: 12 }, () =>
    session({ queryId: '-412345678', query: 'SELECT report()', queryAgeSeconds: 700 }),
  );
  const young = session({ queryId: '-412345678', query: 'SELECT report()', queryAgeSeconds: 30 });
  const other = session({ queryId: '99', query: 'SELECT other()', queryAgeSeconds: 900 });
  const sessions = [...storm, young, other];
  // What alerts see: one storm incident, which an `active` rule never matched before.
  const alerts = detectIncidents(snapshot(sessions), ALERTS);
  assert.deepEqual(
    alerts.map((i) => i.cause),
    ['query-storm'],
  );
  assert.deepEqual(ruleMatches(rule, alerts, ALERTS), []);
  const matched = ruleMatches(
    rule,
    ruleCandidates(snapshot(sessions), ruleDetectionThresholds(ALERTS, [rule])),
    ALERTS,
  );
  assert.deepEqual(
    matched.map((i) => i.root?.pid).sort(),
    storm.map((s) => s.pid).sort(),
    'every long-running session of the query, not the young one nor the other query',
  );
  assert.ok(matched.every((i) => i.cause === 'active' && i.root?.ageSeconds === 700));
});

// Issue 15, N2: detection runs at the lowest threshold any active rule needs; a rule without a threshold of its
// own must still wait for its own floor (the alert threshold), never act at another rule's.
test("a rule without a threshold acts at its own floor, never at another active rule's lower threshold", () => {
  const fast = allow('cancel active app:fast running:2s for:1h r');
  const reports = withAlertFloor(allow('cancel active app:reports for:1h r'), ALERTS);
  assert.equal(reports.alertFloorSeconds, 1800, 'frozen into the rule when proposed');
  assert.equal(withAlertFloor(fast, ALERTS).alertFloorSeconds, undefined, 'a rule with its own threshold keeps it');
  const young = [
    session({ application: 'reports', queryAgeSeconds: 5 }),
    session({ application: 'fast', queryAgeSeconds: 5 }),
  ];
  const lowered = ruleDetectionThresholds(ALERTS, [fast, reports]);
  assert.equal(lowered.activeSeconds, 2, 'detected at the fast rule\u2019s 2 s');
  const candidates = ruleCandidates(snapshot(young), lowered);
  assert.deepEqual(
    ruleMatches(reports, candidates, ALERTS),
    [],
    'a 5-second reports query is not the reports rule\u2019s',
  );
  assert.deepEqual(
    ruleMatches(fast, candidates, ALERTS).map((i) => i.root?.application),
    ['fast'],
  );
  const old = ruleCandidates(snapshot([session({ application: 'reports', queryAgeSeconds: 1801 })]), lowered);
  assert.equal(ruleMatches(reports, old, ALERTS).length, 1, 'at 30 minutes it acts');
  // A rule stored before the floor was frozen: the cluster's alert threshold, still never another rule's.
  const legacy = allow('cancel active app:reports for:1h r');
  assert.deepEqual(ruleMatches(legacy, candidates, ALERTS), []);
  assert.deepEqual(effectiveThresholds(legacy, ALERTS), { runningSeconds: 1800 });
  // Its message says the threshold it acts at.
  assert.match(describeRule(reports, null), /running for ≥ 30m \(the alert threshold\)/);
  assert.doesNotMatch(describeRule(fast, null), /alert threshold/);
  const idle = withAlertFloor(allow('terminate idle-in-transaction user:reporting for:1h r'), ALERTS);
  assert.match(describeRule(idle, null), /idle in a transaction for ≥ 10m \(the alert threshold\)/);
});

// Issue 15, N8: any database user can queue sessions on an advisory lock held by someone else.
test('blocking: and waiting: count waits on advisory locks only when the rule says advisory', () => {
  const advisoryLock = {
    locktype: 'advisory',
    mode: 'ExclusiveLock',
    relation: null,
    relationOid: null,
    transactionId: null,
  };
  const victim = session({
    state: 'idle in transaction',
    xactAgeSeconds: 120,
    application: 'victim',
    holding: [advisoryLock],
  });
  const queued = Array.from({ length: 5 }, () =>
    session({ blockedBy: [victim.pid], waitEventType: 'Lock', waitingFor: advisoryLock, waitSeconds: 60 }),
  );
  const [incident] = detectIncidents(snapshot([victim, ...queued]), ALERTS);
  assert.equal(incident?.cause, 'root-blocker');
  assert.equal(incident?.waiting, 5, 'the alert still shows everyone waiting');
  assert.deepEqual(incident?.lockWaits, { waiting: 0, oldestWaitSeconds: 0 });
  const rule = allow('terminate root-blocker app:victim blocking:3 for:1h r');
  assert.deepEqual(ruleMatches(rule, [incident!], ALERTS), []);
  const optIn = allow('terminate root-blocker app:victim blocking:3 advisory for:1h r');
  assert.equal(optIn.advisoryLocks, true);
  assert.equal(optIn.reason, 'r');
  assert.equal(ruleMatches(optIn, [incident!], ALERTS).length, 1);
  assert.match(ruleText(optIn), / advisory /);
  assert.match(describeRule(optIn, null), /counting sessions that wait on advisory locks/);
  assert.doesNotMatch(describeRule(rule, null), /advisory/);
  // Relation-lock waiters still count, advisory ones beside them do not.
  const rowWaiters = Array.from({ length: 2 }, () =>
    session({
      blockedBy: [victim.pid],
      waitEventType: 'Lock',
      waitingFor: relLock('RowExclusiveLock'),
      waitSeconds: 40,
    }),
  );
  const [mixed] = detectIncidents(snapshot([victim, ...queued, ...rowWaiters]), ALERTS);
  assert.deepEqual(mixed?.lockWaits, { waiting: 2, oldestWaitSeconds: 40 });
  assert.deepEqual(ruleMatches(rule, [mixed!], ALERTS), [], 'two real waiters are fewer than three');
  const advisoryOnActive = parseCommand('allow terminate active app:x advisory for:1h r');
  assert.equal(advisoryOnActive.kind, 'invalid');
});
