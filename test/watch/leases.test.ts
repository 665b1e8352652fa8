// Watcher leadership as lease rows in the state database, and the fencing of the leader's writes: a follower
// waits for the lease to expire (by the state database's clock); a takeover is a new term with a higher token;
// and an old leader that was paused past its lease — its renewals stopped, another replica took over — has
// every decision it still tries (open, refresh, clear, claim a post, claim a rule execution) refused.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { migrate } from '../../src/postgres/migrate.js';
import type { IncidentStorePort as IncidentStore } from '../../src/domain/ports.js';
import { createIncidentStore } from '../../src/postgres/incident-store.js';
import { createAuditStore } from '../../src/postgres/audit-store.js';
import { createRuleStore } from '../../src/postgres/rule-store.js';
import { clusterDownIncident } from '../../src/domain/watch.js';
import { createLeadership, type Leadership } from '../../src/watch/leadership.js';
import { createLogger } from '../../src/logger.js';
import type { TargetSnapshot } from '../../src/domain/types.js';
import { sleep } from '../helpers/approval-flow.js';

let db: TestDatabase;
let pool: pg.Pool;
let store: IncidentStore;
const open: Leadership[] = [];

before(async () => {
  db = await createTestDatabase('leases');
  pool = new pg.Pool({ connectionString: db.url, max: 4 });
  await migrate(pool);
  store = createIncidentStore(pool);
});
after(async () => {
  for (const l of open.splice(0)) await l.close();
  await pool?.end();
  await db?.drop();
});

const replica = (holder: string, leaseSeconds = 30): Leadership => {
  const l = createLeadership(db.url, createLogger('silent'), { holder, leaseSeconds });
  open.push(l);
  return l;
};
const lease = async (cluster: string) =>
  (
    await pool.query<{ holder: string; token: string }>(
      'SELECT holder, token::text AS token FROM pgsessions.watch_leases WHERE cluster = $1',
      [cluster],
    )
  ).rows[0];
/** What a lease looks like once its holder has stopped renewing it for longer than it lasts. */
const expire = (cluster: string) =>
  pool.query(`UPDATE pgsessions.watch_leases SET expires_at = now() - interval '1 second' WHERE cluster = $1`, [
    cluster,
  ]);

test('a follower gets nothing while the lease runs, and takes it over only once it has expired, as a new term', async () => {
  const a = replica('replica-a');
  const b = replica('replica-b');
  const first = await a.lead('l1');
  assert.ok(first);
  assert.equal(await b.lead('l1'), null, 'the lease runs: another replica leads');
  assert.equal(b.leads('l1'), false);
  assert.deepEqual(await a.lead('l1'), first, 'the leader renews under the same token');

  await expire('l1');
  const second = await b.lead('l1');
  assert.ok(second, 'expired: taken over');
  assert.equal(BigInt(second.token), BigInt(first.token) + 1n, 'the token goes up on a takeover');
  assert.equal((await lease('l1'))?.holder, 'replica-b');
});

test('a leader renews its lease on its own, well before it expires, whatever its watch interval', async () => {
  const a = replica('renewer', 1);
  const b = replica('waiter', 1);
  const fence = await a.lead('l2');
  assert.ok(fence);
  // Three lease lengths, with the follower trying all along: the renewals keep the lease.
  for (let i = 0; i < 12; i++) {
    assert.equal(await b.lead('l2'), null, `try ${i}`);
    await sleep(250);
  }
  assert.deepEqual(await lease('l2'), { holder: 'renewer', token: fence.token });
});

test('a replica that stops gives its leases back: another takes over at once', async () => {
  const a = replica('leaving');
  const b = replica('staying');
  assert.ok(await a.lead('l3'));
  assert.equal(await b.lead('l3'), null);
  await a.close();
  assert.ok(await b.lead('l3'), 'taken over without waiting for the expiry');
});

test('an old leader paused past its lease: every write it still tries is refused, the new leader’s go through', async () => {
  const a = replica('paused');
  const b = replica('successor');
  const stale = await a.lead('l4');
  assert.ok(stale);
  const incident = clusterDownIncident('l4', 'refused');
  await store.open(incident, 'CWATCH', stale);
  const [row] = await store.live('l4', 30);
  assert.ok(row, 'opened while it led');

  // Paused (a GC pause, SIGSTOP, a VM migration) past its lease: the other replica takes over.
  await expire('l4');
  const current = await b.lead('l4');
  assert.ok(current);

  assert.equal(await store.claimPost(row.id, stale), null, 'no post claimed: the message cannot go out twice');
  await store.clear(row.id, { kind: 'back' }, stale);
  await store.refresh(row.id, { ...incident, error: 'changed' } as typeof incident, stale);
  const again = await store.get(row.id);
  assert.equal(again?.status, 'open', 'not cleared by the stale leader');
  assert.equal(again?.version, row.version, 'not refreshed by the stale leader');
  await store.open({ ...incident, key: `${incident.key}-2` }, 'CWATCH', stale);
  assert.equal((await store.live('l4', 30)).length, 1, 'nothing new opened by the stale leader');
  // The lease of another cluster is no fence for this one.
  const elsewhere = await replica('elsewhere').lead('l4-other');
  assert.ok(elsewhere);
  assert.equal(await store.claimPost(row.id, elsewhere), null);

  assert.ok(await store.claimPost(row.id, current), 'the new leader claims the post');
  await store.clear(row.id, { kind: 'back' }, current);
  assert.equal((await store.get(row.id))?.status, 'cleared');

  // A rule execution claimed by the stale leader is refused too: nothing is signalled under an old term.
  const rules = createRuleStore(pool, createAuditStore(pool).appendIn);
  const spec = {
    action: 'cancel',
    cause: 'lock-queue-head',
    filters: {},
    thresholds: { waitingSeconds: 5 },
    lifetimeSeconds: 3600,
    maxExecutions: 5,
    dryRun: false,
    reason: 'fence',
  } as const;
  const proposed = await rules.create({ cluster: 'l4', spec, proposer: 'UA', channel: 'C1', proposalTtlSeconds: 600 });
  const decided = await rules.approve(proposed.id, 'UB');
  assert.ok(decided.ok);
  const target: TargetSnapshot = {
    pid: 4242,
    backendStart: '2026-01-01T00:00:00Z',
    queryStart: '2026-01-01T00:01:00Z',
    xactStart: null,
    backendType: 'client backend',
    user: 'app',
    database: 'shop',
    application: 'rails-migrate',
    client: null,
    state: 'active',
    query: 'ALTER TABLE orders ADD COLUMN x int',
  };
  const last = { at: new Date().toISOString(), pid: target.pid, query: target.query, outcome: 'claimed' };
  assert.equal(await rules.claim(decided.rule, target, last, 'k', stale), null, 'the stale leader claims nothing');
  const { rows } = await pool.query('SELECT count(*)::int AS n FROM pgsessions.rule_executions');
  assert.equal(rows[0].n, 0, 'and writes nothing');
  assert.ok(await rules.claim(decided.rule, target, last, 'k', current), 'the current leader claims it');
});
