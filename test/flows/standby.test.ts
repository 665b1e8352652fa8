// A watched cluster that is a real streaming standby (test/helpers/standby.ts): its startup process (WAL
// replay) and its walreceiver are never killable. A workspace member typing `/pgsessions terminate PID` or
// `cancel PID` of either gets one clear sentence; nothing is requested, nothing is signalled, replication
// goes on. The listing's header says the cluster is a standby and how far its replay is, and shows the two
// processes as rows of their own, without buttons.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { startStandby, type Standby } from '../helpers/standby.js';
import { baseEnv, REQUESTER, startTestApp } from '../helpers/app.js';
import { approvalPosts, as, buttonsIn, command, fresh, stateQuery } from '../helpers/approval-flow.js';
import { waitUntil } from '../helpers/rules.js';
import { decodeTarget } from '../../src/slack/blocks/ids.js';
import { sleepSession } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';

let standby: Standby;
const {
  db: stateDb,
  slack,
  app,
} = useTestApp({
  database: 'sbstate',
  async prepare() {
    standby = await startStandby();
  },
  env: (database) => ({ DATABASE_URL: standby.url, STATE_DATABASE_URL: database.url }),
});
after(async () => {
  await standby?.stop();
});

type Process = { pid: number; backend_type: string; backend_start: string };
const replicationProcesses = () =>
  stateQuery<Process>(
    standby.url,
    `SELECT pid, backend_type, backend_start::text FROM pg_stat_activity WHERE backend_type IN ('startup', 'walreceiver') ORDER BY backend_type`,
  );

test('the standby’s startup process and walreceiver: a typed terminate or cancel is refused in one sentence, nothing is requested, replication goes on', async () => {
  const processes = await waitUntil('the startup process and the walreceiver', async () => {
    const rows = await replicationProcesses();
    return rows.length === 2 ? rows : undefined;
  });
  const channel = fresh('C');
  for (const p of processes) {
    for (const verb of ['terminate', 'cancel']) {
      const { text } = await command(slack, app.port, `${verb} ${p.pid} free up the replica`, as(REQUESTER, channel));
      assert.match(
        text,
        /WAL replay \(startup process\) or its WAL receiver: the standby depends on it, so pgsessions never signals it/,
        `${verb} ${p.backend_type}`,
      );
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

type Block = { type: string; text?: { text: string }; elements?: Array<{ text?: string }> };
const blocksOf = (body: Record<string, unknown>) => body.blocks as Block[];
const textsOf = (blocks: Block[]) =>
  blocks.map((b) => [b.text?.text ?? '', ...(b.elements ?? []).map((e) => e.text ?? '')].join(' '));
const replayLsns = () =>
  stateQuery<{ behind: boolean; caught_up: boolean }>(
    standby.url,
    `SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn() AS behind, pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn() AS caught_up`,
  );

test('a standby’s listing says “standby” in its header with how far replay is behind, and shows its startup process and walreceiver as rows without buttons', async () => {
  const processes = await waitUntil('the startup process and the walreceiver', async () => {
    const rows = await replicationProcesses();
    return rows.length === 2 ? rows : undefined;
  });
  const [startup, walreceiver] = [
    processes.find((p) => p.backend_type === 'startup')!,
    processes.find((p) => p.backend_type === 'walreceiver')!,
  ];
  // A transaction replayed, then replay paused while the primary writes on: WAL received, not yet replayed.
  await stateQuery(
    standby.primaryUrl,
    'CREATE TABLE IF NOT EXISTS lag_probe (n int); INSERT INTO lag_probe VALUES (1)',
  );
  await waitUntil(
    'the first write replayed',
    async () =>
      (await replayLsns())[0]?.caught_up &&
      (await stateQuery(standby.url, `SELECT 1 FROM pg_class WHERE relname = 'lag_probe'`)).length === 1,
  );
  await stateQuery(standby.url, 'SELECT pg_wal_replay_pause()');
  const reader = await sleepSession(standby.url, { seconds: 300, application: 'standby-reader' });
  try {
    await stateQuery(standby.primaryUrl, 'INSERT INTO lag_probe SELECT generate_series(1, 1000)');
    await waitUntil('WAL received but not replayed', async () => (await replayLsns())[0]?.behind);

    const channel = fresh('C');
    const listing = await command(slack, app.port, '', as(REQUESTER, channel));
    const blocks = blocksOf(listing.body);
    const texts = textsOf(blocks);
    assert.match(texts[0]!, /^Sessions on \S+ \(standby\) — 1 match$/, 'the header says standby');
    assert.ok(
      texts.some((t) =>
        /standby · replay paused, \d+(s|m \d\ds) behind · \d+(\.\d)? [kM]?B received, not yet replayed/.test(t),
      ),
      texts.join('\n'),
    );
    assert.match(listing.text, /\(standby\).*standby · replay paused/, 'the fallback text says so too');

    // The two processes, each a row of its own, and no actions block after either.
    for (const [p, role] of [
      [startup, 'startup \\(WAL replay\\)'],
      [walreceiver, 'walreceiver \\(WAL receiver\\)'],
    ] as const) {
      const at = blocks.findIndex(
        (b) =>
          b.type === 'section' && new RegExp(`^\\*pid ${p.pid}\\* · ${role} · running for`).test(b.text?.text ?? ''),
      );
      assert.ok(at > 0, `a row for the ${p.backend_type}: ${texts.join('\n')}`);
      assert.notEqual(blocks[at + 1]?.type, 'actions', `no buttons under the ${p.backend_type}`);
    }
    // The reader on the standby has its buttons; nothing names either process.
    const targeted = buttonsIn(blocks).map((b) => decodeTarget(b.value)?.pid);
    assert.ok(targeted.includes(reader.pid), 'the standby’s own client backend keeps its buttons');
    for (const p of processes) assert.ok(!targeted.includes(p.pid), `no button names the ${p.backend_type}`);
    // Nor can a bulk request on the standby ever freeze them in: nothing is requested.
    await command(slack, app.port, 'terminate-all db:postgres free the replica', as(REQUESTER, channel));
    const frozen = await stateQuery<{ targets: unknown }>(stateDb.url, 'SELECT targets FROM pgsessions.requests');
    for (const p of processes)
      assert.doesNotMatch(
        JSON.stringify(frozen),
        new RegExp(`"pid":${p.pid}[,}]`),
        `the ${p.backend_type} is in no request`,
      );
  } finally {
    await stateQuery(standby.url, 'SELECT pg_wal_replay_resume()');
    await reader.end();
  }

  await waitUntil('replay caught up', async () => (await replayLsns())[0]?.caught_up);
  const caughtUp = await command(slack, app.port, '', as(REQUESTER, fresh('C')));
  const texts = textsOf(blocksOf(caughtUp.body));
  assert.ok(
    texts.some((t) =>
      /standby · replaying, caught up with the WAL received \(last replayed commit [^)]+ ago\)/.test(t),
    ),
    texts.join('\n'),
  );
});

test('a bot role with no grants at all still gets the standby header, and is told nothing false about the WAL receiver it may not see', async () => {
  const role = `sb_plain_${Date.now().toString(36)}`;
  await stateQuery(standby.primaryUrl, `CREATE ROLE ${role} LOGIN PASSWORD 'plain-pw'`);
  await waitUntil(
    'the role replayed on the standby',
    async () => (await stateQuery(standby.url, `SELECT 1 FROM pg_roles WHERE rolname = '${role}'`)).length === 1,
  );
  const url = new URL(standby.url);
  url.username = role;
  url.password = 'plain-pw';
  const plain = await startTestApp(baseEnv(url.toString(), slack, { STATE_DATABASE_URL: stateDb.url }));
  try {
    const listing = await command(slack, plain.port, '', as(REQUESTER, fresh('C')));
    const texts = textsOf(blocksOf(listing.body));
    assert.match(texts[0]!, /\(standby\)/);
    assert.ok(
      texts.some((t) => /standby · replaying, /.test(t)),
      texts.join('\n'),
    );
    assert.doesNotMatch(texts.join('\n'), /no WAL receiver/, 'the receiver is there, only hidden from this role');
    assert.deepEqual(
      buttonsIn(blocksOf(listing.body)).filter((b) => decodeTarget(b.value)),
      [],
      'no kill button',
    );
  } finally {
    await plain.stop();
    await stateQuery(standby.primaryUrl, `DROP ROLE ${role}`);
  }
});
