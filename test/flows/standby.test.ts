// A watched cluster that is a real streaming standby (test/helpers/standby.ts): its startup process (WAL
// replay) and its walreceiver are never killable. A workspace member typing `/pgsessions terminate PID` or
// `cancel PID` of either gets one clear sentence; nothing is requested, nothing is signalled, replication
// goes on; the listing offers no button on them.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startStandby, type Standby } from '../helpers/standby.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { approvalPosts, as, buttonsIn, command, fresh, stateQuery } from '../helpers/approval-flow.js';
import { waitUntil } from '../helpers/rules.js';
import { decodeTarget } from '../../src/slack/ids.js';

let standby: Standby;
let stateDb: TestDatabase;
let slack: SlackApi;
let app: TestApp;

before(async () => {
  standby = await startStandby();
  stateDb = await createTestDatabase('sbstate');
  slack = await startSlackApi();
  app = await startTestApp(baseEnv(standby.url, slack, { STATE_DATABASE_URL: stateDb.url }));
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await stateDb?.drop();
  await standby?.stop();
});

type Process = { pid: number; backend_type: string; backend_start: string };
const replicationProcesses = () =>
  stateQuery<Process>(standby.url, `SELECT pid, backend_type, backend_start::text FROM pg_stat_activity WHERE backend_type IN ('startup', 'walreceiver') ORDER BY backend_type`);

test('the standby’s startup process and walreceiver: a typed terminate or cancel is refused in one sentence, nothing is requested, replication goes on', async () => {
  const processes = await waitUntil('the startup process and the walreceiver', async () => {
    const rows = await replicationProcesses();
    return rows.length === 2 ? rows : undefined;
  });
  const channel = fresh('C');
  for (const p of processes) {
    for (const verb of ['terminate', 'cancel']) {
      const { text } = await command(slack, app.port, `${verb} ${p.pid} free up the replica`, as(REQUESTER, channel));
      assert.match(text, /WAL replay \(startup process\) or its WAL receiver: the standby depends on it, so pgsessions never signals it/, `${verb} ${p.backend_type}`);
    }
  }
  assert.equal(approvalPosts(slack, channel).length, 0, 'no approval request posted');
  assert.deepEqual(await stateQuery(stateDb.url, 'SELECT id FROM pgsessions.requests'), [], 'nothing requested');
  assert.deepEqual(await replicationProcesses(), processes, 'the same processes, still replaying and receiving');
  assert.deepEqual((await stateQuery<{ r: boolean }>(standby.url, 'SELECT pg_is_in_recovery() AS r'))[0], { r: true });

  const listing = await command(slack, app.port, '', as(REQUESTER, channel));
  const targeted = buttonsIn(listing.body.blocks).map((b) => decodeTarget(b.value)?.pid);
  for (const p of processes) assert.ok(!targeted.includes(p.pid), `no button on the ${p.backend_type}`);
});
