// What a channel is told when a cluster cannot be read for a rule's preview: the kind of failure and its
// code, never the driver's message, which names hosts, ports and sometimes users.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { ClusterBusyError, describeReadFailure } from '../../src/postgres/pools.js';

test('a refused connection says so with its code, and nothing of the address', async () => {
  // A port nothing listens on: the real error of the real driver.
  const client = new pg.Client({ host: '127.0.0.1', port: 1, user: 'secret_user', connectionTimeoutMillis: 2_000 });
  const error = await client.connect().then(
    () => null,
    (e: unknown) => e,
  );
  assert.ok(error, 'the connection failed');
  assert.match(String((error as Error).message), /127\.0\.0\.1/, 'the driver names the address');
  const said = describeReadFailure(error);
  assert.equal(said, 'the cluster could not be reached (ECONNREFUSED)');
});

test('a statement timeout, a busy pool and any other failure each get their sentence, never the message', () => {
  assert.equal(
    describeReadFailure(
      Object.assign(new Error('canceling statement due to statement timeout on db.internal:5432'), { code: '57014' }),
    ),
    'the read ran over its statement timeout (57014)',
  );
  assert.equal(describeReadFailure(new ClusterBusyError(1)), 'the cluster is too busy to answer now');
  const odd = describeReadFailure(
    Object.assign(new Error('permission denied for host db.internal:5432 user bob'), { code: '42501' }),
  );
  assert.equal(odd, 'the read failed (42501)');
  // A code that is not a plain SQLSTATE or errno word is left out rather than echoed.
  assert.equal(describeReadFailure(Object.assign(new Error('x'), { code: 'db.internal:5432' })), 'the read failed');
});
