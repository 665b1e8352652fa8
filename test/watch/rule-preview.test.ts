// A rule's "Would match right now" comes from a fresh read of the cluster, not from the watcher's last look:
// here the watcher looks every 30 s, so when the rule is proposed no alert exists yet, and the preview must
// still name the queued DDL. Real sessions, the real app over signed HTTP, the recorder as Slack.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { blockedQuery, longRead } from '../helpers/sessions.js';
import { OUTSIDER, REQUESTER } from '../helpers/app.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { command, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { incidents, watchEnv } from '../helpers/watch.js';
import { ruleDriver, type RuleDriver } from '../helpers/rules.js';
import { useTestApp } from '../helpers/use-test-app.js';

const CHANNEL = 'CPREVIEW1';

let proxy: SlowProxy;
/** The bot role of cluster `plain`: the README's grants, no superuser. */
let plainBot: TestRole;
const sessions = sessionTracker();
const track = sessions.track;
let rules: RuleDriver;
let env: Record<string, string | undefined>;

const { db, slack, app } = useTestApp({
  database: 'preview',
  async prepare(database, standIn) {
    const c = new pg.Client({ connectionString: database.url });
    await c.connect();
    for (const t of ['orders', 'items', 'guarded', 'admin_only'])
      await c.query(`CREATE TABLE ${t} (id int PRIMARY KEY)`);
    await c.end();
    rules = ruleDriver(
      standIn,
      () => app.port,
      () => db.url,
      CHANNEL,
    );
    // Three clusters on one server: `main` (direct, as the suite's superuser), `plain` (a bot role that is no
    // superuser) and `flaky` (through a proxy that is closed before its rule is proposed).
    plainBot = await createRole({ prefix: 'pvbot', memberOf: ['pg_monitor', 'pg_signal_backend'] });
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
    const via = new URL(database.url);
    via.port = String(proxy.port);
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-preview-'));
    const file = join(dir, 'clusters.yml');
    await writeFile(
      file,
      `clusters:\n  - name: main\n    url: ${database.url}\n  - name: plain\n    url: ${plainBot.url(database.url)}\n  - name: flaky\n    url: ${via.toString()}\n`,
    );
    // OUTSIDER may look at sessions but not request: the attacker of the "refused before any read" test.
    env = {
      ...watchEnv({
        PGSESSIONS_REQUESTERS: REQUESTER,
        PGSESSIONS_WATCH_INTERVAL: '30s',
        PGSESSIONS_PROTECTED_APPS: 'guarded-migrate',
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: database.url,
      }),
      DATABASE_URL: undefined,
    };
  },
  env: () => env,
});
// After the fixture has stopped the app and dropped the database (which ended the sessions' backends).
after(async () => {
  await sessions.endAll();
  await proxy?.close();
  await plainBot?.drop();
});

/** Proposes as REQUESTER; the text of the posted proposal. */
async function propose(text: string): Promise<string> {
  return textOf((await rules.propose(text, REQUESTER)).post.params);
}

/** A DDL of `application` queued behind a long read on `table`, one reader queued behind the DDL. */
async function lockQueue(table: string, application: string) {
  track(await longRead(db.url, table, { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, table, { statement: `ALTER TABLE ${table} ADD COLUMN c int`, application }),
  );
  track(await blockedQuery(db.url, table, { application: 'puma' }));
  return ddl;
}

test('the preview reads the cluster now: it names the queued DDL before any alert exists, and nothing the rule does not match', async () => {
  // The watcher's first look happens at start-up: wait until it has taken leadership of the clusters
  // (advisory locks) and had time to read, so that the queues below appear only after that look.
  for (let n = 0; n < 100; n++) {
    const [held] = await stateQuery<{ n: string }>(
      db.url,
      "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND granted",
    );
    if (Number(held!.n) >= 3) break;
    await sleep(100);
  }
  await sleep(500);
  const ddl = await lockQueue('orders', 'rails-migrate');
  const other = await lockQueue('items', 'other-migrate');
  const guarded = await lockQueue('guarded', 'guarded-migrate');
  await sleep(1_500); // past the 1 s lock-wait threshold and the rule's waiting:1s
  // The watcher looked once at start-up, before these queues existed; its next look is 30 s away.
  assert.deepEqual(
    (await incidents(db.url)).filter((i) => i.status === 'open'),
    [],
    'no alert is stored yet',
  );

  const text = await propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h cluster:main deploy window');
  assert.match(text, /Would match right now \(1\)/);
  assert.match(text, new RegExp(`would cancel pid ${ddl.pid} · app rails-migrate`));
  assert.match(text, /ALTER TABLE orders ADD COLUMN c int/);
  assert.doesNotMatch(text, new RegExp(`pid ${other.pid}\\b`), 'a DDL of another application is not in the preview');
  assert.doesNotMatch(text, new RegExp(`pid ${guarded.pid}\\b`));

  // A rule naming a protected application could never act: refused. A rule on the whole database shows
  // that it matches the protected application's DDL and will never touch it.
  const refused = await command(
    slack,
    app.port,
    'allow terminate lock-queue-head app:guarded-migrate waiting:1s for:1h cluster:main guarded',
    { user: REQUESTER, channel: CHANNEL },
  );
  assert.match(refused.text, /Application guarded-migrate is protected/);
  const database = new URL(db.url).pathname.slice(1);
  const protectedText = await propose(
    `terminate lock-queue-head db:${database} waiting:1s for:1h cluster:main the whole database`,
  );
  assert.match(
    protectedText,
    new RegExp(
      `never touched: protected — a protected role or application[^·]*; pid ${guarded.pid} · app guarded-migrate`,
    ),
  );
  assert.match(protectedText, new RegExp(`would terminate pid ${ddl.pid} · app rails-migrate`));
  assert.doesNotMatch(protectedText, new RegExp(`would terminate pid ${guarded.pid}\\b`));

  // Proposing read; it did not act: the DDLs still wait.
  const waiting = await stateQuery<{ pid: number }>(
    db.url,
    "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'ALTER TABLE%'",
  );
  assert.deepEqual(waiting.map((w) => w.pid).sort(), [ddl.pid, other.pid, guarded.pid].sort());
});

test('someone who may not request cannot make the bot read the cluster: a proposal is refused before any read', async () => {
  // The preview reads through the watcher's one connection to `plain` (its own role): the latest query_start
  // of that role's connections moves with each read (each read ends with its COMMIT). The watcher itself
  // looks again only 30 s after start-up; the reserved connection's `SELECT 1` checks are left out.
  const lastRead = async () =>
    (
      await stateQuery<{ query_start: string }>(
        db.url,
        "SELECT max(query_start)::text AS query_start FROM pg_stat_activity WHERE usename = $1 AND query <> 'SELECT 1'",
        [plainBot.name],
      )
    )[0]?.query_start;
  const before = await lastRead();
  assert.ok(before, 'the watcher of `plain` has read once');
  for (let n = 0; n < 5; n++) {
    const refused = await command(
      slack,
      app.port,
      'allow cancel lock-queue-head app:probe waiting:1s for:1h cluster:plain probing',
      { user: OUTSIDER, channel: CHANNEL },
    );
    assert.match(refused.text, /not allowed to request/);
  }
  assert.equal(await lastRead(), before, 'no read for a refused proposal');
  const probes = async () =>
    (
      await stateQuery<{ n: number }>(
        db.url,
        "SELECT count(*)::int AS n FROM pgsessions.rules WHERE spec->'filters'->>'application' = 'probe'",
      )
    )[0]!.n;
  assert.equal(await probes(), 0, 'nothing stored');
  await propose('cancel lock-queue-head app:probe waiting:1s for:1h cluster:plain allowed');
  assert.notEqual(await lastRead(), before, 'an allowed proposal reads the cluster now');
  assert.equal(await probes(), 1);
});

test('a session the bot role may not signal (a superuser\u2019s) is shown as never touched', async () => {
  // The DDL runs as the suite's superuser; cluster `plain` reads the same server as a role that is none.
  const ddl = await lockQueue('admin_only', 'su-migrate');
  await sleep(1_500);
  const text = await propose(
    'cancel lock-queue-head app:su-migrate waiting:1s for:1h cluster:plain superuser migration',
  );
  assert.match(
    text,
    new RegExp(
      `never touched: protected — a superuser's session: the bot's role cannot signal it; pid ${ddl.pid} · app su-migrate`,
    ),
  );
  assert.doesNotMatch(text, /would cancel/);
  // The same session seen through the superuser bot of `main` is one the rule would cancel.
  const asSuper = await propose(
    'cancel lock-queue-head app:su-migrate waiting:1s for:1h cluster:main superuser migration',
  );
  assert.match(asSuper, new RegExp(`would cancel pid ${ddl.pid} · app su-migrate`));
});

test('when the cluster cannot be read, the rule is still proposed and the preview says why, naming no host or port', async () => {
  const port = proxy.port;
  await proxy.close();
  const text = await propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h cluster:flaky deploy window');
  assert.match(
    text,
    /Would match right now:\* could not be read \(the cluster could not be reached \(ECONNREFUSED\)\)/,
  );
  assert.doesNotMatch(text, new RegExp(`127\\.0\\.0\\.1|localhost|:${port}\\b`));
  const [row] = await stateQuery<{ status: string }>(
    db.url,
    "SELECT status FROM pgsessions.rules WHERE cluster = 'flaky'",
  );
  assert.equal(row?.status, 'proposed');
});
