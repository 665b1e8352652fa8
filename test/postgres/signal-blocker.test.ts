// The "can the bot's role ever signal it?" classification, run on the real server with real roles: it must
// agree with what pg_signal_backend() decides, and its version-dependent part must only name roles the
// server has.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { features, signalBlockerQuery, signalQuery } from '../../src/postgres/session-sql.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { sessionTracker } from '../helpers/approval-flow.js';
import { sleepSession } from '../helpers/sessions.js';

let db: TestDatabase;
let signaller: TestRole; // pg_monitor + pg_signal_backend
let watcher: TestRole; // pg_monitor only
let plain: TestRole;
let version: number;
const sessions = sessionTracker();

async function as<T>(role: TestRole | null, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: role ? role.url(db.url) : db.url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

const blockerOf = (role: TestRole | null, pid: number) =>
  as(role, async (c) => {
    const q = signalBlockerQuery(version, pid);
    return (await c.query<{ signal_blocker: string | null }>(q.text, q.values)).rows[0]?.signal_blocker ?? null;
  });

before(async () => {
  db = await createTestDatabase('blk');
  signaller = await createRole({ prefix: 'blksig', memberOf: ['pg_monitor', 'pg_signal_backend'] });
  watcher = await createRole({ prefix: 'blkmon', memberOf: ['pg_monitor'] });
  plain = await createRole({ prefix: 'blkapp' });
  version = await as(null, async (c) => Number((await c.query('SHOW server_version_num')).rows[0].server_version_num));
});
afterEach(() => sessions.endAll());
after(async () => {
  await db?.drop();
  for (const r of [signaller, watcher, plain]) await r?.drop();
});

test('a superuser’s session, a background process and another role’s session are classified as the server would decide', async () => {
  const su = sessions.track(await sleepSession(db.url, { seconds: 60, application: 'blk-su' }));
  const other = sessions.track(await sleepSession(plain.url(db.url), { seconds: 60, application: 'blk-other' }));
  const own = sessions.track(await sleepSession(watcher.url(db.url), { seconds: 60, application: 'blk-own' }));
  const background = await as(null, async (c) =>
    Number((await c.query(`SELECT pid FROM pg_stat_activity WHERE backend_type = 'checkpointer'`)).rows[0].pid),
  );

  assert.equal(await blockerOf(signaller, su.pid), 'superuser');
  assert.equal(await blockerOf(signaller, background), 'no_role');
  assert.equal(await blockerOf(signaller, other.pid), null, 'pg_signal_backend covers ordinary roles');
  assert.equal(await blockerOf(watcher, other.pid), 'other_role', 'without pg_signal_backend');
  assert.equal(await blockerOf(watcher, own.pid), null, 'its own role’s sessions it may always signal');
  assert.equal(await blockerOf(null, su.pid), null, 'a superuser bot may signal anything');

  // And the server agrees: the one classified as signallable is, the superuser's is refused with 42501.
  const guard = { protectedRoles: [], protectedApps: [], terminateTimeoutMs: 1000 };
  await as(signaller, async (c) => {
    const refused = signalQuery(
      version,
      'cancel',
      { pid: su.pid, backendStart: su.backendStart, queryStart: su.queryStart, backendType: 'client backend' },
      guard,
    );
    await assert.rejects(c.query(refused.text, refused.values), (e: { code?: string }) => e.code === '42501');
    const allowed = signalQuery(
      version,
      'cancel',
      { pid: other.pid, backendStart: other.backendStart, queryStart: other.queryStart, backendType: 'client backend' },
      guard,
    );
    assert.equal((await c.query(allowed.text, allowed.values)).rows[0]?.signalled, true);
  });
});

test('pg_signal_autovacuum_worker is asked about only where the server has it (18+)', async () => {
  assert.equal(signalBlockerQuery(170_000, 1).text.includes('pg_signal_autovacuum_worker'), false);
  assert.equal(signalBlockerQuery(180_000, 1).text.includes('pg_signal_autovacuum_worker'), true);
  // The query for this server's version runs as a plain role without error.
  assert.equal(await blockerOf(signaller, 2_147_483_647), null, 'no such pid: no row, no error');
  assert.equal(features(version).signalAutovacuumRole, version >= 180_000);
});
