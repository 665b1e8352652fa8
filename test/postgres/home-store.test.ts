// The Home's reads of the state database, as the runtime role (production: an owner migrates, the app runs as
// the runtime role): the change marker and the open incidents are readable with the runtime grants, and the
// marker moves with an audit entry and with an incident opened or cleared, and stays put while nothing changes.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { createHomeStore } from '../../src/postgres/home-store.js';
import { createTestDatabase, withRole, type TestDatabase } from '../helpers/pg.js';
import { asSuperuser } from '../helpers/roles.js';
import { createStateStore } from '../../src/postgres/state-store.js';

const suffix = randomBytes(4).toString('hex');
const OWNER = `pgs_hsowner_${suffix}`;
const RUNTIME = `pgs_hsruntime_${suffix}`;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

let db: TestDatabase;
let runtime: pg.Pool;

before(async () => {
  db = await createTestDatabase('homestore');
  await asSuperuser(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await asSuperuser(`CREATE ROLE ${RUNTIME} LOGIN PASSWORD '${PASSWORD}'`);
  await asSuperuser(`GRANT CREATE ON DATABASE ${db.name} TO ${OWNER}`);
  const owner = new pg.Pool({ connectionString: withRole(db.url, OWNER, PASSWORD), max: 1 });
  try {
    await migrate(owner);
    const client = await owner.connect();
    try {
      assert.ok((await grantRuntimeRole(client, RUNTIME)).ok);
    } finally {
      client.release();
    }
  } finally {
    await owner.end();
  }
  runtime = new pg.Pool({ connectionString: withRole(db.url, RUNTIME, PASSWORD), max: 1 });
});

after(async () => {
  await runtime?.end();
  await db?.drop();
  for (const role of [OWNER, RUNTIME]) await asSuperuser(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
});

test('the runtime role reads the marker and the open incidents; the marker moves with audit entries and incidents', async () => {
  const store = createHomeStore(runtime);
  const first = await store.marker();
  assert.equal(await store.marker(), first, 'nothing changed: the same marker');

  await runtime.query(
    "INSERT INTO pgsessions.incidents (key, cluster, cause, incident, channel) VALUES ('a|active|1', 'a', 'active', $1::jsonb, 'CW')",
    [JSON.stringify({ root: { pid: 7, user: 'u', database: 'd', application: 'app' } })],
  );
  const opened = await store.marker();
  assert.notEqual(opened, first, 'an incident opened moves it');
  const incidents = await store.incidents();
  assert.deepEqual(
    incidents.map((i) => [i.cluster, i.cause, i.root?.pid, i.root?.application]),
    [['a', 'active', 7, 'app']],
  );

  await runtime.query(
    "UPDATE pgsessions.incidents SET status = 'cleared', cleared_at = now() WHERE key = 'a|active|1'",
  );
  const cleared = await store.marker();
  assert.notEqual(cleared, opened, 'an incident cleared moves it');
  assert.deepEqual(await store.incidents(), []);

  await createStateStore(runtime, { key: null }).appendAudit({
    requestId: null,
    event: 'refused',
    actor: 'UX',
    cluster: 'a',
    details: { why: 'read_only' },
  });
  assert.notEqual(await store.marker(), cleared, 'an audit entry moves it');
});
