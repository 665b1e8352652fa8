// A maintenance drain against someone who holds the state database's runtime password (docs/drain.md,
// docs/SECURITY-binding.md): production set-up (owner migrates, runtime role runs the app, PGSESSIONS_AUDIT_KEY
// set). They cannot make pgsessions drain a database, nor restore one to values of their choosing, nor change
// what a real drain recorded; each forgery changes nothing on the cluster and is audited as tampering_detected.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp } from '../helpers/app.js';
import { as, click, fresh, sleep, stateQuery, typedRequest, waitForStatus } from '../helpers/approval-flow.js';
import { createTestDatabase, serverUrl, type TestDatabase, withRole } from '../helpers/pg.js';
import { asSuperuser } from '../helpers/roles.js';
import { useTestApp } from '../helpers/use-test-app.js';

const KEY = randomBytes(32).toString('base64');
const suffix = randomBytes(4).toString('hex');
const OWNER = `pgs_downer_${suffix}`;
const RUNTIME = `pgs_druntime_${suffix}`;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

let target: TestDatabase;
let runtimeUrl: string;

// The app runs on the runtime role over a state database the owner migrated (in prepare).
const { db, slack, app } = useTestApp({
  database: 'drainbind',
  async prepare(database) {
    await asSuperuser(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
    await asSuperuser(`CREATE ROLE ${RUNTIME} LOGIN PASSWORD '${PASSWORD}'`);
    target = await createTestDatabase('drainbt');
    await asSuperuser(`GRANT CREATE ON DATABASE ${database.name} TO ${OWNER}`);
    runtimeUrl = withRole(database.url, RUNTIME, PASSWORD);
    const owner = new pg.Pool({ connectionString: withRole(database.url, OWNER, PASSWORD), max: 1 });
    try {
      await migrate(owner);
      const client = await owner.connect();
      try {
        const granted = await grantRuntimeRole(client, RUNTIME);
        assert.ok(granted.ok, JSON.stringify(granted));
      } finally {
        client.release();
      }
    } finally {
      await owner.end();
    }
  },
  env: () => ({ STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_AUDIT_KEY: KEY }),
  start: { terminateTimeoutMs: 3_000 },
});
// After the fixture has dropped the database the owner's objects live in.
after(async () => {
  await target?.drop();
  await asSuperuser(`DROP ROLE IF EXISTS ${RUNTIME}`);
  await asSuperuser(`DROP ROLE IF EXISTS ${OWNER}`);
});

/** The attacker's statements, on a connection of their own as the runtime role; the error code, or null. */
async function asRuntime(sql: string, params: unknown[] = []): Promise<string | null> {
  const c = new pg.Client({ connectionString: runtimeUrl });
  await c.connect();
  try {
    await c.query(sql, params);
    return null;
  } catch (error) {
    return String((error as { code?: string }).code);
  } finally {
    await c.end();
  }
}

async function settings(database: string): Promise<{ allow: boolean; limit: number }> {
  return (
    await stateQuery<{ allow: boolean; limit: number }>(
      serverUrl(),
      'SELECT datallowconn AS allow, datconnlimit AS limit FROM pg_database WHERE datname = $1',
      [database],
    )
  )[0]!;
}

/** A drain request the runtime role writes itself and marks approved and executing, as if a person had. */
async function forgedExecutingRequest(): Promise<string> {
  const c = new pg.Client({ connectionString: runtimeUrl });
  await c.connect();
  try {
    const { rows } = await c.query<{ id: string }>(
      `INSERT INTO pgsessions.requests (cluster, action, targets, reason, requester, channel, expires_at, escalate_after_seconds, scope)
       VALUES ('default', 'drain', '[]', 'forged', $1, 'CFORGED', now() + interval '10 minutes', 3600, $2) RETURNING id::text`,
      [REQUESTER, JSON.stringify({ database: target.name })],
    );
    const id = rows[0]!.id;
    await c.query(
      `UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now(), executing_at = now() WHERE id = $1`,
      [id, APPROVER],
    );
    return id;
  } finally {
    await c.end();
  }
}

test('a drain the runtime role forges never restores a database: the DBA’s closed database stays closed, tampering audited', async () => {
  // The DBA closed the database by hand; the attacker wants pgsessions to open it ("restore" it).
  await asSuperuser(`ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS false`);
  try {
    const requestId = await forgedExecutingRequest();
    const inserted = await asRuntime(
      `INSERT INTO pgsessions.drains (request_id, cluster, database, method, prev_allow_connections, prev_connection_limit,
         ends_at, requester, approver, channel, binding)
       VALUES ($1, 'default', $2, 'allow_connections', true, -1, now() + interval '1 second', $3, $4, 'CFORGED', 'sha256:forged')`,
      [requestId, target.name, REQUESTER, APPROVER],
    );
    assert.equal(
      inserted,
      null,
      'the fence lets a row for an executing drain request in: the binding is what stops it',
    );
    const drain = await stateQuery<{ id: string; state: string }>(
      db.url,
      'SELECT id::text, state FROM pgsessions.drains WHERE request_id = $1',
      [requestId],
    );
    // The sweeper (every 200 ms) finds it due, checks its binding, and changes nothing.
    const deadline = Date.now() + 10_000;
    let state = drain[0]!.state;
    while (state !== 'refused' && Date.now() < deadline) {
      await sleep(100);
      state = (
        await stateQuery<{ state: string }>(db.url, 'SELECT state FROM pgsessions.drains WHERE request_id = $1', [
          requestId,
        ])
      )[0]!.state;
    }
    assert.equal(state, 'refused');
    assert.deepEqual(await settings(target.name), { allow: false, limit: -1 }, 'the database was not opened');
    const tampering = await stateQuery<{ details: { subject: string; stage: string } }>(
      db.url,
      "SELECT details FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1",
      [drain[0]!.id],
    );
    assert.equal(tampering.length, 1);
    assert.equal(tampering[0]!.details.stage, 'drain_end');
  } finally {
    await asSuperuser(`ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS true`);
  }
});

test('a forged approval of a drain request drains nothing', async () => {
  const channel = fresh('C');
  const asked = await typedRequest(slack, app.port, `drain db:${target.name} for:10m upgrade`, as(REQUESTER, channel));
  // The attacker approves it in the database, as if the approver had, and a click then executes nothing forged:
  // the approval is refused because the row no longer matches its seal.
  assert.equal(
    await asRuntime(`UPDATE pgsessions.requests SET escalate_after_seconds = 86400 WHERE id = $1`, [asked.id]),
    '42501',
    'the window cannot be rewritten',
  );
  assert.equal(
    await asRuntime(`UPDATE pgsessions.requests SET targets = '[]', scope = '{"database":"postgres"}' WHERE id = $1`, [
      asked.id,
    ]),
    '42501',
    'nor what is drained',
  );
  assert.equal(
    await asRuntime(
      `UPDATE pgsessions.requests SET status = 'approved', decided_by = $2, decided_at = now() WHERE id = $1`,
      [asked.id, APPROVER],
    ),
    null,
  );
  // The approved row's binding is the seal, not an approval: the executor refuses it if anyone clicks now.
  await click(slack, app.port, ACTION.approve, asked.id, as(APPROVER, channel));
  await sleep(1_000);
  assert.deepEqual(await settings(target.name), { allow: true, limit: -1 }, 'nothing was drained');
  const drains = await stateQuery(db.url, 'SELECT 1 FROM pgsessions.drains WHERE request_id = $1', [asked.id]);
  assert.equal(drains.length, 0);
});

test('what a real drain recorded cannot be changed, an ended drain stays ended, and no row is deleted', async () => {
  const channel = fresh('C');
  const asked = await typedRequest(slack, app.port, `drain db:${target.name} for:10m upgrade`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.approve, asked.id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  const id = (
    await stateQuery<{ id: string }>(db.url, 'SELECT id::text FROM pgsessions.drains WHERE request_id = $1', [asked.id])
  )[0]!.id;
  for (const column of [
    'prev_allow_connections = false',
    'prev_connection_limit = 0',
    "ends_at = now() + interval '6 days'",
    "database = 'postgres'",
    'binding = binding',
  ]) {
    assert.equal(await asRuntime(`UPDATE pgsessions.drains SET ${column} WHERE id = $1`, [id]), '42501', column);
  }
  assert.equal(await asRuntime('DELETE FROM pgsessions.drains WHERE id = $1', [id]), '42501');
  // Ending it without restoring (so it stays closed for ever) is a transition the fence refuses.
  assert.equal(await asRuntime(`UPDATE pgsessions.drains SET state = 'ended' WHERE id = $1`, [id]), '42501');
  const undrain = await click(slack, app.port, ACTION.drainEnd, id, as(REQUESTER, channel));
  assert.match(await undrain.reply(), /allowed again/);
  assert.deepEqual(await settings(target.name), { allow: true, limit: -1 });
  assert.equal(await asRuntime(`UPDATE pgsessions.drains SET state = 'ending' WHERE id = $1`, [id]), '42501');
  // A drain row for a request that is not being executed is refused outright.
  assert.equal(
    await asRuntime(
      `INSERT INTO pgsessions.drains (request_id, cluster, database, method, prev_allow_connections, prev_connection_limit,
         ends_at, requester, approver, channel, binding)
       VALUES ($1, 'default', $2, 'allow_connections', true, -1, now() + interval '1 minute', $3, $4, 'C', 'x')`,
      [asked.id, target.name, REQUESTER, APPROVER],
    ),
    '42501',
  );
});

test('a drain the runtime role marks ended by hand is still given back exactly as recorded, and audited', async () => {
  // A recorded limit that is not the default, so "exactly as recorded" is what is checked.
  await asSuperuser(`ALTER DATABASE ${target.name} WITH CONNECTION LIMIT 7`);
  try {
    const channel = fresh('C');
    const asked = await typedRequest(slack, app.port, `drain db:${target.name} for:4s upgrade`, as(REQUESTER, channel));
    await click(slack, app.port, ACTION.approve, asked.id, as(APPROVER, channel));
    const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
    assert.equal(row.status, 'executed', JSON.stringify(row.result));
    const id = (
      await stateQuery<{ id: string }>(db.url, 'SELECT id::text FROM pgsessions.drains WHERE request_id = $1', [
        asked.id,
      ])
    )[0]!.id;
    assert.deepEqual(await settings(target.name), { allow: false, limit: 7 }, 'drained');
    // The attacker ends it without restoring, in the two steps the fence allows, forging a seal as they go.
    assert.equal(await asRuntime(`UPDATE pgsessions.drains SET state = 'ending' WHERE id = $1`, [id]), null);
    assert.equal(
      await asRuntime(
        `UPDATE pgsessions.drains SET state = 'ended', end_why = 'undrain', outcome = 'restored' WHERE id = $1`,
        [id],
      ),
      '42501',
      'an end without a seal is refused',
    );
    assert.equal(
      await asRuntime(
        `UPDATE pgsessions.drains SET state = 'ended', ended_at = now(), end_why = 'undrain', outcome = 'restored',
           end_binding = 'sha256:forged' WHERE id = $1`,
        [id],
      ),
      null,
    );
    // Once the window is over, the sweeper finds the end unsealed and gives the database back as recorded.
    const deadline = Date.now() + 15_000;
    let now = await settings(target.name);
    while ((now.allow !== true || now.limit !== 7) && Date.now() < deadline) {
      await sleep(200);
      now = await settings(target.name);
    }
    assert.deepEqual(now, { allow: true, limit: 7 }, 'the database is open again, with its recorded limit');
    await sleep(1_000); // a few more sweeps: the forged end is handled once, not at every sweep
    const audit = await stateQuery<{ event: string; details: { stage?: string; reason?: string; outcome?: string } }>(
      db.url,
      `SELECT event, details FROM pgsessions.audit_log
       WHERE (event = 'tampering_detected' AND details->>'id' = $1) OR (event = 'drain_ended' AND details->>'drain' = $1)
       ORDER BY seq`,
      [id],
    );
    assert.deepEqual(
      audit.map((a) => a.event),
      ['tampering_detected', 'drain_ended'],
    );
    assert.equal(audit[0]!.details.stage, 'drain_end');
    assert.match(audit[0]!.details.reason!, /marked ended without pgsessions’ key/);
    assert.match(audit[1]!.details.outcome!, /allowed again, ALLOW_CONNECTIONS true, CONNECTION LIMIT 7 as before/);
    const state = await stateQuery<{ state: string }>(db.url, 'SELECT state FROM pgsessions.drains WHERE id = $1', [
      id,
    ]);
    assert.equal(state[0]!.state, 'ended', 'the row stays as the attacker left it: an end is final');
    // The DBA now closes the database by hand, to exactly what the drain had set. A fresh replica (nothing in its
    // memory) finds the unsealed end again, and the recovery mark in the audit: it opens nothing.
    await asSuperuser(`ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS false`);
    const replica = await startTestApp(
      baseEnv(db.url, slack, { STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_AUDIT_KEY: KEY }),
      { terminateTimeoutMs: 3_000 },
    );
    try {
      await sleep(1_500); // several sweeps of both replicas
      assert.deepEqual(
        await settings(target.name),
        { allow: false, limit: 7 },
        'the DBA’s closed database stays closed',
      );
      const again = await stateQuery(
        db.url,
        `SELECT 1 FROM pgsessions.audit_log WHERE event IN ('tampering_detected', 'drain_ended')
         AND (details->>'id' = $1 OR details->>'drain' = $1)`,
        [id],
      );
      assert.equal(again.length, 2, 'given back and audited once');
    } finally {
      await replica.stop();
    }
  } finally {
    await asSuperuser(`ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1`);
  }
});
