// A drain survives the app: pgsessions runs as its own process, drains a database, and is killed with SIGKILL
// during the window. Nothing gives the database back while no app runs; the next instance, started after the
// window, restores it at once — a crash never leaves a database closed.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { childApps } from '../helpers/child-app.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { APPROVER, assertNoSecrets, baseEnv, REQUESTER, secretsOf } from '../helpers/app.js';
import { as, auditOf, click, fresh, sleep, stateQuery, typedRequest, waitForStatus } from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

let db: TestDatabase;
let target: TestDatabase;
let slack: SlackApi;
const childEnv = (port: number) => ({ ...baseEnv(db.url, slack), PORT: String(port) });
const children = childApps(childEnv, 60_000);

async function settings(database: string): Promise<{ allow: boolean; limit: number }> {
  return (
    await stateQuery<{ allow: boolean; limit: number }>(
      serverUrl(),
      'SELECT datallowconn AS allow, datconnlimit AS limit FROM pg_database WHERE datname = $1',
      [database],
    )
  )[0]!;
}

before(async () => {
  db = await createTestDatabase('draincr');
  target = await createTestDatabase('draincrt');
  slack = await startSlackApi();
});
afterEach(async () => {
  await children.kill();
});
after(async () => {
  await children.kill();
  await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS true`).catch(() => undefined);
  await slack?.close();
  await target?.drop();
  await db?.drop();
  assertNoSecrets(children.logs, secretsOf(baseEnv(db.url, slack)));
});

test('SIGKILL during the window, restart after it: the database is given back exactly as before', async () => {
  await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH CONNECTION LIMIT 12`);
  const before = await settings(target.name);
  const channel = fresh('C');
  const first = await children.start();
  const asked = await typedRequest(slack, first.port, `drain db:${target.name} for:4s restore`, as(REQUESTER, channel));
  await click(slack, first.port, ACTION.approve, asked.id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', JSON.stringify(row.result));
  assert.equal((await settings(target.name)).allow, false);
  await children.kill();
  // Past the window with no app running: nobody has given it back yet.
  await sleep(5_000);
  assert.equal((await settings(target.name)).allow, false, 'no app, no restore');
  await children.start();
  const deadline = Date.now() + 15_000;
  while (!(await settings(target.name)).allow && Date.now() < deadline) await sleep(100);
  assert.deepEqual(await settings(target.name), before, 'restored by the next instance, exactly as before');
  const ended = (await auditOf(db.url, asked.id)).filter((a) => a.event === 'drain_ended');
  assert.equal(ended.length, 1);
  assert.equal(ended[0]!.details.why, 'expired');
});
