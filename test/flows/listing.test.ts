// The listing commands end to end: the real app over signed HTTP, real PostgreSQL sessions on the suite's
// server, and what the app posts to the response_url. `/pgsessions` (and its filters), `blocking`,
// `replication`, `help`/`status`, protected sessions, read-only mode, and Slack's Block Kit limits.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { LIMITS } from '../../src/slack/blocks/mrkdwn.js';
import { AUDIT_CHANNEL, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { allText, ask, killButtons, pidsOf, rowFor, rowsOf, sleep, type Reply } from '../helpers/replies.js';
import {
  activityRow,
  blockedQuery,
  idleInTransactionLockHolder,
  sleepSession,
  walsender,
  type SleepSession,
} from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';

let db2: TestDatabase;
const suffix = randomBytes(3).toString('hex');
const otherRole = `lst_other_${suffix}`;
const otherPassword = `other-pw-${suffix}`;
const cleanups: Array<() => Promise<unknown>> = [];

function asRole(url: string, role: string, password: string): string {
  const u = new URL(url);
  u.username = role;
  u.password = password;
  return u.toString();
}

async function admin<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url, options: '-c TimeZone=UTC' });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

/** A connected session that stays idle (not in a transaction). */
async function idleSession(url: string, application: string): Promise<{ pid: number; end(): Promise<void> }> {
  const c = new pg.Client({ connectionString: url, application_name: application });
  c.on('error', () => undefined);
  await c.connect();
  const { rows } = await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  return { pid: rows[0]!.pid, end: () => c.end().catch(() => undefined) };
}

/** Runs `fn` with sessions that are always ended afterwards, whatever the assertions did. */
async function withSessions<T extends Array<{ end(): Promise<void> }>>(
  make: () => Promise<[...T]>,
  fn: (sessions: [...T]) => Promise<void>,
): Promise<void> {
  const sessions = await make();
  try {
    await fn(sessions);
  } finally {
    await Promise.all(sessions.map((s) => s.end()));
  }
}

const { db, slack, app } = useTestApp({
  database: 'listing',
  async prepare(database) {
    db2 = await createTestDatabase('listing2');
    await admin(serverUrl(), (c) => c.query(`CREATE ROLE ${otherRole} LOGIN PASSWORD '${otherPassword}'`));
    await admin(database.url, (c) =>
      c.query('CREATE TABLE t1 (id int); CREATE TABLE t2 (id int); CREATE TABLE t3 (id int)'),
    );
  },
});

// After the fixture has stopped the app and dropped its database.
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  await db2?.drop();
  await admin(serverUrl(), (c) => c.query(`DROP ROLE IF EXISTS ${otherRole}`)).catch(() => undefined);
});

describe('/pgsessions with no arguments', () => {
  test('lists a running query and an idle-in-transaction lock holder longest first, the holder aged from its transaction start', async () => {
    // holder's transaction starts first, the sleeper a second later, then the holder runs a new statement:
    // by xact_start the holder is oldest, by query_start it would be youngest.
    const holder = await idleInTransactionLockHolder(db.url, 't1', { application: 'lst-holder' });
    let sleeper: SleepSession | undefined;
    let blocked: Awaited<ReturnType<typeof blockedQuery>> | undefined;
    try {
      await sleep(1100);
      sleeper = await sleepSession(db.url, { seconds: 120, application: 'lst-sleeper' });
      await sleep(1100);
      await holder.client.query('SELECT 1');
      blocked = await blockedQuery(db.url, 't1', { application: 'lst-blocked' });

      const { reply } = await ask(app, slack, '');
      assert.equal(reply.response_type, 'ephemeral');
      const ours = pidsOf(reply).filter((pid) => [holder.pid, sleeper!.pid, blocked!.pid].includes(pid));
      assert.deepEqual(ours, [holder.pid, sleeper.pid, blocked.pid], allText(reply));

      const h = rowFor(reply, holder.pid).text;
      assert.match(
        h,
        new RegExp(
          `^\\*pid ${holder.pid}\\* · user postgres · db ${db.name} · app lst-holder · client 127\\.0\\.0\\.1:\\d+\\n`,
        ),
      );
      // Aged from the transaction (≥ 2 s), its last statement just now.
      assert.match(h, /\*idle in transaction\* for ([2-9]|\d\d)s \(query \ds, transaction \d+s\)/);
      assert.match(h, /waiting on Client:ClientRead/);
      assert.match(h, /`SELECT 1`/);

      const s = rowFor(reply, sleeper.pid).text;
      const port = (sleeper.client as unknown as { connection: { stream: { localPort: number } } }).connection.stream
        .localPort;
      assert.ok(
        s.startsWith(
          `*pid ${sleeper.pid}* · user postgres · db ${db.name} · app lst-sleeper · client 127.0.0.1:${port}\n`,
        ),
        s,
      );
      assert.match(s, /\*active\* for [1-9]\d*s · waiting on Timeout:PgSleep/);
      assert.match(s, /`SELECT pg_sleep\(120\)`/);

      const b = rowFor(reply, blocked.pid).text;
      assert.match(b, /waiting on Lock:relation/);
      assert.match(b, new RegExp(`blocked by ${holder.pid}(?!\\d)`));
      assert.match(b, /`SELECT count\(\*\) FROM "t1"`/);
    } finally {
      await blocked?.end();
      await sleeper?.end();
      await holder.end();
    }
  });

  test('offers Terminate but not Cancel to an idle-in-transaction session, both to a running query, and the buttons name the exact server timestamps', async () => {
    await withSessions(
      async () =>
        [
          await idleInTransactionLockHolder(db.url, 't2', { application: 'btn-holder' }),
          await sleepSession(db.url, { seconds: 120, application: 'btn-sleeper' }),
        ] as const,
      async ([holder, sleeper]) => {
        const { reply } = await ask(app, slack, `db:${db.name}`);
        const h = rowFor(reply, holder.pid);
        const s = rowFor(reply, sleeper.pid);
        assert.deepEqual(
          h.buttons.map((b) => b.label),
          ['Terminate'],
        );
        assert.deepEqual(
          s.buttons.map((b) => [b.actionId, b.label]),
          [
            ['pgs_cancel', 'Cancel'],
            ['pgs_terminate', 'Terminate'],
          ],
        );

        for (const [row, pid] of [
          [h, holder.pid],
          [s, sleeper.pid],
        ] as const) {
          const server = await activityRow(db.url, pid); // read under TimeZone=UTC, as text
          assert.ok(server?.query_start);
          assert.match(server.backend_start, /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{1,6}\+00$/);
          for (const button of row.buttons) {
            assert.deepEqual(button.target, {
              cluster: 'default',
              pid,
              backendStart: server.backend_start,
              queryStart: server.query_start,
              kind: button.actionId === 'pgs_cancel' ? 'cancel' : 'terminate',
            });
          }
        }
      },
    );
  });

  test('leaves out idle sessions, the bot’s own connections and background processes', async () => {
    await withSessions(
      async () =>
        [
          await idleSession(db.url, 'lst-idle'),
          // Another role may call itself pgsessions: it is not the bot, so it is listed.
          await idleSession(asRole(db.url, otherRole, otherPassword), 'pgsessions'),
          await sleepSession(db.url, { seconds: 120, application: 'lst-visible' }),
        ] as const,
      async ([idle, impostor, sleeper]) => {
        const { reply } = await ask(app, slack, 'limit:200');
        const listed = pidsOf(reply);
        assert.ok(listed.includes(sleeper.pid));
        assert.ok(!listed.includes(idle.pid), 'an idle session is not listed by default');
        // …but it is there to be seen when asked for.
        assert.ok(pidsOf((await ask(app, slack, `state:idle db:${db.name}`)).reply).includes(idle.pid));

        const { bot, background } = await admin(serverUrl(), async (c) => ({
          bot: (
            await c.query<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity WHERE application_name = 'pgsessions' AND usename = current_user`,
            )
          ).rows.map((r) => r.pid),
          background: (
            await c.query<{ pid: number }>(`SELECT pid FROM pg_stat_activity WHERE backend_type <> 'client backend'`)
          ).rows.map((r) => r.pid),
        }));
        assert.ok(bot.length > 0, 'the bot holds connections');
        assert.ok(background.length >= 3, 'checkpointer, walwriter, autovacuum…');
        const idleBots = (await ask(app, slack, 'state:idle app:pgsessions limit:200')).reply;
        assert.deepEqual(pidsOf(idleBots), [impostor.pid], allText(idleBots));
        for (const text of ['limit:200', 'state:idle limit:200', 'state:active limit:200']) {
          const shown = pidsOf((await ask(app, slack, text)).reply);
          assert.deepEqual(
            shown.filter((pid) => bot.includes(pid) || background.includes(pid)),
            [],
            text,
          );
        }
      },
    );
  });
  test('a primary’s listing says nothing of recovery, and an empty listing still says the connection use', async () => {
    await withSessions(
      async () => [await sleepSession(db.url, { seconds: 120, application: 'lst-primary' })] as const,
      async ([sleeper]) => {
        for (const text of ['', `app:lst-nobody-${suffix}`]) {
          const { reply } = await ask(app, slack, text);
          const all = allText(reply);
          assert.match(reply.blocks[0]!.text!.text, /^Sessions on \S+ — \d+ match(es)?$/, all);
          assert.doesNotMatch(`${reply.text}\n${all}`, /standby|recovery|WAL replay|walreceiver/i, text);
          assert.match(all, /Connections \d+ of \d+/, `${text}: ${all}`);
        }
        assert.ok(pidsOf((await ask(app, slack, '')).reply).includes(sleeper.pid));
      },
    );
  });

  test('folds parallel workers into their leader', async () => {
    await admin(db.url, (c) => c.query('CREATE TABLE big AS SELECT g FROM generate_series(1, 20000) g; ANALYZE big'));
    const leader = new pg.Client({ connectionString: db.url, application_name: 'lst-parallel' });
    leader.on('error', () => undefined);
    await leader.connect();
    const pid = (await leader.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    try {
      // debug_parallel_query was called force_parallel_mode before PostgreSQL 16.
      const v = Number(
        (await leader.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`)).rows[0]!.v,
      );
      const force = v >= 160_000 ? 'debug_parallel_query' : 'force_parallel_mode';
      await leader.query(
        `SET max_parallel_workers_per_gather = 2; SET parallel_setup_cost = 0; SET parallel_tuple_cost = 0; SET min_parallel_table_scan_size = 0; SET ${force} = on`,
      );
      const running = leader.query('SELECT count(*) FROM big WHERE pg_sleep(0.002) IS NOT NULL').catch(() => undefined);
      let workers: number[] = [];
      for (let i = 0; i < 200 && workers.length < 2; i++) {
        await sleep(20);
        workers = await admin(db.url, async (c) =>
          (
            await c.query<{ pid: number }>(
              `SELECT pid FROM pg_stat_activity WHERE leader_pid = $1 AND backend_type = 'parallel worker'`,
              [pid],
            )
          ).rows.map((r) => r.pid),
        );
      }
      assert.equal(workers.length, 2, 'the server started two parallel workers');
      const reply = (await ask(app, slack, 'app:lst-parallel')).reply;
      assert.deepEqual(pidsOf(reply), [pid], allText(reply));
      assert.match(rowFor(reply, pid).text, /\+2 parallel workers/);
      await admin(db.url, (c) => c.query('SELECT pg_cancel_backend($1)', [pid]));
      await running;
    } finally {
      await leader.end().catch(() => undefined);
    }
  });
});

describe('listing filters', () => {
  let a: SleepSession;
  let b: SleepSession;
  let c: Awaited<ReturnType<typeof idleInTransactionLockHolder>>;
  let ours: number[];
  const mine = (reply: Reply) => pidsOf(reply).filter((pid) => ours.includes(pid));

  before(async () => {
    a = await sleepSession(db.url, { seconds: 120, application: 'flt-a' });
    await sleep(2100);
    b = await sleepSession(asRole(db2.url, otherRole, otherPassword), { seconds: 120, application: 'flt-b' });
    c = await idleInTransactionLockHolder(db.url, 't3', { application: 'flt-c' });
    ours = [a.pid, b.pid, c.pid];
  });
  after(async () => {
    await Promise.all([a?.end(), b?.end(), c?.end()]);
  });

  test('min: keeps only sessions at least that old', async () => {
    assert.deepEqual(mine((await ask(app, slack, 'min:2s')).reply), [a.pid]);
    const all = mine((await ask(app, slack, 'min:0s')).reply);
    assert.deepEqual([...all].sort(), [...ours].sort());
    assert.equal(all[0], a.pid, 'the oldest first');
    assert.equal(mine((await ask(app, slack, 'min:1h')).reply).length, 0);
  });

  test('db:, user: and app: each narrow the listing to the sessions that match', async () => {
    const byDb = (await ask(app, slack, `db:${db2.name}`)).reply;
    assert.deepEqual(mine(byDb), [b.pid]);
    assert.ok(rowsOf(byDb).every((r) => r.text.includes(` · db ${db2.name} · `)));

    const byUser = (await ask(app, slack, `user:${otherRole}`)).reply;
    assert.deepEqual(pidsOf(byUser), [b.pid]);

    const byApp = (await ask(app, slack, 'app:flt-a')).reply;
    assert.deepEqual(pidsOf(byApp), [a.pid]);
    assert.match(allText(byApp), /filters app:flt-a/);

    assert.deepEqual(pidsOf((await ask(app, slack, `db:${db.name} user:${otherRole}`)).reply), []);
  });

  test('state:idle-in-transaction shows only sessions idle in a transaction', async () => {
    const reply = (await ask(app, slack, 'state:idle-in-transaction')).reply;
    assert.deepEqual(mine(reply), [c.pid]);
    assert.ok(rowsOf(reply).every((r) => r.text.includes('*idle in transaction* for')));
  });

  test('limit: caps the rows and says how many more matched', async () => {
    const reply = (await ask(app, slack, `db:${db.name} limit:1`)).reply;
    assert.deepEqual(pidsOf(reply), [a.pid], 'the longest-running one');
    assert.equal(reply.blocks[0]?.text?.text, 'Sessions on default — 2 matches');
    assert.match(allText(reply), /1 more not shown — narrow with/);
  });

  test('bad values answer with what is wrong and the usage, and list nothing', async () => {
    const cases: Array<[string, RegExp]> = [
      ['limit:0', /limit: must be a whole number from 1 to 200, got “0”/],
      ['limit:201', /limit: must be a whole number from 1 to 200/],
      ['min:abc', /min: needs a duration like 30s/],
      ['state:bogus', /state: must be one of active, idle, idle-in-transaction/],
      ['frobnicate', /Unknown word “frobnicate”/],
      [`db:${db.name} sideways`, /Unknown word “sideways” for top/],
      ['db:', /db: needs a value/],
    ];
    for (const [text, message] of cases) {
      const reply = (await ask(app, slack, text)).reply;
      assert.match(reply.blocks[0]?.text?.text ?? '', /^:warning: /, text);
      assert.match(allText(reply), message, text);
      assert.match(allText(reply), /\*Usage:\*/, text);
      assert.deepEqual(pidsOf(reply), [], text);
      assert.ok(!reply.blocks.some((bk) => bk.type === 'header' && /Sessions on/.test(bk.text?.text ?? '')), text);
    }
  });

  test('values that look like SQL injection match nothing and break nothing', async () => {
    for (const text of [
      `db:"x' OR '1'='1"`,
      `user:"postgres' --"`,
      `app:"'; DROP TABLE t1; --"`,
      `db:"${db.name}' OR datname IS NOT NULL OR '"`,
    ]) {
      const reply = (await ask(app, slack, text)).reply;
      assert.deepEqual(pidsOf(reply), [], text);
      assert.match(allText(reply), /No sessions match/, text);
    }
    const tables = await admin(
      db.url,
      async (cl) => (await cl.query(`SELECT count(*)::int AS n FROM pg_tables WHERE tablename = 't1'`)).rows[0].n,
    );
    assert.equal(tables, 1);
    assert.deepEqual(mine((await ask(app, slack, 'app:flt-a')).reply), [a.pid], 'still answering');
  });

  test('injection-looking values in cluster: and in terminate-all filters are names, never SQL', async () => {
    assert.match(allText((await ask(app, slack, `cluster:"x' OR '1'='1"`)).reply), /Unknown cluster/);
    for (const text of [
      `terminate-all db:"x' OR '1'='1" maintenance`,
      `terminate-all db:${db.name} user:"postgres' OR '1'='1" maintenance`,
      `terminate-all db:${db.name} app:"x' OR application_name IS NOT NULL OR '" maintenance`,
    ]) {
      assert.match(allText((await ask(app, slack, text)).reply), /No sessions match: nothing to terminate/, text);
    }
    assert.equal(
      slack.callsTo('chat.postMessage').filter((c) => c.params.channel !== AUDIT_CHANNEL).length,
      0,
      'no request was posted',
    );
    assert.deepEqual(mine((await ask(app, slack, 'app:flt-a')).reply), [a.pid], 'every session is still there');
  });
});

test('blocking shows the root blocker first with how many it blocks, then its waiters and theirs', async () => {
  const root = await idleInTransactionLockHolder(db.url, 't1', { application: 'blk-root' });
  const sessions: Array<{ end(): Promise<void> }> = [root];
  try {
    // middle holds t2 and waits for t1; leaf waits for t2 behind middle.
    const middle = await blockedQuery(db.url, 't1', {
      application: 'blk-middle',
      statement: 'BEGIN; LOCK TABLE t2 IN ACCESS EXCLUSIVE MODE; LOCK TABLE t1 IN ACCESS EXCLUSIVE MODE',
    });
    sessions.push(middle);
    const leaf = await blockedQuery(db.url, 't2', { application: 'blk-leaf' });
    sessions.push(leaf);
    assert.deepEqual(leaf.blockedBy, [middle.pid]);

    const { reply } = await ask(app, slack, 'blocking');
    assert.equal(reply.blocks[0]?.text?.text, 'Lock waits on default');
    const rows = rowsOf(reply);
    assert.deepEqual(
      rows.map((r) => r.pid),
      [root.pid, middle.pid, leaf.pid],
      allText(reply),
    );
    assert.match(rows[0]!.text, /^:lock: \*pid \d+\*/);
    assert.match(rows[0]!.text, /\*blocks 2 sessions\*/);
    assert.match(rows[1]!.text, /^↳ \*pid/);
    assert.match(rows[1]!.text, new RegExp(`blocked by ${root.pid} · blocks 1 more`));
    assert.match(rows[2]!.text, /^\u2003↳ \*pid/);
    assert.match(rows[2]!.text, new RegExp(`blocked by ${middle.pid}(?!\\d)`));
    // Ending a plain waiter frees nothing: the root has Terminate (an idle-in-transaction one has no Cancel),
    // and the middle one, waiting for ACCESS EXCLUSIVE with a session queued behind it, is a lock-queue
    // head: cancelling it frees the queue, so it alone among the waiters offers Cancel.
    assert.deepEqual(
      rows.map((r) => r.buttons.map((b) => b.label)),
      [['Terminate'], ['Cancel'], []],
    );
    assert.match(rows[1]!.text, /lock-queue head/);
    assert.match(allText(reply), /1 root blocker, 2 waiting sessions/);
  } finally {
    for (const s of sessions.reverse()) await s.end();
  }
  const quiet = (await ask(app, slack, 'blocking')).reply;
  assert.match(allText(quiet), /Nothing is waiting on a lock/);
});

test('replication lists a walsender by its application_name, and the default listing does not', async () => {
  const ws = await walsender(db.url, { application: `standby-${suffix}` });
  try {
    const { reply } = await ask(app, slack, 'replication');
    const text = allText(reply);
    assert.match(text, new RegExp(`\\*standby-${suffix}\\* · pid ${ws.pid} · user postgres`));
    assert.match(text, new RegExp(`slot ${ws.slot}`));
    const section = reply.blocks.find((bk) => bk.text?.text.includes(`pid ${ws.pid}`));
    assert.equal(section?.accessory?.action_id, 'pgs_terminate_walsender');
    assert.match(text, /standby reconnects/);

    for (const listing of ['limit:200', 'state:active limit:200', `app:standby-${suffix}`]) {
      assert.ok(!pidsOf((await ask(app, slack, listing)).reply).includes(ws.pid), listing);
    }
  } finally {
    await ws.end();
  }
});

test('help and status show the usage and warn that the role is a superuser', async () => {
  for (const word of ['help', 'status']) {
    const { reply } = await ask(app, slack, word);
    const text = allText(reply);
    assert.match(text, /\*Usage:\*/);
    assert.match(text, /\/pgsessions blocking/);
    assert.match(text, /\*default\* — PostgreSQL \d+(\.\d+)?.*, role `postgres`/);
    assert.match(text, /:warning: The role is a \*superuser\*/);
  }
});

describe('a least-privilege role', () => {
  const monitor = `lst_mon_${suffix}`;
  const nobody = `lst_none_${suffix}`;
  let monApp: TestApp;
  let noneApp: TestApp;

  before(async () => {
    await admin(serverUrl(), async (c) => {
      await c.query(`CREATE ROLE ${monitor} LOGIN PASSWORD 'mon-pw' IN ROLE pg_monitor, pg_signal_backend`);
      await c.query(`CREATE ROLE ${nobody} LOGIN PASSWORD 'none-pw'`);
    });
    const env = (role: string, pw: string) => baseEnv(asRole(db.url, role, pw), slack, { STATE_DATABASE_URL: db.url });
    [monApp, noneApp] = await Promise.all([startTestApp(env(monitor, 'mon-pw')), startTestApp(env(nobody, 'none-pw'))]);
  });
  after(async () => {
    await Promise.all([monApp?.stop(), noneApp?.stop()]);
    await admin(serverUrl(), (c) => c.query(`DROP ROLE IF EXISTS ${monitor}; DROP ROLE IF EXISTS ${nobody}`));
  });

  test('with pg_monitor and pg_signal_backend: status says it sees every query and can signal, and it lists other roles’ queries', async () => {
    const text = allText((await ask(monApp, slack, 'status')).reply);
    assert.match(text, new RegExp(`role \`${monitor}\``));
    assert.match(text, /:white_check_mark: Sees every session’s query text/);
    assert.match(text, /:white_check_mark: Can cancel and terminate other roles’ sessions/);
    assert.doesNotMatch(text, /superuser\*/);
    assert.doesNotMatch(text, /:x:/);
    await withSessions(
      // Another ordinary role's session: a superuser's could never be signalled by this role (no buttons).
      async () => [
        await sleepSession(asRole(db.url, otherRole, otherPassword), { seconds: 120, application: 'lp-sleeper' }),
      ],
      async ([s]) => {
        const row = rowFor((await ask(monApp, slack, 'app:lp-sleeper')).reply, s.pid);
        assert.match(row.text, /`SELECT pg_sleep\(120\)`/);
        assert.deepEqual(
          row.buttons.map((b) => b.label),
          ['Cancel', 'Terminate'],
        );
      },
    );
  });

  test('with neither role: status says what it cannot do, and listing still works', async () => {
    const text = allText((await ask(noneApp, slack, 'status')).reply);
    assert.match(text, new RegExp(`role \`${nobody}\``));
    assert.match(text, /:x: No `pg_read_all_stats` \(or `pg_monitor`\): sessions of other roles are not listed at all/);
    assert.match(text, /:x: No `pg_signal_backend`: cannot cancel or terminate sessions of other roles/);
    await withSessions(
      async () => [await sleepSession(db.url, { seconds: 120, application: 'np-sleeper' })],
      async ([s]) => {
        const reply = (await ask(noneApp, slack, 'limit:200')).reply;
        assert.match(reply.blocks[0]?.text?.text ?? '', /^Sessions on default/, allText(reply));
        // pg_stat_activity hides other roles' sessions from it entirely — and the listing says so.
        assert.ok(!pidsOf(reply).includes(s.pid));
        assert.match(allText(reply), /\d+ sessions? of other roles cannot be seen: grant `pg_monitor`/);
      },
    );
  });
});

describe('sessions that may not be killed get no buttons', () => {
  test('protected roles and applications are listed without buttons, others keep theirs', async () => {
    const protectedApp = await startTestApp(
      baseEnv(db.url, slack, {
        PGSESSIONS_PROTECTED_ROLES: `someone_else, ${otherRole}`,
        PGSESSIONS_PROTECTED_APPS: 'prot-app',
      }),
    );
    try {
      await withSessions(
        async () => [
          await sleepSession(asRole(db.url, otherRole, otherPassword), { seconds: 120, application: 'prot-by-role' }),
          await sleepSession(db.url, { seconds: 120, application: 'prot-app' }),
          await sleepSession(db.url, { seconds: 120, application: 'prot-free' }),
        ],
        async ([byRole, byApp, free]) => {
          const reply = (await ask(protectedApp, slack, `db:${db.name}`)).reply;
          assert.deepEqual(rowFor(reply, byRole.pid).buttons, []);
          assert.deepEqual(rowFor(reply, byApp.pid).buttons, []);
          assert.deepEqual(
            rowFor(reply, free.pid).buttons.map((b) => b.label),
            ['Cancel', 'Terminate'],
          );
        },
      );
    } finally {
      await protectedApp.stop();
    }
  });

  test('PGSESSIONS_READ_ONLY=true lists sessions with no buttons anywhere and says so in help', async () => {
    const readOnly = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_READ_ONLY: 'true' }));
    try {
      await withSessions(
        async () => [
          await sleepSession(db.url, { seconds: 120, application: 'ro-sleeper' }),
          await idleInTransactionLockHolder(db.url, 't1', { application: 'ro-holder' }),
        ],
        async ([s, h]) => {
          for (const text of [`db:${db.name}`, 'blocking']) {
            const reply = (await ask(readOnly, slack, text)).reply;
            assert.deepEqual(killButtons(reply), [], text);
          }
          const reply = (await ask(readOnly, slack, `db:${db.name}`)).reply;
          assert.deepEqual([rowFor(reply, s.pid).buttons, rowFor(reply, h.pid).buttons], [[], []]);
          assert.match(allText((await ask(readOnly, slack, 'help')).reply), /Read-only mode/);
        },
      );
    } finally {
      await readOnly.stop();
    }
  });
});

test('a listing of 60+ sessions stays within Slack’s limits and says how many more were not shown', async () => {
  const sessions: SleepSession[] = [];
  try {
    for (let batch = 0; batch < 4; batch++) {
      sessions.push(
        ...(await Promise.all(
          Array.from({ length: 16 }, () => sleepSession(db.url, { seconds: 120, application: 'many' })),
        )),
      );
    }
    for (const [text, shownRows] of [
      [`app:many`, 20],
      [`app:many limit:200`, 23],
    ] as const) {
      const { reply } = await ask(app, slack, text);
      assert.ok(reply.blocks.length <= LIMITS.blocksPerMessage, `${reply.blocks.length} blocks`);
      assert.ok(reply.text.length <= LIMITS.fallbackText);
      for (const block of reply.blocks) {
        if (block.text) assert.ok(block.text.text.length <= LIMITS.sectionText);
        for (const e of block.elements ?? []) if (e.value) assert.ok(e.value.length <= LIMITS.buttonValue);
      }
      assert.equal(reply.blocks[0]?.text?.text, 'Sessions on default — 64 matches');
      assert.equal(rowsOf(reply).length, shownRows, text);
      const footer = reply.blocks.find(
        (b) => b.type === 'context' && /more not shown/.test(String(b.elements?.[0]?.text)),
      );
      assert.equal(
        footer?.elements?.[0]?.text,
        `${64 - shownRows} more not shown — narrow with db:, user:, min: or limit:`,
      );
    }
  } finally {
    await Promise.all(sessions.map((s) => s.end()));
  }
});

describe('several clusters from a clusters file, one of them down', () => {
  let multi: TestApp;
  let dir: string;
  const downPassword = `down-pw-${suffix}`;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgsessions-clusters-'));
    const file = join(dir, 'clusters.yml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - name: main',
        `    url: ${db.url}`,
        '  - name: down',
        `    url: postgres://u:${downPassword}@127.0.0.1:1/x`,
        '',
      ].join('\n'),
    );
    multi = await startTestApp(
      baseEnv(db.url, slack, { DATABASE_URL: '', STATE_DATABASE_URL: db.url, PGSESSIONS_CLUSTERS: file }),
    );
  });
  after(async () => {
    await multi?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  test('the app starts and says at start-up that one cluster is unreachable', () => {
    const warn = multi.logs
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .filter((l) => /unreachable at start-up/.test(String(l.msg)));
    assert.deepEqual(
      warn.map((l) => l.cluster),
      ['down'],
      multi.logs.join(''),
    );
  });

  test('cluster:NAME lists that cluster', async () => {
    await withSessions(
      async () => [await sleepSession(db.url, { seconds: 120, application: 'multi-sleeper' })],
      async ([s]) => {
        const reply = (await ask(multi, slack, 'cluster:main app:multi-sleeper')).reply;
        assert.equal(reply.blocks[0]?.text?.text, 'Sessions on main — 1 match');
        assert.equal(rowFor(reply, s.pid).buttons[0]?.target?.cluster, 'main');
      },
    );
  });

  test('an unreachable cluster answers “Cannot reach cluster” at once, without its password, host or port, and the app keeps serving', async () => {
    for (const text of ['cluster:down', 'blocking cluster:down', 'replication cluster:down']) {
      const started = Date.now();
      const { reply, postedAt } = await ask(multi, slack, text);
      assert.ok(postedAt - started < 3000, `${text} took ${postedAt - started} ms`);
      const shown = JSON.stringify(reply);
      assert.match(
        allText(reply),
        /^Cannot reach cluster `down` right now \(the details are in the app log\)\. Nothing was changed\.$/,
        text,
      );
      assert.ok(!shown.includes(downPassword), 'the password is not shown');
      // An ordinary member learns the cluster is down, not where it lives on the network.
      assert.doesNotMatch(shown, /ECONNREFUSED|127\.0\.0\.1|:1\//, text);
    }
    // The log keeps what happened, for the operator.
    assert.ok(
      multi.logs.some((line) => /cluster unreachable or slow/.test(line) && /ECONNREFUSED/.test(line)),
      'the log names the cause',
    );
    const reply = (await ask(multi, slack, 'cluster:main')).reply;
    assert.match(reply.blocks[0]?.text?.text ?? '', /^Sessions on main/);
  });

  test('a bad modifier is refused before any cluster is asked', async () => {
    const reply = (await ask(multi, slack, 'cluster:down limit:0')).reply;
    assert.match(allText(reply), /limit: must be a whole number/);
    assert.doesNotMatch(allText(reply), /Cannot reach/);
  });

  test('an unknown cluster, or none named when there are several, is a clear error', async () => {
    assert.match(
      allText((await ask(multi, slack, 'cluster:nope')).reply),
      /^Unknown cluster `?nope`?\. Known clusters: `main`, `down`\.$/,
    );
    assert.equal(
      allText((await ask(multi, slack, '')).reply),
      'Name a cluster with cluster:NAME — one of `main`, `down`.',
    );
    assert.match(allText((await ask(multi, slack, 'status cluster:nope')).reply), /Unknown cluster `?nope`?\. Known/);
  });

  test('status names every cluster, the unreachable one as such, or just the one asked for', async () => {
    const all = allText((await ask(multi, slack, 'status')).reply);
    assert.match(all, /\*main\* — PostgreSQL/);
    assert.match(all, /\*down\* — :red_circle: unreachable right now\./);
    const one = allText((await ask(multi, slack, 'status cluster:down')).reply);
    assert.match(one, /\*down\* — :red_circle: unreachable/);
    assert.doesNotMatch(one, /\*main\*/);
  });
});
