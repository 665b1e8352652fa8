import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  clearReasonFor,
  detectIncidents,
  fingerprint,
  planIncidents,
  type IncidentRecord,
  type WatchedSession,
  type WatchThresholds,
} from '../../src/domain/watch.js';
import { relLock, sessionBuilder, snapshot } from '../helpers/watched.js';

const T: WatchThresholds = {
  lockWaitSeconds: 30,
  idleInTransactionSeconds: 600,
  activeSeconds: 1800,
  connectionsShare: 0.9,
  replicationLagBytes: null,
  stormSessions: 10,
  stormSeconds: 10,
};

const session = sessionBuilder(100);

const waiter = (blocker: number, wait: number, over: Partial<WatchedSession> = {}) =>
  session({
    blockedBy: [blocker],
    waitEventType: 'Lock',
    waitingFor: relLock('AccessShareLock'),
    waitSeconds: wait,
    ...over,
  });

test('an idle-in-transaction lock holder with waiters past the lock-wait threshold is one root-blocker incident naming the lock', () => {
  const holder = session({
    state: 'idle in transaction',
    xactAgeSeconds: 840,
    queryAgeSeconds: 839,
    holding: [relLock('AccessExclusiveLock')],
  });
  const waiters = [waiter(holder.pid, 45, { application: 'puma' }), waiter(holder.pid, 12, { application: 'sidekiq' })];
  const found = detectIncidents(snapshot([holder, ...waiters]), T);
  assert.equal(found.length, 1, 'waiters are part of the holder incident, not incidents of their own');
  const [i] = found;
  assert.equal(i!.cause, 'root-blocker');
  assert.equal(i!.root?.pid, holder.pid);
  assert.equal(i!.root?.ageSeconds, 840, 'an idle transaction ages from its start');
  assert.equal(i!.waiting, 2);
  assert.equal(i!.oldestWaitSeconds, 45);
  assert.equal(i!.lock?.mode, 'AccessExclusiveLock');
  assert.equal(i!.lock?.relation, 'public.orders');
  assert.deepEqual(i!.applications, ['puma', 'sidekiq']);
  assert.equal(i!.key, `main|root-blocker|${holder.pid}:${holder.backendStart}`);
});

test('a lock wait below the threshold raises nothing, and the idle holder is not reported twice', () => {
  const holder = session({ state: 'idle in transaction', xactAgeSeconds: 5, holding: [relLock('RowExclusiveLock')] });
  assert.deepEqual(detectIncidents(snapshot([holder, waiter(holder.pid, 29)]), T), []);
  assert.deepEqual(detectIncidents(snapshot([holder, waiter(holder.pid, 300)]), { ...T, lockWaitSeconds: null }), []);
});

test('a DDL waiting behind a long read with readers behind it is the lock-queue head, not the read', () => {
  const read = session({ query: 'SELECT * FROM orders', queryAgeSeconds: 600, holding: [relLock('AccessShareLock')] });
  const ddl = session({
    query: 'ALTER TABLE orders ADD COLUMN x int',
    blockedBy: [read.pid],
    waitEventType: 'Lock',
    waitingFor: relLock('AccessExclusiveLock'),
    waitSeconds: 40,
    application: 'rails-migrate',
  });
  const readers = Array.from({ length: 38 }, () => waiter(ddl.pid, 35, { query: 'SELECT * FROM orders WHERE id = 7' }));
  const found = detectIncidents(snapshot([read, ddl, ...readers]), T);
  assert.equal(found.length, 1);
  const [i] = found;
  assert.equal(i!.cause, 'lock-queue-head');
  assert.equal(i!.root?.pid, ddl.pid);
  assert.equal(i!.root?.waitSeconds, 40);
  assert.equal(i!.behind?.pid, read.pid);
  assert.equal(i!.waiting, 38);
  assert.equal(i!.lock?.mode, 'AccessExclusiveLock');
  assert.equal(i!.subject, `${ddl.pid}:${ddl.backendStart}`);
});

test('forty-two sessions of the same statement are one query storm, grouped by query_id', () => {
  const storm = Array.from({ length: 42 }, (_, n) =>
    session({ queryId: '-4123', query: `SELECT * FROM orders WHERE customer_id = ${n}`, queryAgeSeconds: 20 + n }),
  );
  const other = session({ queryId: '77', queryAgeSeconds: 2000, query: 'SELECT pg_sleep(3000)' });
  const found = detectIncidents(snapshot([...storm, other]), T);
  const s = found.find((i) => i.cause === 'query-storm');
  assert.ok(s);
  assert.equal(s.members.length, 42);
  assert.equal(s.subject, 'q-4123');
  assert.equal(s.root?.ageSeconds, 61, 'the oldest member represents the storm');
  assert.deepEqual(found.map((i) => i.cause).sort(), ['active', 'query-storm']);
  assert.equal(found.filter((i) => i.cause === 'active').length, 1, 'storm members are not long queries of their own');
});

test('without query_id a storm groups by text with the literals taken out', () => {
  assert.equal(
    fingerprint("SELECT * FROM t WHERE a = 1 AND b = 'x''y'"),
    fingerprint("select *   from t where a = 22 and b = 'z'"),
  );
  const storm = Array.from({ length: 10 }, (_, n) =>
    session({ query: `SELECT * FROM t WHERE a = ${n}`, queryAgeSeconds: 15 }),
  );
  assert.equal(detectIncidents(snapshot(storm), T).filter((i) => i.cause === 'query-storm').length, 1);
  assert.equal(detectIncidents(snapshot(storm.slice(0, 9)), T).length, 0, 'nine are not a storm');
});

test('long idle transactions and long queries are incidents; `off` switches each off', () => {
  const idle = session({ state: 'idle in transaction', xactAgeSeconds: 601 });
  const long = session({ queryAgeSeconds: 1801 });
  assert.deepEqual(
    detectIncidents(snapshot([idle, long]), T)
      .map((i) => i.cause)
      .sort(),
    ['active', 'idle-in-transaction'],
  );
  assert.deepEqual(
    detectIncidents(snapshot([idle, long]), { ...T, idleInTransactionSeconds: null, activeSeconds: null }),
    [],
  );
});

test('connection use above the share of available connections is one incident', () => {
  const over = snapshot([], { connections: { total: 87, available: 97, idle: 77, active: 5, idleInTransaction: 5 } });
  assert.deepEqual(
    detectIncidents(over, T).map((i) => i.cause),
    [],
  );
  const full = snapshot([], {
    connections: { total: 412, available: 450, idle: 300, active: 80, idleInTransaction: 32 },
  });
  const found = detectIncidents(full, T);
  assert.deepEqual(
    found.map((i) => i.key),
    ['main|connections|-'],
  );
  assert.equal(found[0]!.connections?.total, 412);
  assert.deepEqual(detectIncidents(full, { ...T, connectionsShare: null }), []);
});

test('replication lag counts only when its threshold is set', () => {
  const snap = snapshot([], { walsenders: [{ pid: 9, backendStart: 'b', application: 'standby1', lagBytes: 5e9 }] });
  assert.deepEqual(detectIncidents(snap, T), []);
  const found = detectIncidents(snap, { ...T, replicationLagBytes: 1e9 });
  assert.equal(found[0]?.cause, 'replication-lag');
  assert.equal(found[0]?.lagBytes, 5e9);
});

test('the plan opens new keys, refreshes seen ones and clears the rest', () => {
  const holder = session({
    state: 'idle in transaction',
    xactAgeSeconds: 100,
    holding: [relLock('AccessExclusiveLock')],
  });
  const [incident] = detectIncidents(snapshot([holder, waiter(holder.pid, 31)]), T);
  const record = (key: string): IncidentRecord => ({
    id: key,
    key,
    cluster: 'main',
    cause: 'root-blocker',
    status: 'open',
    incident: incident!,
    openedAt: 'x',
    clearedAt: null,
    clearReason: null,
    messageTs: null,
    snoozedUntil: null,
  });
  const plan = planIncidents([record(incident!.key), record('main|active|gone')], [incident!]);
  assert.equal(plan.open.length, 0);
  assert.equal(plan.refresh.length, 1);
  assert.deepEqual(
    plan.clear.map((r) => r.key),
    ['main|active|gone'],
  );
});

test('a cleared incident says why: the request that ended it, the session that left, or the threshold', () => {
  const holder = session({
    state: 'idle in transaction',
    xactAgeSeconds: 100,
    holding: [relLock('AccessExclusiveLock')],
  });
  const [incident] = detectIncidents(snapshot([holder, waiter(holder.pid, 31)]), T);
  const record: IncidentRecord = {
    id: '1',
    key: incident!.key,
    cluster: 'main',
    cause: 'root-blocker',
    status: 'open',
    incident: incident!,
    openedAt: 'x',
    clearedAt: null,
    clearReason: null,
    messageTs: null,
    snoozedUntil: null,
  };
  assert.deepEqual(clearReasonFor(record, snapshot([]), { requestId: 'R', outcome: 'terminated', approver: 'UAPP' }), {
    kind: 'request',
    requestId: 'R',
    action: 'terminated',
    approver: 'UAPP',
  });
  assert.deepEqual(clearReasonFor(record, snapshot([]), null), { kind: 'ended' });
  assert.deepEqual(clearReasonFor(record, snapshot([holder]), null), { kind: 'resolved' });
  assert.deepEqual(
    clearReasonFor(record, snapshot([{ ...holder, xactStart: 'later' }]), null),
    { kind: 'ended' },
    'a new transaction means the old one ended',
  );
  assert.deepEqual(clearReasonFor({ ...record, cause: 'cluster-down' }, null, null), { kind: 'back' });
  // A storm relieved by a bulk cancel keeps how many of its sessions were cancelled.
  assert.deepEqual(
    clearReasonFor({ ...record, cause: 'query-storm' }, snapshot([]), {
      requestId: 'R',
      outcome: 'cancelled',
      approver: 'UAPP',
      counts: { done: 4, of: 5 },
    }),
    {
      kind: 'request',
      requestId: 'R',
      action: 'cancelled',
      approver: 'UAPP',
      counts: { done: 4, of: 5 },
    },
  );
});
