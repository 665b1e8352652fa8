// A maintenance drain end to end (docs/drain.md): a reconnecting pool stays out for the whole window and is
// back within seconds of its end, with datallowconn / datconnlimit exactly as before; End drain now and
// `undrain`; two replicas end a drain once and never on top of a change made meanwhile; every refusal.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { APPROVER, baseEnv, OUTSIDER, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  auditOf,
  buttonsIn,
  click,
  command,
  fresh,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { createRole, type TestRole } from '../helpers/roles.js';

let db: TestDatabase; // where the bot connects and keeps its state
let target: TestDatabase; // what is drained
let slack: SlackApi;
let app: TestApp;
const POOL_APP = 'drain-pool';

/** An application pool of `size` workers that reconnect every 100 ms when disconnected (or refused). */
function reconnectingPool(url: string, size: number) {
  let stopped = false;
  const clients = new Set<pg.Client>();
  const worker = async () => {
    while (!stopped) {
      const client = new pg.Client({ connectionString: url, application_name: POOL_APP });
      let lost = false;
      client.on('error', () => {
        lost = true;
      });
      try {
        await client.connect();
        clients.add(client);
        while (!stopped && !lost) {
          await sleep(100);
          await client.query('SELECT 1').catch(() => {
            lost = true;
          });
        }
      } catch {
        // refused: try again in 100 ms
      }
      clients.delete(client);
      await client.end().catch(() => undefined);
      await sleep(100);
    }
  };
  const running = Array.from({ length: size }, worker);
  return {
    async stop() {
      stopped = true;
      await Promise.all(running);
    },
  };
}

async function poolSessions(database: string): Promise<number> {
  const rows = await stateQuery<{ n: number }>(
    serverUrl(),
    'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND application_name = $2',
    [database, POOL_APP],
  );
  return rows[0]!.n;
}

async function settings(database: string): Promise<{ allow: boolean; limit: number }> {
  const rows = await stateQuery<{ allow: boolean; limit: number }>(
    serverUrl(),
    'SELECT datallowconn AS allow, datconnlimit AS limit FROM pg_database WHERE datname = $1',
    [database],
  );
  return rows[0]!;
}

async function until<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined | false>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

async function drainOf(requestId: string) {
  const rows = await stateQuery<{ id: string; state: string; end_why: string | null; outcome: string | null }>(
    db.url,
    'SELECT id::text, state, end_why, outcome FROM pgsessions.drains WHERE request_id = $1',
    [requestId],
  );
  return rows[0];
}

/** Asks for a drain as the requester, approves it as the approver, and waits for it to be executed. */
async function drained(database: string, window: string, channel: string) {
  const asked = await typedRequest(slack, app.port, `drain db:${database} for:${window} restore tonight`, {
    user: REQUESTER,
    channel,
  });
  const clicked = await click(slack, app.port, ACTION.approve, asked.id, as(APPROVER, channel));
  assert.equal(clicked.status, 200);
  const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
  assert.equal(row.status, 'executed', `the drain executed: ${JSON.stringify(row.result)}`);
  return asked;
}

before(async () => {
  db = await createTestDatabase('drainst');
  target = await createTestDatabase('draint');
  slack = await startSlackApi();
  app = await startTestApp(baseEnv(db.url, slack), { terminateTimeoutMs: 3_000 });
});
afterEach(async () => {
  // Whatever a test left, the target is open again for the next, and no drain of it is live.
  await stateQuery(db.url, `UPDATE pgsessions.drains SET state = 'ending' WHERE state = 'active'`);
  await stateQuery(db.url, `UPDATE pgsessions.drains SET state = 'ended' WHERE state = 'ending'`);
  await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH ALLOW_CONNECTIONS true CONNECTION LIMIT -1`);
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await target?.drop();
  await db?.drop();
});

test('a reconnecting pool stays out for the whole window and is back within seconds after, the settings exactly as before', async () => {
  const channel = fresh('C');
  await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH CONNECTION LIMIT 37`);
  const before = await settings(target.name);
  assert.deepEqual(before, { allow: true, limit: 37 });
  const pool = reconnectingPool(target.url, 4);
  try {
    await until('the pool to hold 4 sessions', 10_000, async () => (await poolSessions(target.name)) === 4);
    const asked = await typedRequest(slack, app.port, `drain db:${target.name} for:12s restore of the ledger`, {
      user: REQUESTER,
      channel,
    });
    // The request says what will happen: how many sessions now, by application and user, and until when.
    const posted = textOf(asked.post.params.blocks);
    assert.match(posted, /4 now/);
    assert.match(posted, new RegExp(`${POOL_APP} ×4`));
    assert.match(posted, /refuses new connections for 12s/);
    // Nothing happens before approval.
    assert.deepEqual(await settings(target.name), before);
    await click(slack, app.port, ACTION.approve, asked.id, as(APPROVER, channel));
    const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
    assert.equal(row.status, 'executed', JSON.stringify(row.result));
    assert.match(row.result?.message ?? '', /4 sessions ended, the database is now empty/);
    const drain = await drainOf(asked.id);
    assert.ok(drain);
    // The whole window (by the state database's clock, less a margin): not one pool session gets back in,
    // however often it tries.
    const left = (
      await stateQuery<{ left: number }>(
        db.url,
        'SELECT extract(epoch FROM ends_at - now())::float * 1000 AS left FROM pgsessions.drains WHERE id = $1',
        [drain.id],
      )
    )[0]!.left;
    assert.ok(left > 3_000, `most of the window is still ahead (${left} ms)`);
    const closedUntil = Date.now() + left - 400;
    let listed = false;
    while (Date.now() < closedUntil) {
      assert.equal(await poolSessions(target.name), 0, 'no pool session is back during the window');
      assert.equal(
        (await settings(target.name)).allow,
        false,
        JSON.stringify({ now: new Date(), drain: await drainOf(asked.id), audit: await auditOf(db.url, asked.id) }),
      );
      if (!listed) {
        const listing = await command(slack, app.port, '', as(REQUESTER, channel));
        assert.match(
          textOf(listing.body),
          new RegExp(
            `${target.name} is drained until \\d\\d:\\d\\d UTC \\(by <@${REQUESTER}>, approved by <@${APPROVER}>\\)`,
          ),
        );
        listed = true;
      }
      await sleep(100);
    }
    // After the window: given back, exactly as before, and the pool is back within seconds.
    await until('the database to be given back', 10_000, async () => (await settings(target.name)).allow);
    assert.deepEqual(await settings(target.name), before);
    await until('the pool to reconnect', 5_000, async () => (await poolSessions(target.name)) === 4);
    const ended = await drainOf(asked.id);
    assert.equal(ended?.state, 'ended');
    assert.equal(ended?.end_why, 'expired');
    const audit = await auditOf(db.url, asked.id);
    const events = audit.map((a) => a.event);
    assert.ok(events.includes('drained'), events.join());
    const end = audit.find((a) => a.event === 'drain_ended');
    assert.equal(end?.details.why, 'expired');
    assert.deepEqual(end?.details.previous, { allowConnections: true, connectionLimit: 37 });
    // Said in the request's thread and in the audit channel.
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.postMessage')
          .find(
            (c) =>
              c.params.channel === channel &&
              c.params.thread_ts === row.message_ts &&
              /Drain of .* ended \(its window ended\)/.test(String(c.params.text)),
          ),
      { description: 'the end in the request thread' },
    );
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.postMessage')
          .find((c) => /drain_ended/.test(String(c.params.text)) && c.params.channel !== channel),
      { description: 'drain_ended in the audit channel' },
    );
  } finally {
    await pool.stop();
  }
});

test('End drain now (requester or approver only) and undrain give the database back at once', async () => {
  const channel = fresh('C');
  const before = await settings(target.name);
  const asked = await drained(target.name, '10m', channel);
  assert.equal((await settings(target.name)).allow, false);
  const drain = await drainOf(asked.id);
  assert.ok(drain);
  // The request message now carries End drain now.
  const update = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find((c) => buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.drainEnd && b.value === drain.id)),
    { description: 'End drain now on the request message' },
  );
  assert.ok(update);
  // A bystander may not end it: nothing changes.
  const outsider = await click(slack, app.port, ACTION.drainEnd, drain.id, as(OUTSIDER, channel));
  assert.match(await outsider.reply(), /Only the requester or an approver/);
  assert.equal((await settings(target.name)).allow, false);
  const requester = await click(slack, app.port, ACTION.drainEnd, drain.id, as(REQUESTER, channel));
  assert.match(await requester.reply(), /new connections are allowed again/);
  assert.deepEqual(await settings(target.name), before);
  assert.equal((await drainOf(asked.id))?.end_why, 'ended');
  // A second press finds nothing to end and changes nothing.
  const again = await click(slack, app.port, ACTION.drainEnd, drain.id, as(REQUESTER, channel));
  assert.match(await again.reply(), /not drained/);

  const second = await drained(target.name, '10m', fresh('C'));
  assert.equal((await settings(target.name)).allow, false);
  const undrain = await command(slack, app.port, `undrain db:${target.name}`, as(APPROVER, channel));
  assert.match(undrain.text, /new connections are allowed again/);
  assert.deepEqual(await settings(target.name), before);
  const end = (await auditOf(db.url, second.id)).find((a) => a.event === 'drain_ended');
  assert.equal(end?.details.why, 'undrain');
  assert.equal(end?.actor, APPROVER);
});

test('two replicas end a drain once, and never on top of a change someone made meanwhile', async () => {
  const other = await startTestApp(baseEnv(db.url, slack), { terminateTimeoutMs: 3_000 });
  try {
    const channel = fresh('C');
    const asked = await drained(target.name, '3s', channel);
    await until('the drain to end', 15_000, async () => (await drainOf(asked.id))?.state === 'ended');
    await sleep(1_000); // both replicas sweep every 200 ms: give the other every chance to end it again
    const ends = (await auditOf(db.url, asked.id)).filter((a) => a.event === 'drain_ended');
    assert.equal(ends.length, 1, 'one drain_ended entry across two replicas');

    // Someone changes the connection limit during the window: at its end nothing is restored.
    const changed = await drained(target.name, '3s', fresh('C'));
    await stateQuery(serverUrl(), `ALTER DATABASE ${target.name} WITH CONNECTION LIMIT 5`);
    await until('the drain to be refused', 15_000, async () => (await drainOf(changed.id))?.state === 'refused');
    assert.deepEqual(await settings(target.name), { allow: false, limit: 5 }, 'the change made meanwhile stands');
    const end = (await auditOf(db.url, changed.id)).filter((a) => a.event === 'drain_ended');
    assert.equal(end.length, 1);
    assert.match(String(end[0]!.details.outcome), /changed by someone else meanwhile/);
  } finally {
    await other.stop();
  }
});

test('each refusal is one sentence and changes nothing', async () => {
  const channel = fresh('C');
  const refused = async (text: string, pattern: RegExp, user = REQUESTER) => {
    const before = approvalPosts(slack, channel).length;
    const reply = await command(slack, app.port, text, as(user, channel));
    assert.match(reply.text, pattern, text);
    assert.equal(approvalPosts(slack, channel).length, before, `${text}: nothing was posted for approval`);
  };
  const untouched = await settings(target.name);
  await refused('drain db:template1 for:10m upgrade', /template0 and template1/);
  await refused('drain db:template0 for:10m upgrade', /template0 and template1/);
  await refused(`drain db:${db.name} for:10m upgrade`, /holds pgsessions’ own state/);
  await refused(`drain db:${target.name} for:5h upgrade`, /longer than PGSESSIONS_DRAIN_MAX allows \(4h\)/);
  await refused(`drain db:${target.name} upgrade`, /needs for:DURATION/);
  await refused(`drain db:${target.name} for:10m`, /Give a reason/);
  await refused('drain db:no_such_database for:10m upgrade', /no such database/);
  assert.deepEqual(await settings(target.name), untouched);
  // Already drained.
  await drained(target.name, '10m', channel);
  await refused(`drain db:${target.name} for:10m again`, /already drained/);
  await command(slack, app.port, `undrain db:${target.name}`, as(REQUESTER, channel));
  await refused(`undrain db:${target.name}`, /not drained/);

  // Read-only mode.
  const readOnly = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_READ_ONLY: 'true' }));
  try {
    const reply = await command(
      slack,
      readOnly.port,
      `drain db:${target.name} for:10m upgrade`,
      as(REQUESTER, channel),
    );
    assert.match(reply.text, /read-only mode/);
  } finally {
    await readOnly.stop();
  }
  assert.deepEqual(await settings(target.name), untouched);
});

test('a role without the owner’s rights is refused; with membership in the owner’s role it drains', async () => {
  const bot: TestRole = await createRole({ prefix: 'drainbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
  const owner: TestRole = await createRole({ prefix: 'drainown' });
  const owned = await createTestDatabase('drainown');
  await stateQuery(serverUrl(), `ALTER DATABASE ${owned.name} OWNER TO ${owner.name}`);
  const env = baseEnv(bot.url(db.url), slack, { STATE_DATABASE_URL: db.url });
  let botApp = await startTestApp(env);
  try {
    const channel = fresh('C');
    const reply = await command(slack, botApp.port, `drain db:${owned.name} for:10m upgrade`, as(REQUESTER, channel));
    assert.match(reply.text, /lacks the rights to refuse connections/);
    assert.equal((await settings(owned.name)).allow, true);
    await botApp.stop();
    // The narrowest grant: membership in the owner's role (PostgreSQL 16+: INHERIT FALSE, SET TRUE).
    const version = (
      await stateQuery<{ v: number }>(serverUrl(), `SELECT current_setting('server_version_num')::int AS v`)
    )[0]!.v;
    await stateQuery(
      serverUrl(),
      version >= 160000
        ? `GRANT ${owner.name} TO ${bot.name} WITH INHERIT FALSE, SET TRUE`
        : `GRANT ${owner.name} TO ${bot.name}`,
    );
    botApp = await startTestApp(env);
    assert.ok(
      botApp.logs.some((l) => l.includes('the bot role can drain') && l.includes(owned.name)),
      'start-up says which databases the role can drain',
    );
    const asked = await typedRequest(
      slack,
      botApp.port,
      `drain db:${owned.name} for:10m upgrade`,
      as(REQUESTER, channel),
    );
    await click(slack, botApp.port, ACTION.approve, asked.id, as(APPROVER, channel));
    const row = await waitForStatus(db.url, asked.id, ['executed', 'failed']);
    assert.equal(row.status, 'executed', JSON.stringify(row.result));
    assert.equal((await settings(owned.name)).allow, false);
    const undrain = await command(slack, botApp.port, `undrain db:${owned.name}`, as(REQUESTER, channel));
    assert.match(undrain.text, /allowed again/);
    assert.equal((await settings(owned.name)).allow, true);
  } finally {
    await botApp.stop().catch(() => undefined);
    await owned.drop();
    await bot.drop();
    await owner.drop();
  }
});
