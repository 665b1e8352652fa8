// The leadership pgsessions runs with (src/watch/spread.ts), driven the way the watcher drives it (every cluster
// asked about again and again), each replica as its own runtime role through a real PgBouncer in TRANSACTION
// pooling: a second replica gets its fair share, moved at safe points with a new fencing token (the old
// leader's fence no longer holds); a replica told to watch fewer clusters gives the others back; and a
// holder of the state database's runtime password who forges a heartbeat row claiming every cluster cannot
// leave one unwatched: what the forged replica never takes becomes an orphan the real replicas take.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { skipWithoutPgBouncer, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { sleep, stateQuery } from '../helpers/approval-flow.js';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { fenceHolds } from '../../src/postgres/lease-sql.js';
import { createSpreadLeadership, type SpreadLeadership } from '../../src/watch/spread.js';
import { assignShares } from '../../src/domain/share.js';
import { createLogger } from '../../src/logger.js';
import type { Fence } from '../../src/domain/lease.js';

const LEASE = 0.9;
const CLUSTERS = Array.from({ length: 12 }, (_, i) => `s${String(i).padStart(2, '0')}`);

describe('spread leadership through PgBouncer in transaction pooling', { skip: skipWithoutPgBouncer() }, () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  const roles: TestRole[] = [];
  const running: Array<{ leadership: SpreadLeadership; stop: () => void }> = [];

  before(async () => {
    db = await createTestDatabase('spread');
    const owner = new pg.Pool({ connectionString: db.url, max: 1 });
    await migrate(owner);
    const client = await owner.connect();
    try {
      for (const name of ['a', 'b', 'intruder']) {
        const role = await createRole({ prefix: `spread_${name}` });
        roles.push(role);
        const granted = await grantRuntimeRole(client, role.name);
        assert.ok(granted.ok, JSON.stringify(granted));
      }
    } finally {
      client.release();
      await owner.end();
    }
    bouncer = await startPgBouncer({
      serverUrl: serverUrl(),
      poolMode: 'transaction',
      users: Object.fromEntries(roles.map((r) => [r.name, r.password])),
    });
  });
  after(async () => {
    for (const r of running) r.stop();
    await Promise.all(running.map((r) => r.leadership.close()));
    await bouncer?.stop();
    await db?.drop();
    for (const role of roles) await role.drop().catch(() => undefined);
  });

  const urlOf = (i: number) => bouncer.url(db.name, { name: roles[i]!.name, password: roles[i]!.password });

  /** A replica and a stand-in for its watcher's loops: each cluster asked about every 150 ms; fences kept. */
  function replica(holder: string, role: number, clusters = CLUSTERS) {
    const leadership = createSpreadLeadership(urlOf(role), createLogger('silent'), {
      holder,
      leaseSeconds: LEASE,
      clusters,
    });
    const fences = new Map<string, Fence>();
    let stopped = false;
    let watched = clusters;
    void (async () => {
      while (!stopped) {
        for (const c of watched) {
          const fence = await leadership.lead(c);
          if (fence) fences.set(c, fence);
        }
        await sleep(150);
      }
    })();
    const r = {
      leadership,
      fences,
      stop: () => {
        stopped = true;
      },
      watch(only: string[]) {
        watched = only;
        leadership.watchOnly(only);
      },
    };
    running.push(r);
    return r;
  }

  async function leases(): Promise<Map<string, { holder: string; token: string }>> {
    const rows = await stateQuery<{ cluster: string; holder: string; token: string }>(
      db.url,
      'SELECT cluster, holder, token::text AS token FROM pgsessions.watch_leases WHERE expires_at > now()',
    );
    return new Map(rows.map((r) => [r.cluster, { holder: r.holder, token: r.token }]));
  }

  async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = await fn();
      if (v !== undefined) return v;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify([...(await leases())])}`);
      await sleep(100);
    }
  }

  const countBy = (m: Map<string, { holder: string }>) => {
    const out: Record<string, number> = {};
    for (const { holder } of m.values()) out[holder] = (out[holder] ?? 0) + 1;
    return out;
  };

  test('a second replica gets half, each moved cluster under a new term; the old fence no longer holds', async () => {
    const a = replica('replica-a', 0);
    await until('a to lead all 12', async () => ((await leases()).size === 12 ? true : undefined));
    const before = await leases();
    assert.deepEqual(countBy(before), { 'replica-a': 12 }, 'alone, it leads everything');
    const oldFences = new Map(a.fences);

    replica('replica-b', 1);
    const after = await until('6 and 6', async () => {
      const now = await leases();
      const c = countBy(now);
      return now.size === 12 && c['replica-a'] === 6 && c['replica-b'] === 6 ? now : undefined;
    });
    assert.equal(a.leadership.leading(), 6, 'the gauge follows');
    const moved = CLUSTERS.filter((c) => after.get(c)!.holder === 'replica-b');
    for (const c of moved) {
      assert.equal(BigInt(after.get(c)!.token), BigInt(before.get(c)!.token) + 1n, `${c}: a new term`);
      const old = oldFences.get(c)!;
      const [row] = await stateQuery<{ holds: boolean }>(db.url, `SELECT ${fenceHolds('$1', '$2')} AS holds`, [
        old.cluster,
        old.token,
      ]);
      assert.equal(row!.holds, false, `${c}: a write under the old leader's fence is refused`);
      assert.equal(a.leadership.leads(c), false);
    }
    // It stays put: nothing flaps once shared.
    await sleep(LEASE * 3000);
    assert.deepEqual(await leases(), after);
  });

  test('a replica told to watch fewer clusters (a reloaded file) gives the rest to the other', async () => {
    const a = running[0]!;
    (a as unknown as { watch(only: string[]): void }).watch(CLUSTERS.slice(0, 4));
    await until('b to lead the other 8 and a its share of the 4', async () => {
      const now = await leases();
      const c = countBy(now);
      const rest = CLUSTERS.slice(4).every((cl) => now.get(cl)?.holder === 'replica-b');
      return now.size === 12 && rest && c['replica-a']! >= 1 ? true : undefined;
    });
    const [row] = await stateQuery<{ clusters: string[] }>(
      db.url,
      `SELECT clusters FROM pgsessions.watch_replicas WHERE holder = 'replica-a'`,
    );
    assert.deepEqual(row!.clusters, CLUSTERS.slice(0, 4), 'its heartbeat names only what it watches');
    (a as unknown as { watch(only: string[]): void }).watch(CLUSTERS);
    await until('6 and 6 again', async () => {
      const c = countBy(await leases());
      return c['replica-a'] === 6 && c['replica-b'] === 6 ? true : undefined;
    });
  });

  // The forged row and, in the same transaction, every real lease lapsed (what a renewal late by more than a lease
  // does, and what the runtime password can do too): the real replicas re-take their leases under a new term at
  // the very heartbeat that shows them the intruder. Such a re-take once counted as "taken as an orphan", so the
  // intruder's share was kept for good instead of given up (seen when a loaded machine made renewals late).
  test('a forged heartbeat claiming every cluster (runtime password) leaves no cluster unwatched', async () => {
    const before = await leases();
    assert.equal(before.size, 12);
    const views = [
      { holder: 'replica-a', clusters: CLUSTERS },
      { holder: 'replica-b', clusters: CLUSTERS },
      { holder: 'intruder', clusters: [...CLUSTERS, 'not-a-cluster'] },
    ];
    const theirs = [...assignShares(views)]
      .filter(([c, h]) => h === 'intruder' && CLUSTERS.includes(c))
      .map(([c]) => c);
    assert.ok(theirs.length > 0, 'the intruder has a share of the real clusters');
    // The attacker writes as the runtime role, through the pooler, what the role may write.
    const attacker = new pg.Client({ connectionString: urlOf(2) });
    await attacker.connect();
    try {
      await attacker.query('BEGIN');
      await attacker.query(
        `INSERT INTO pgsessions.watch_replicas (holder, clusters, expires_at)
         VALUES ('intruder', $1, now() + interval '1 day')`,
        [[...CLUSTERS, 'not-a-cluster']],
      );
      await attacker.query(`UPDATE pgsessions.watch_leases SET expires_at = now() WHERE expires_at > now()`);
      await attacker.query('COMMIT');
    } finally {
      await attacker.end();
    }
    // The real replicas re-take their leases (a new term), give the intruder its share (it never takes it), and
    // once those clusters are orphans (expired for two leases) take them back: a third term for each of them.
    const led = await until('the intruder’s share given up, then led by a real replica again', async () => {
      const now = await leases();
      const real = now.size === 12 && [...now.values()].every((l) => l.holder.startsWith('replica-'));
      const retaken = theirs.every((c) => BigInt(now.get(c)?.token ?? 0) >= BigInt(before.get(c)!.token) + 2n);
      return real && retaken ? now : undefined;
    });
    // And keep them: an orphan is not handed back to a leader that does not lead (no flapping, no new terms).
    await sleep(LEASE * 4000);
    assert.deepEqual(await leases(), led);
  });
});
