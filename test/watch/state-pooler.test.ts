// The state database behind a real PgBouncer in TRANSACTION pooling: nothing pgsessions does there may rely
// on a session (no session advisory lock, LISTEN, named prepared statement or session SET). Two replicas,
// each as its own runtime role through the pooler: exactly one leads the cluster; the other writes nothing
// to the incident and rule tables and makes no Slack call about it; stopping the leader hands the cluster to
// the other within the lease, which updates the same alert instead of posting it again; requests and
// approvals go through the pooler too; and migrations applied through it leave no lock behind.
import { after, afterEach, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, serverUrl, type TestDatabase } from '../helpers/pg.js';
import { skipWithoutPgBouncer, startPgBouncer, type PgBouncer } from '../helpers/pgbouncer.js';
import { createRole, type TestRole } from '../helpers/roles.js';
import { startSlackApi, type RecordedCall, type SlackApi } from '../helpers/slack-api.js';
import { blockedQuery, idleInTransactionLockHolder, sleepSession } from '../helpers/sessions.js';
import { APPROVER, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  click,
  fresh,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { alertPosts, incidents, updatesOfMessage, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { waitUntil } from '../helpers/rules.js';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const LEASE_SECONDS = 3;
const TOKENS = { a: 'xoxb-1111-2222-replicaalpha', b: 'xoxb-1111-2222-replicabravo' } as const;

/** Records who writes the watcher's tables: one row per row changed (the sweep's UPDATEs that match nothing are not writes). */
const SQL_RECORD_WRITES = `
  CREATE TABLE public.state_writes (at timestamptz NOT NULL DEFAULT clock_timestamp(), role text NOT NULL, tbl text NOT NULL, op text NOT NULL);
  CREATE FUNCTION public.record_write() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $$
  BEGIN
    INSERT INTO public.state_writes (role, tbl, op) VALUES (session_user, TG_TABLE_NAME, TG_OP);
    RETURN NULL;
  END $$;
  CREATE TRIGGER record_write AFTER INSERT OR UPDATE OR DELETE ON pgsessions.incidents FOR EACH ROW EXECUTE FUNCTION public.record_write();
  CREATE TRIGGER record_write AFTER INSERT OR UPDATE OR DELETE ON pgsessions.watch_summaries FOR EACH ROW EXECUTE FUNCTION public.record_write();
  CREATE TRIGGER record_write AFTER INSERT OR UPDATE OR DELETE ON pgsessions.rules FOR EACH ROW EXECUTE FUNCTION public.record_write();
  CREATE TRIGGER record_write AFTER INSERT OR UPDATE OR DELETE ON pgsessions.rule_executions FOR EACH ROW EXECUTE FUNCTION public.record_write();`;

describe('the state database behind PgBouncer in transaction pooling', { skip: skipWithoutPgBouncer() }, () => {
  let db: TestDatabase;
  let slack: SlackApi;
  let bouncer: PgBouncer;
  const roles: Record<'a' | 'b', TestRole | null> = { a: null, b: null };
  const apps: Partial<Record<'a' | 'b', TestApp>> = {};
  const sessions = sessionTracker();
  const track = sessions.track;

  before(async () => {
    db = await createTestDatabase('pooler');
    await stateQuery(db.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
    const owner = new pg.Pool({ connectionString: db.url, max: 1 });
    await migrate(owner);
    const client = await owner.connect();
    try {
      for (const name of ['a', 'b'] as const) {
        const role = await createRole({ prefix: `replica_${name}` });
        roles[name] = role;
        const granted = await grantRuntimeRole(client, role.name);
        assert.ok(granted.ok, JSON.stringify(granted));
      }
      await client.query(SQL_RECORD_WRITES);
    } finally {
      client.release();
      await owner.end();
    }
    bouncer = await startPgBouncer({
      serverUrl: serverUrl(),
      poolMode: 'transaction',
      users: Object.fromEntries(Object.values(roles).map((r) => [r!.name, r!.password])),
    });
    slack = await startSlackApi();
  });
  afterEach(() => sessions.endAll());
  after(async () => {
    for (const app of Object.values(apps)) await app?.stop().catch(() => undefined);
    await bouncer?.stop();
    await slack?.close();
    await db?.drop();
    for (const role of Object.values(roles)) await role?.drop().catch(() => undefined);
  });

  const stateUrl = (name: 'a' | 'b') =>
    bouncer.url(db.name, { name: roles[name]!.name, password: roles[name]!.password });
  const start = async (name: 'a' | 'b') => {
    // The watched cluster is reached directly; only the state database is behind the pooler.
    const env = baseEnv(db.url, slack, watchEnv({ STATE_DATABASE_URL: stateUrl(name), SLACK_BOT_TOKEN: TOKENS[name] }));
    apps[name] = await startTestApp(env, { watchUpdateGapSeconds: 1, watchLeaseSeconds: LEASE_SECONDS });
    return apps[name]!;
  };
  const writesBy = async (name: 'a' | 'b') =>
    stateQuery<{ tbl: string; op: string }>(db.url, 'SELECT tbl, op FROM public.state_writes WHERE role = $1', [
      roles[name]!.name,
    ]);
  /**
   * Every Slack call a replica made about the watched cluster (its watch channel), but the start-up check
   * every replica makes of the channels it may post to (conversations.info: it reads, never posts).
   */
  const watchCallsBy = (name: 'a' | 'b'): RecordedCall[] =>
    slack.calls.filter(
      (c) => c.token === TOKENS[name] && c.params.channel === WATCH_CHANNEL && c.method !== 'conversations.info',
    );
  const lease = async () =>
    (
      await stateQuery<{ holder: string; token: string }>(
        db.url,
        `SELECT holder, token::text AS token FROM pgsessions.watch_leases WHERE cluster = 'default' AND expires_at > now()`,
      )
    )[0];

  test('two replicas through the pooler: one leads, the other writes nothing and says nothing; stopping the leader hands over without a second post', async () => {
    await start('a');
    await start('b');
    const holder = track(await idleInTransactionLockHolder(db.url, 'orders'));
    track(await blockedQuery(db.url, 'orders'));
    const [post] = await slack.waitFor(() => (alertPosts(slack).length > 0 ? alertPosts(slack) : undefined), {
      timeoutMs: 15_000,
      description: 'the alert',
    });
    const leader = post!.token === TOKENS.a ? 'a' : 'b';
    const follower = leader === 'a' ? 'b' : 'a';
    await sleep(3_000); // a few looks of each replica (1 s interval), a full lease of renewals
    assert.equal(alertPosts(slack).length, 1, 'one alert however many replicas');
    assert.ok(
      (await writesBy(leader)).some((w) => w.tbl === 'incidents'),
      'the leader wrote the incident (the recorder works)',
    );
    assert.deepEqual(await writesBy(follower), [], 'the follower wrote nothing to the incident and rule tables');
    assert.deepEqual(watchCallsBy(follower), [], 'the follower made no Slack call about the cluster');
    const first = await lease();
    assert.ok(first);

    // The leader stops (its app, as a deploy would): the other replica takes the cluster within the lease.
    await apps[leader]!.stop();
    delete apps[leader];
    const stoppedAt = Date.now();
    const second = await waitUntil(
      'the follower to lead',
      async () => {
        const l = await lease();
        return l && l.holder !== first.holder ? l : undefined;
      },
      15_000,
    );
    const took = Date.now() - stoppedAt;
    assert.ok(took <= LEASE_SECONDS * 1000 + 5_000, `taken over in ${took} ms (lease ${LEASE_SECONDS} s)`);
    assert.equal(BigInt(second.token), BigInt(first.token) + 1n, 'a new term');

    // The new leader goes on with the same message: nothing is posted twice.
    const [row] = (await incidents(db.url)).filter((i) => i.status === 'open' && i.key.includes(`${holder.pid}:`));
    assert.ok(row?.message_ts);
    track(await blockedQuery(db.url, 'orders'));
    await slack.waitFor(
      () =>
        updatesOfMessage(slack, row.message_ts!).find(
          (u) => u.token === TOKENS[follower] && /2 sessions wait/.test(textOf(u.params)),
        ),
      {
        timeoutMs: 15_000,
        description: 'the new leader updating the same message',
      },
    );
    assert.equal(alertPosts(slack).length, 1, 'not posted again after the leader change');
    assert.ok(
      (await writesBy(follower)).some((w) => w.tbl === 'incidents'),
      'the new leader writes now',
    );
  });

  test('a request and its approval go through the pooler, audited', async () => {
    const app = apps.a ?? apps.b ?? (await start('a'));
    const channel = fresh('C');
    const victim = track(await sleepSession(db.url, { seconds: 120 }));
    const { id } = await typedRequest(
      slack,
      app.port,
      `cancel ${victim.pid} through the pooler`,
      as(REQUESTER, channel),
    );
    await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
    const row = await waitForStatus(db.url, id, ['executed', 'failed']);
    assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'cancelled' }]);
    const events = (
      await stateQuery<{ event: string }>(
        db.url,
        `SELECT event FROM pgsessions.audit_log WHERE request_id::text = $1 ORDER BY seq`,
        [id],
      )
    ).map((r) => r.event);
    assert.deepEqual(events, ['requested', 'approved', 'executing', 'executed']);
  });

  test('migrations applied through the pooler by two instances at once: each file once, no lock left behind', async () => {
    const fresh = await createTestDatabase('poolmig');
    const owner = (): pg.Pool => new pg.Pool({ connectionString: bouncer.url(fresh.name), max: 2 });
    const [p1, p2] = [owner(), owner()];
    try {
      const [one, two] = await Promise.all([migrate(p1), migrate(p2)]);
      const files = (
        await stateQuery<{ version: string }>(
          fresh.url,
          'SELECT version FROM pgsessions.schema_migrations ORDER BY version',
        )
      ).map((r) => r.version);
      assert.deepEqual([...one, ...two].sort(), files, 'every file applied exactly once between them');
      assert.ok(files.includes('006_leases.sql'));
      const locks = await stateQuery(
        fresh.url,
        `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      assert.deepEqual(locks, [], 'no advisory lock outlives its transaction on a pooled server connection');
    } finally {
      await p1.end();
      await p2.end();
      await fresh.drop();
    }
  });
});
