// longRead (test/helpers/sessions.ts) proves itself against pg_locks: it holds AccessShareLock on its table
// while it runs, so a DDL queues behind it and later readers queue behind the DDL; end() ends it.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './pg.js';
import { activityRow, blockedQuery, longRead, sessionAlive } from './sessions.js';

let db: TestDatabase;

before(async () => {
  db = await createTestDatabase('hlong');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE t (id int)');
  await c.end();
});
after(() => db?.drop());

test('a long read holds its table so that a DDL queues behind it and a reader behind the DDL', async () => {
  const read = await longRead(db.url, 't', { seconds: 60, application: 'h-read' });
  const ddl = await blockedQuery(db.url, 't', { statement: 'ALTER TABLE t ADD COLUMN x int' });
  const reader = await blockedQuery(db.url, 't');
  try {
    assert.equal((await activityRow(db.url, read.pid))?.application_name, 'h-read');
    assert.ok(read.queryStart.length > 0);
    assert.deepEqual(ddl.blockedBy, [read.pid]);
    assert.deepEqual(reader.blockedBy, [ddl.pid], 'the reader waits on the queued DDL, not on the read');
  } finally {
    await reader.end();
    await ddl.end();
    await read.end();
  }
  assert.equal(await sessionAlive(db.url, read.pid, read.backendStart), false);
});
