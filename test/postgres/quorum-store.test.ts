// The quorum in the state store (src/postgres/request-approvals.ts), keyed, on a real PostgreSQL: approvals
// counted once each, the one reaching the quorum approves; and the check before any signal re-reads the
// approval rows, so an approver changed, added or a quorum lowered after the approval (an owner's repair
// gone wrong, or a MAC-bearing row the app never wrote for this set) is refused as tampering.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createBinder } from '../../src/domain/binding.js';
import type { TargetSnapshot } from '../../src/domain/types.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createStateStore, type StateStore } from '../../src/postgres/state-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const KEY = randomBytes(32);
let db: TestDatabase;
let pool: pg.Pool;
let store: StateStore;

const target: TargetSnapshot = {
  pid: 4242,
  backendStart: '2025-01-02T03:04:05.123456Z',
  queryStart: '2025-01-02T03:05:00.654321Z',
  xactStart: null,
  backendType: 'client backend',
  user: 'app',
  database: 'shop',
  application: 'api',
  client: '10.0.0.7',
  state: 'active',
  query: 'SELECT 1',
};

const create = (quorum: number, ttlSeconds = 900) =>
  store.createRequest({
    cluster: 'default',
    action: 'terminate',
    targets: [target],
    reason: 'locks',
    requester: 'UREQ',
    channel: 'C1',
    escalateAfterSeconds: null,
    scope: null,
    ttlSeconds,
    quorum,
  });

async function approvedWithTwo(): Promise<string> {
  const r = await create(2);
  const first = await store.approve(r.id, 'UA');
  assert.ok(first.ok && first.request.status === 'pending' && first.request.quorum === 2);
  assert.deepEqual(first.request.approvers, ['UA']);
  const again = await store.approve(r.id, 'UA');
  assert.ok(!again.ok && again.code === 'already_approved');
  const self = await store.approve(r.id, 'UREQ');
  assert.ok(!self.ok && self.code === 'self_approval');
  const second = await store.approve(r.id, 'UB');
  assert.ok(second.ok && second.request.status === 'approved', JSON.stringify(second));
  assert.deepEqual(second.request.approvers, ['UA', 'UB']);
  return r.id;
}

async function tampered(id: string): Promise<void> {
  const marked = await store.markExecuting(id);
  assert.ok(!marked.ok && marked.code === 'tampered', JSON.stringify(marked));
  const { rows } = await pool.query(
    "SELECT details->>'stage' AS stage FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND request_id = $1",
    [id],
  );
  assert.deepEqual(
    rows.map((r) => r.stage),
    ['execution'],
  );
}

before(async () => {
  db = await createTestDatabase('qstore');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  store = createStateStore(pool, { key: KEY });
  await store.startChain();
});
after(async () => {
  await pool?.end();
  await db?.drop();
});

test('an untouched quorum approval passes the check before the signal', async () => {
  const id = await approvedWithTwo();
  const marked = await store.markExecuting(id);
  assert.ok(marked.ok, JSON.stringify(marked));
});

test('an approver changed after the approval: refused before any signal', async () => {
  const id = await approvedWithTwo();
  await pool.query(
    "UPDATE pgsessions.request_approvals SET approver = 'UX' WHERE request_id = $1 AND approver = 'UB'",
    [id],
  );
  await tampered(id);
});

test('an approval added after the approval, even with a valid MAC of its own: the bound set no longer matches', async () => {
  const id = await approvedWithTwo();
  const at = '2025-01-02T03:06:00.000000Z';
  const mac = createBinder(KEY).approval({ requestId: id, approver: 'UC', approvedAt: at });
  await pool.query(
    'INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding) VALUES ($1, $2, $3::timestamptz, $4)',
    [id, 'UC', at, mac],
  );
  await tampered(id);
});

test('a quorum lowered after the approval: refused before any signal', async () => {
  const id = await approvedWithTwo();
  await pool.query('UPDATE pgsessions.requests SET quorum = 1 WHERE id = $1', [id]);
  await tampered(id);
});

test('a request short of its quorum expires as any other: the approval after its expiry is refused', async () => {
  const r = await create(2, 1);
  const first = await store.approve(r.id, 'UA');
  assert.ok(first.ok && first.request.status === 'pending');
  await new Promise((resolve) => setTimeout(resolve, 1_100));
  const late = await store.approve(r.id, 'UB');
  assert.ok(!late.ok && late.code === 'expired', JSON.stringify(late));
  const expired = await store.expireDue();
  assert.ok(expired.some((e) => e.id === r.id));
  assert.equal((await store.get(r.id))?.status, 'expired');
});
