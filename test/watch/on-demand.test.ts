// The same explanations on demand: `/pgsessions` leads with what blocks others and says connection use;
// `/pgsessions blocking` marks the lock-queue head and folds waiters that run the same statement.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { blockedQuery, idleInTransactionLockHolder, longRead, sleepSession } from '../helpers/sessions.js';
import { sessionTracker, sleep, stateQuery } from '../helpers/approval-flow.js';
import { allText, ask, pidsOf } from '../helpers/replies.js';
import { buttonsIn } from '../helpers/approval-flow.js';
import { ACTION, decodeTarget } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const sessions = sessionTracker();
const track = sessions.track;
const { db, slack, app } = useTestApp({
  database: 'ondemand',
  async prepare(database) {
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
  },
  sessions,
});

test('the default listing puts a young lock holder that blocks others above an older pg_sleep, with connection use in the header', async () => {
  const old = track(await sleepSession(db.url, { seconds: 120, application: 'old-sleeper' }));
  await sleep(1_100);
  const holder = track(await idleInTransactionLockHolder(db.url, 'orders', { application: 'young-holder' }));
  track(await blockedQuery(db.url, 'orders'));
  track(await blockedQuery(db.url, 'orders'));
  const { reply } = await ask(app, slack, '');
  const pids = pidsOf(reply);
  assert.ok(
    pids.indexOf(holder.pid) >= 0 && pids.indexOf(holder.pid) < pids.indexOf(old.pid),
    `holder first: ${pids.join(',')}`,
  );
  assert.equal(pids[0], holder.pid);
  assert.match(allText(reply), /Connections \d+ of \d+: \d+ idle, \d+ active, \d+ idle in transaction/);
});

test('`blocking` marks the waiting DDL as the lock-queue head, offers its cancel, and folds the readers behind it', async () => {
  const read = track(await longRead(db.url, 'orders', { seconds: 120 }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: 'ALTER TABLE orders ADD COLUMN later int',
      application: 'rails-migrate',
    }),
  );
  for (let n = 0; n < 4; n++) track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  const { reply } = await ask(app, slack, 'blocking');
  const text = allText(reply);
  assert.match(text, new RegExp(`pid ${read.pid}`));
  assert.match(text, /lock-queue head\*: waits for AccessExclusiveLock and 4 sessions wait behind it/);
  assert.match(text, /\*4 sessions\* \(app puma\), the oldest for \d+s: `SELECT count\(\*\) FROM "orders"`/);
  const cancel = buttonsIn(reply.blocks).find(
    (b) => b.action_id === ACTION.cancel && decodeTarget(b.value)?.pid === ddl.pid,
  );
  assert.ok(cancel, 'Cancel is offered on the lock-queue head');
  assert.ok(
    !buttonsIn(reply.blocks).some((b) => b.action_id === ACTION.terminate && decodeTarget(b.value)?.pid === ddl.pid),
    'no Terminate on a waiter',
  );
});
