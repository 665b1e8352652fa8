// A watched cluster behind a real PgBouncer (Debian's package, default settings), in transaction and in
// session pooling: listing, an approved terminate, terminate-all and a watch alert all work through it,
// and the bot's own pooled server connections are neither listed nor killable.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { skipWithoutPgBouncer, startPgBouncer, type PgBouncer, type PoolMode } from '../helpers/pgbouncer.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockedQuery, idleInTransactionLockHolder, sessionAlive, sleepSession } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { createRole } from '../helpers/roles.js';
import {
  as,
  click,
  requestRow,
  command,
  fresh,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { waitForAlertText, watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

for (const mode of ['transaction', 'session'] as const satisfies readonly PoolMode[]) {
  describe(`a cluster behind PgBouncer in ${mode} pooling`, { skip: skipWithoutPgBouncer() }, () => {
    let db: TestDatabase;
    let bouncer: PgBouncer;
    let slack: SlackApi;
    let app: TestApp;
    const sessions = sessionTracker();
    const track = sessions.track;
    /** The backends PgBouncer opened for pgsessions: on the server, named as pgsessions named itself. */
    const botBackends = async () =>
      (
        await stateQuery<{ pid: number }>(
          db.url,
          `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = 'pgsessions' AND usename = current_user`,
          [db.name],
        )
      ).map((r) => r.pid);

    before(async () => {
      db = await createTestDatabase(`pgb${mode[0]}`);
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      await c.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
      await c.query('INSERT INTO orders SELECT g, null FROM generate_series(1, 10) g');
      await c.end();
      bouncer = await startPgBouncer({ serverUrl: db.url, poolMode: mode });
      slack = await startSlackApi();
      // The cluster through PgBouncer; the state database directly (its pooler story is another one).
      const env = baseEnv(bouncer.url(db.name), slack, { STATE_DATABASE_URL: db.url, ...watchEnv() });
      app = await startTestApp(env, { terminateTimeoutMs: 3_000 });
    });
    afterEach(async () => {
      await sessions.endAll();
    });
    after(async () => {
      await app?.stop();
      await bouncer?.stop();
      await slack?.close();
      await db?.drop();
    });

    test('lists sessions through it, never its own pooled server connections, and an impostor named pgsessions is listed', async () => {
      const victim = track(await sleepSession(db.url, { seconds: 120, application: `pgb-list-${mode}` }));
      // The attacker: a database user of another role who names its session after the bot to hide.
      const impostorRole = await createRole({ prefix: 'impostor' });
      sessions.defer(() => impostorRole.drop());
      const impostor = track(await sleepSession(impostorRole.url(db.url), { seconds: 120, application: 'pgsessions' }));
      const listing = await command(slack, app.port, `app:pgb-list-${mode}`, as(REQUESTER, fresh('C')));
      assert.match(JSON.stringify(listing.body.blocks), new RegExp(`${victim.pid}`), listing.text);
      const pools = await bouncer.admin('SHOW POOLS');
      assert.ok(
        pools.some((p) => p.database === db.name && p.pool_mode === mode),
        'the listing went through PgBouncer',
      );
      const own = await botBackends();
      assert.ok(own.length > 0, 'PgBouncer holds server connections for pgsessions');
      const everything = JSON.stringify(
        (await command(slack, app.port, 'state:idle limit:200', as(REQUESTER, fresh('C')))).body.blocks,
      );
      for (const pid of own)
        assert.doesNotMatch(everything, new RegExp(`pid ${pid}\\*`), `the bot's own backend ${pid} is not listed`);
      const impostors = await command(slack, app.port, 'app:pgsessions', as(REQUESTER, fresh('C')));
      assert.match(
        JSON.stringify(impostors.body.blocks),
        new RegExp(`pid ${impostor.pid}\\*`),
        'a session of another role named pgsessions is not hidden',
      );
    });

    test('an approved terminate ends the session through it', async () => {
      const channel = fresh('C');
      const victim = track(await sleepSession(db.url, { seconds: 120, application: `pgb-kill-${mode}` }));
      const { id } = await typedRequest(
        slack,
        app.port,
        `terminate ${victim.pid} stuck report`,
        as(REQUESTER, channel),
      );
      await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
      const row = await waitForStatus(db.url, id, ['executed', 'failed']);
      assert.equal(row.status, 'executed', JSON.stringify(row.result));
      assert.equal(row.result?.outcomes[0]?.outcome, 'terminated');
      assert.equal(await sessionAlive(db.url, victim.pid), false);
    });

    // Scoped by application too: a server connection PgBouncer has just opened carries no application_name
    // until its first use, and is then anyone's session of that role (shown, and in a db-wide scope).
    test('terminate-all ends exactly the frozen sessions, never the server connections PgBouncer holds for the bot', async () => {
      const channel = fresh('C');
      const frozen = [
        track(await sleepSession(db.url, { seconds: 120, application: 'pgb-bulk' })),
        track(await sleepSession(db.url, { seconds: 120, application: 'pgb-bulk' })),
      ];
      const own = await botBackends();
      const { id, reply } = await typedRequest(
        slack,
        app.port,
        `terminate-all db:${db.name} app:pgb-bulk nightly maintenance`,
        as(REQUESTER, channel),
      );
      const targets = (await requestRow(db.url, id)).targets;
      assert.match(reply, /for 2 sessions/, JSON.stringify(targets));
      await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
      const row = await waitForStatus(db.url, id, ['executed', 'failed']);
      assert.equal(row.status, 'executed', JSON.stringify(row.result));
      assert.deepEqual(
        row.result?.outcomes.map((o) => o.outcome),
        ['terminated', 'terminated'],
      );
      for (const s of frozen) assert.equal(await sessionAlive(db.url, s.pid), false);
      for (const pid of own)
        assert.equal(await sessionAlive(db.url, pid), true, `the bot's server connection ${pid} survives`);
    });

    test('the watcher reads the cluster through it and posts an alert', async () => {
      const holder = track(await idleInTransactionLockHolder(db.url, 'orders', { application: `pgb-holder-${mode}` }));
      track(await blockedQuery(db.url, 'orders', { application: `pgb-waiter-${mode}` }));
      await waitForAlertText(slack, new RegExp(`pid ${holder.pid}`), 20_000);
    });
  });
}

describe('a PgBouncer at max_client_conn', { skip: skipWithoutPgBouncer() }, () => {
  let db: TestDatabase;
  let bouncer: PgBouncer;
  let slack: SlackApi;
  let app: TestApp;
  const crowd: pg.Client[] = [];
  const sessions = sessionTracker();

  before(async () => {
    db = await createTestDatabase('pgbfull');
    bouncer = await startPgBouncer({ serverUrl: db.url, poolMode: 'transaction', settings: { max_client_conn: '8' } });
    slack = await startSlackApi();
    app = await startTestApp(baseEnv(bouncer.url(db.name), slack, { STATE_DATABASE_URL: db.url }), {
      poolIdleTimeoutMs: 300,
    });
  });
  after(async () => {
    await app?.stop();
    await Promise.all(crowd.map((c) => c.end().catch(() => undefined)));
    await sessions.endAll();
    await bouncer?.stop();
    await slack?.close();
    await db?.drop();
  });

  test('a listing goes through the reserved client connection and says the pooler is full', async () => {
    const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'pgb-crowded' }));
    // The bot's pooled client connections age out; then a crowd takes every other client slot.
    const deadline = Date.now() + 20_000;
    for (;;) {
      const clients = (await bouncer.admin('SHOW CLIENTS')).filter((c) => c.database === db.name);
      if (clients.length <= 1) break;
      assert.ok(Date.now() < deadline, `pgsessions still holds ${clients.length} client connections`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    let refusal: { code?: string; message?: string } | null = null;
    while (!refusal) {
      const c = new pg.Client({ connectionString: bouncer.url(db.name), application_name: 'crowd' });
      c.on('error', () => undefined);
      try {
        await c.connect();
        crowd.push(c);
      } catch (error) {
        refusal = error as { code?: string; message?: string };
      }
      assert.ok(crowd.length < 20, 'PgBouncer never refused a client');
    }
    assert.match(refusal.message ?? '', /no more connections allowed \(max_client_conn\)/);
    const listing = await command(slack, app.port, 'app:pgb-crowded', as(REQUESTER, fresh('C')));
    const blocks = JSON.stringify(listing.body.blocks);
    assert.match(blocks, new RegExp(`${victim.pid}`), listing.text);
    assert.match(
      blocks,
      /is full at its connection pooler: no more connections allowed \(max_client_conn\) — listed through pgsessions’ reserved connection/,
    );
  });
});
