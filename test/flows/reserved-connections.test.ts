// PostgreSQL 16+: whether the bot's role gets in when the cluster is full — a member of
// pg_use_reserved_connections, with reserved_connections above 0 — said at start-up and by `/pgsessions status`;
// nothing about it before 16. A separate embedded server with reserved_connections = 2, roles with and without
// the grant, and the suite's own server (reserved_connections = 0).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase } from '../helpers/pg.js';
import { startEmbeddedPostgres, type EmbeddedServer } from '../helpers/embedded.js';
import { baseEnv, REQUESTER, startTestApp } from '../helpers/app.js';
import { as, command, fresh, textOf } from '../helpers/approval-flow.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { describeRole } from '../../src/domain/capabilities.js';
import { describeCapabilities } from '../../src/slack/blocks/help.js';
import type { RoleCapabilities } from '../../src/domain/types.js';
import { useTestApp } from '../helpers/use-test-app.js';

// The state database and the stand-in; each test starts its own app.
const { db: state, slack } = useTestApp({ database: 'reserved', app: false });
let reserved: EmbeddedServer;
const roles: TestRole[] = [];

/** A LOGIN role on the separate server with the README's grants, plus pg_use_reserved_connections when asked. */
async function roleOn(server: EmbeddedServer, useReserved: boolean): Promise<string> {
  const name = `rsv_${randomBytes(4).toString('hex')}`;
  const password = `pw-${randomBytes(6).toString('hex')}`;
  const c = new pg.Client({ connectionString: server.url });
  await c.connect();
  try {
    const grants = ['pg_monitor', 'pg_signal_backend', ...(useReserved ? ['pg_use_reserved_connections'] : [])];
    await c.query(`CREATE ROLE ${name} LOGIN PASSWORD '${password}' IN ROLE ${grants.join(', ')}`);
  } finally {
    await c.end();
  }
  const u = new URL(server.url);
  u.username = name;
  u.password = password;
  return u.toString();
}

/** Starts the app on `clusterUrl` (state in the suite's database), returns its start-up log messages and `status`. */
async function startupAndStatus(clusterUrl: string): Promise<{ said: string[]; status: string }> {
  const app = await startTestApp(baseEnv(clusterUrl, slack, { STATE_DATABASE_URL: state.url }));
  try {
    const said = app.logs.flatMap((line) => {
      try {
        return [String((JSON.parse(line) as { msg?: unknown }).msg)];
      } catch {
        return [];
      }
    });
    const status = textOf((await command(slack, app.port, 'status', as(REQUESTER, fresh('C')))).body);
    return { said, status };
  } finally {
    await app.stop();
  }
}

before(async () => {
  reserved = await startEmbeddedPostgres({
    maxConnections: 20,
    settings: { reserved_connections: '2' },
    reuseInitdb: true,
  });
});
// After the fixture's teardown.
after(async () => {
  await reserved?.stop();
  for (const r of roles) await r.drop();
});

test('a member of pg_use_reserved_connections on a server with reserved_connections = 2: start-up and status say it gets in when full', async () => {
  const { said, status } = await startupAndStatus(await roleOn(reserved, true));
  assert.ok(
    said.some((m) =>
      /the bot role can use the 2 connections kept for pg_use_reserved_connections when the cluster is full/.test(m),
    ),
    said.join(' | '),
  );
  assert.match(status, /:white_check_mark: Can use the 2 connections kept for `pg_use_reserved_connections`/);
});

test('without the grant: start-up and status say it cannot use the reserved connections', async () => {
  const { said, status } = await startupAndStatus(await roleOn(reserved, false));
  assert.ok(
    said.some((m) =>
      /the bot role cannot use the connections kept by reserved_connections when the cluster is full: not a member of pg_use_reserved_connections \(reserved_connections = 2\)/.test(
        m,
      ),
    ),
    said.join(' | '),
  );
  assert.match(
    status,
    /:information_source: Cannot use the connections kept by reserved_connections when the cluster is full: not a member of `pg_use_reserved_connections`/,
  );
});

test('a member on a server keeping none (reserved_connections = 0, the suite’s PG 18): said so', async () => {
  const bot = await createRole({
    prefix: 'rsvbot',
    memberOf: ['pg_monitor', 'pg_signal_backend', 'pg_use_reserved_connections'],
  });
  roles.push(bot);
  const db = await createTestDatabase('reserved_zero');
  try {
    const { said, status } = await startupAndStatus(bot.url(db.url));
    assert.ok(
      said.some((m) =>
        /cannot get a connection when the cluster is full: it is a member of pg_use_reserved_connections, but reserved_connections = 0 keeps none/.test(
          m,
        ),
      ),
      said.join(' | '),
    );
    assert.match(status, /:information_source: Cannot get a connection when the cluster is full/);
  } finally {
    await db.drop();
  }
});

test('before PostgreSQL 16 nothing is said about reserved connections; a superuser has its own', () => {
  const base: RoleCapabilities = {
    role: 'bot',
    superuser: false,
    readAllStats: true,
    signalBackend: true,
    reservedConnections: null,
    serverVersion: '15.8',
    serverVersionNum: 150008,
  };
  const words = [...describeRole(base).can, ...describeRole(base).cannot, ...describeCapabilities(base)].join('\n');
  assert.doesNotMatch(words, /reserved/);
  const root = { ...base, superuser: true, reservedConnections: { member: true, reserved: 2 } };
  assert.doesNotMatch([...describeRole(root).can, ...describeCapabilities(root)].join('\n'), /reserved/);
});
