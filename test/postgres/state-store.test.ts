import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { createStateStore, type CreateRequestInput, type StateStore } from '../../src/postgres/state-store.js';
import type { TargetSnapshot } from '../../src/domain/types.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const pools: pg.Pool[] = [];
function newPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max });
  pool.on('error', () => undefined);
  pools.push(pool);
  return pool;
}

const target = (pid: number): TargetSnapshot => ({
  pid,
  backendStart: '2025-01-02T03:04:05.123456Z',
  queryStart: '2025-01-02T03:05:00.654321Z',
  xactStart: '2025-01-02T03:05:00.654321Z',
  backendType: 'client backend',
  user: 'app',
  database: 'shop',
  application: 'api',
  client: '10.0.0.7',
  state: 'active',
  query: 'SELECT pg_sleep(600)',
});

const input = (overrides: Partial<CreateRequestInput> = {}): CreateRequestInput => ({
  cluster: 'default',
  action: 'terminate',
  targets: [target(4242)],
  reason: 'holding locks on orders',
  requester: 'UREQ',
  channel: 'CINCIDENT',
  escalateAfterSeconds: null,
  scope: null,
  ttlSeconds: 900,
  ...overrides,
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let db: TestDatabase;
let pool: pg.Pool;
let store: StateStore;

before(async () => {
  db = await createTestDatabase('state');
  pool = newPool(db.url);
  store = createStateStore(pool);
});

after(async () => {
  await Promise.all(pools.map((p) => p.end()));
  await db.drop();
});

async function auditCount(event: string, requestId?: string): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM pgsessions.audit_log WHERE event = $1 AND ($2::uuid IS NULL OR request_id = $2)',
    [event, requestId ?? null],
  );
  return rows[0]!.n;
}

describe('migrations', () => {
  test('five instances migrating at once apply each migration exactly once', async () => {
    const migrators = Array.from({ length: 5 }, () => newPool(db.url, 2));
    const applied = await Promise.all(migrators.map((p) => migrate(p)));
    const all = applied.flat();
    assert.ok(all.includes('001_init.sql'));
    assert.equal(all.length, new Set(all).size, 'no migration applied twice');
    const { rows } = await pool.query<{ version: string }>(
      'SELECT version FROM pgsessions.schema_migrations ORDER BY version',
    );
    assert.deepEqual(
      rows.map((r) => r.version),
      [...new Set(all)].sort(),
    );
  });

  test('migrating again applies nothing', async () => {
    assert.deepEqual(await migrate(pool), []);
  });
});

describe('requests', () => {
  test('a new request is pending, expires after its ttl, and is audited as requested with an outbox row', async () => {
    const request = await store.createRequest(input({ ttlSeconds: 600 }));
    assert.equal(request.status, 'pending');
    assert.match(request.id, /^[0-9a-f-]{36}$/);
    assert.match(request.createdAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    assert.equal(Date.parse(request.expiresAt) - Date.parse(request.createdAt), 600_000);
    assert.deepEqual(request.targets, [target(4242)]);
    assert.equal(request.messageTs, null);
    assert.equal(request.result, null);
    assert.deepEqual(await store.get(request.id), request);
    const entries = (await store.readAudit(0, 1000)).filter((e) => e.requestId === request.id);
    assert.equal(entries.length, 1);
    assert.equal(entries[0]!.event, 'requested');
    assert.equal(entries[0]!.actor, 'UREQ');
    assert.equal(entries[0]!.cluster, 'default');
    assert.equal(entries[0]!.details.reason, 'holding locks on orders');
    const { rows } = await pool.query('SELECT 1 FROM pgsessions.outbox WHERE audit_seq = $1 AND delivered_at IS NULL', [
      entries[0]!.seq,
    ]);
    assert.equal(rows.length, 1);
  });

  test('scope and escalation survive the round trip', async () => {
    const request = await store.createRequest(
      input({
        action: 'terminate_all',
        scope: { database: 'shop', user: 'app' },
        escalateAfterSeconds: 10,
        targets: [target(1), target(2)],
      }),
    );
    const read = await store.get(request.id);
    assert.deepEqual(read?.scope, { database: 'shop', user: 'app' });
    assert.equal(read?.escalateAfterSeconds, 10);
    assert.equal(read?.targets.length, 2);
  });

  test('an unknown or malformed id is not found', async () => {
    assert.equal(await store.get('6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c'), null);
    assert.equal(await store.get('not-a-uuid'), null);
    assert.deepEqual(await store.approve('not-a-uuid', 'UAPP'), { ok: false, code: 'not_found' });
    assert.deepEqual(await store.approve('6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c', 'UAPP'), {
      ok: false,
      code: 'not_found',
    });
  });

  test('the approval message ts is recorded', async () => {
    const request = await store.createRequest(input());
    assert.equal(await store.setMessageTs(request.id, '1712345678.000100'), true);
    assert.equal((await store.get(request.id))?.messageTs, '1712345678.000100');
  });

  test('pending requests are listed oldest first, per cluster when asked', async () => {
    const a = await store.createRequest(input({ cluster: 'east' }));
    const b = await store.createRequest(input({ cluster: 'west' }));
    const c = await store.createRequest(input({ cluster: 'east' }));
    await store.deny(c.id, 'UAPP');
    assert.deepEqual(
      (await store.listPending('east')).map((r) => r.id),
      [a.id],
    );
    const all = (await store.listPending()).map((r) => r.id);
    assert.ok(all.includes(a.id) && all.includes(b.id) && !all.includes(c.id));
  });
});

describe('the two-person rule', () => {
  test('twenty approvals racing from four pools: exactly one wins and one approved entry is written', async () => {
    const request = await store.createRequest(input());
    const racers = Array.from({ length: 4 }, () => createStateStore(newPool(db.url, 5)));
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => racers[i % 4]!.approve(request.id, `UAPP${i}`)),
    );
    const winners = results.filter((r) => r.ok);
    assert.equal(winners.length, 1);
    for (const r of results) if (!r.ok) assert.equal(r.code, 'already_decided');
    assert.equal(await auditCount('approved', request.id), 1);
    const stored = await store.get(request.id);
    assert.equal(stored?.status, 'approved');
    assert.equal(stored?.decidedBy, winners[0]!.ok ? winners[0]!.request.decidedBy : undefined);
    assert.ok(stored?.decidedAt);
  });

  test('a requester cannot approve their own request', async () => {
    const request = await store.createRequest(input({ requester: 'USELF' }));
    const result = await store.approve(request.id, 'USELF');
    assert.equal(result.ok, false);
    assert.equal(!result.ok && result.code, 'self_approval');
    assert.equal((await store.get(request.id))?.status, 'pending');
    assert.equal(await auditCount('approved', request.id), 0);
  });

  test('the database itself refuses a self-approved row', async () => {
    const request = await store.createRequest(input({ requester: 'USELF' }));
    await assert.rejects(
      pool.query(`UPDATE pgsessions.requests SET status = 'approved', decided_by = requester WHERE id = $1`, [
        request.id,
      ]),
      /requests_not_self_approved/,
    );
  });

  test('an expired request cannot be approved, even before the sweep', async () => {
    const request = await store.createRequest(input({ ttlSeconds: 0.001 }));
    await sleep(20);
    const result = await store.approve(request.id, 'UAPP');
    assert.equal(!result.ok && result.code, 'expired');
    const denied = await store.deny(request.id, 'UAPP');
    assert.equal(!denied.ok && denied.code, 'expired');
  });

  test('a denied request cannot be approved, and a decided one cannot be denied', async () => {
    const request = await store.createRequest(input());
    const denied = await store.deny(request.id, 'UAPP');
    assert.equal(denied.ok, true);
    assert.equal(denied.ok && denied.request.status, 'denied');
    assert.equal(denied.ok && denied.request.decidedBy, 'UAPP');
    const approved = await store.approve(request.id, 'UOTHER');
    assert.equal(!approved.ok && approved.code, 'already_decided');
    assert.equal(!approved.ok && approved.request?.status, 'denied');
    const again = await store.deny(request.id, 'UOTHER');
    assert.equal(!again.ok && again.code, 'already_decided');
    assert.equal(await auditCount('denied', request.id), 1);
  });

  test('only the requester can withdraw, and only while pending', async () => {
    const request = await store.createRequest(input({ requester: 'UREQ' }));
    const byOther = await store.withdraw(request.id, 'UOTHER');
    assert.equal(!byOther.ok && byOther.code, 'not_requester');
    const byRequester = await store.withdraw(request.id, 'UREQ');
    assert.equal(byRequester.ok && byRequester.request.status, 'withdrawn');
    const twice = await store.withdraw(request.id, 'UREQ');
    assert.equal(!twice.ok && twice.code, 'already_decided');
    const approve = await store.approve(request.id, 'UAPP');
    assert.equal(!approve.ok && approve.code, 'already_decided');
    assert.equal(await auditCount('withdrawn', request.id), 1);
  });

  test('sweeping from two pools at once expires each request once, with one expired entry each', async () => {
    const due = await Promise.all(Array.from({ length: 10 }, () => store.createRequest(input({ ttlSeconds: 0.001 }))));
    const live = await store.createRequest(input({ ttlSeconds: 600 }));
    await sleep(20);
    const sweepers = [createStateStore(newPool(db.url, 2)), createStateStore(newPool(db.url, 2))];
    const [a, b] = await Promise.all(sweepers.map((s) => s.expireDue()));
    const expiredIds = [...a!, ...b!].map((r) => r.id);
    assert.equal(expiredIds.length, new Set(expiredIds).size, 'no request expired twice');
    for (const r of due) assert.ok(expiredIds.includes(r.id));
    assert.ok(!expiredIds.includes(live.id));
    for (const r of due) {
      assert.equal((await store.get(r.id))?.status, 'expired');
      assert.equal(await auditCount('expired', r.id), 1);
    }
    assert.deepEqual(await store.expireDue(), []);
    const late = await store.approve(due[0]!.id, 'UAPP');
    assert.equal(!late.ok && late.code, 'expired');
  });
});

describe('execution', () => {
  test('execution is announced once and finished once, each with its audit entry', async () => {
    const request = await store.createRequest(input());
    const early = await store.markExecuting(request.id);
    assert.equal(!early.ok && early.code, 'not_approved');
    assert.equal((await store.approve(request.id, 'UAPP')).ok, true);
    const racing = await Promise.all([store.markExecuting(request.id), store.markExecuting(request.id)]);
    assert.equal(racing.filter((r) => r.ok).length, 1);
    assert.equal(
      racing.find((r) => !r.ok)?.ok === false && (racing.find((r) => !r.ok) as { code: string }).code,
      'already_executing',
    );
    assert.equal(await auditCount('executing', request.id), 1);

    const result = { outcomes: [{ pid: 4242, outcome: 'terminated' as const }] };
    const finished = await store.finish(request.id, 'executed', result);
    assert.equal(finished.ok && finished.request.status, 'executed');
    assert.deepEqual(finished.ok && finished.request.result, result);
    const twice = await store.finish(request.id, 'failed', { outcomes: [] });
    assert.equal(!twice.ok && twice.code, 'not_approved');
    assert.equal(await auditCount('executed', request.id), 1);
    assert.equal(await auditCount('failed', request.id), 0);
    const entry = (await store.readAudit(0, 10_000)).find((e) => e.requestId === request.id && e.event === 'executed');
    assert.ok(entry?.event === 'executed');
    assert.deepEqual(entry.details.result, result);
    assert.equal(entry.details.approver, 'UAPP');
  });

  test('an approval left without outcome is found as interrupted and reconciled once', async () => {
    const request = await store.createRequest(input());
    await store.approve(request.id, 'UAPP');
    assert.equal(
      (await store.findInterrupted(60)).some((r) => r.id === request.id),
      false,
    );
    await sleep(30);
    const interrupted = await store.findInterrupted(0.01);
    assert.ok(interrupted.some((r) => r.id === request.id));
    const done = await store.finish(request.id, 'failed', {
      outcomes: [],
      interrupted: true,
      message: 'restart during execution',
    });
    assert.equal(done.ok && done.request.result?.interrupted, true);
    assert.equal(
      (await store.findInterrupted(0)).some((r) => r.id === request.id),
      false,
    );
  });
});

describe('the audit log', () => {
  test('an event without a state change is appended and chained', async () => {
    const entry = await store.appendAudit({
      event: 'refused',
      actor: 'UREQ',
      cluster: 'default',
      details: { why: 'protected role' },
    });
    assert.equal(entry.event, 'refused');
    assert.equal(entry.requestId, null);
    const [read] = await store.readAudit(entry.seq - 1, 1);
    assert.deepEqual(read, entry);
  });

  test('concurrent appends from several pools keep one unbroken chain', async () => {
    const writers = [createStateStore(newPool(db.url, 4)), createStateStore(newPool(db.url, 4)), store];
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        writers[i % 3]!.appendAudit({
          event: 'refused',
          details: { why: `race ${i}`, nested: { b: 1, a: [1.5, 'x'] } } as { why: string },
        }),
      ),
    );
    const verdict = await store.verifyAudit();
    assert.equal(verdict.ok, true);
  });

  test('the database rejects UPDATE, DELETE and TRUNCATE of the audit log', async () => {
    await store.appendAudit({ event: 'refused', details: { why: 'test' } });
    await assert.rejects(pool.query(`UPDATE pgsessions.audit_log SET actor = 'UEVIL'`), /append-only/);
    await assert.rejects(pool.query('DELETE FROM pgsessions.audit_log'), /append-only/);
    await assert.rejects(pool.query('TRUNCATE pgsessions.audit_log CASCADE'), /append-only/);
  });

  test('verification passes on an intact log and names the seq of a tampered entry', async () => {
    const before = await store.verifyAudit();
    assert.equal(before.ok, true);
    const entries = await store.readAudit(0, 10_000);
    assert.equal(before.ok && before.count, entries.length);
    const victim = entries[Math.floor(entries.length / 2)]!;
    const admin = new pg.Client({ connectionString: db.url });
    await admin.connect();
    try {
      await admin.query('ALTER TABLE pgsessions.audit_log DISABLE TRIGGER audit_log_no_update_delete');
      await admin.query(
        `UPDATE pgsessions.audit_log SET details = details || '{"reason":"nothing to see"}' WHERE seq = $1`,
        [victim.seq],
      );
      await admin.query('ALTER TABLE pgsessions.audit_log ENABLE TRIGGER audit_log_no_update_delete');
    } finally {
      await admin.end();
    }
    const verdict = await store.verifyAudit();
    assert.equal(verdict.ok, false);
    assert.equal(!verdict.ok && verdict.brokenAtSeq, victim.seq);
  });
});
