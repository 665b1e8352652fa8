// The role helper itself: the role it makes can log in with exactly the grants asked for, and drop() removes it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { serverUrl } from './pg.js';
import { createRole } from './roles.js';

async function one<T>(url: string, sql: string, params: unknown[] = []): Promise<T | undefined> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(sql, params)).rows[0] as T | undefined;
  } finally {
    await c.end();
  }
}

test('createRole makes a login role with exactly the memberships asked for, and drop() removes it', async () => {
  const role = await createRole({ prefix: 'helper', memberOf: ['pg_monitor'] });
  try {
    const me = await one<{ user: string; sup: boolean; monitor: boolean; signal: boolean }>(
      role.url(serverUrl()),
      `SELECT current_user AS user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS sup,
              pg_has_role('pg_monitor', 'USAGE') AS monitor, pg_has_role('pg_signal_backend', 'USAGE') AS signal`,
    );
    assert.deepEqual(me, { user: role.name, sup: false, monitor: true, signal: false });
  } finally {
    await role.drop();
  }
  assert.equal(await one(serverUrl(), 'SELECT 1 FROM pg_roles WHERE rolname = $1', [role.name]), undefined);
});

test('an exact name replaces a role a previous run left behind', async () => {
  const first = await createRole({ name: 'helper_exact_name' });
  const second = await createRole({ name: 'helper_exact_name' });
  try {
    assert.equal(second.name, first.name);
    const me = await one<{ user: string }>(second.url(serverUrl()), 'SELECT current_user AS user');
    assert.equal(me?.user, 'helper_exact_name', 'the new password works');
  } finally {
    await second.drop();
  }
});
