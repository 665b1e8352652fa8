// Authority the state database's role cannot forge (issue 15), played as the attacker: production set-up
// (owner role migrates, runtime role runs the app, PGSESSIONS_AUDIT_KEY set), and someone who holds only the
// runtime role's password — or, where the grants stop them, the owner's (today's single-role quick start),
// where the key and the binding are what is left. Nobody approving means nothing is signalled; each forgery
// is audited as tampering_detected and posted to the audit channel.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { migrate } from '../../src/postgres/migrate.js';
import { grantRuntimeRole } from '../../src/postgres/state-grants.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER, BOT_TOKEN, REQUESTER, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  click,
  command,
  fresh,
  sessionTracker,
  sleep,
  stateQuery,
  typedRequest,
} from '../helpers/approval-flow.js';
import { createTestDatabase, type TestDatabase, withRole } from '../helpers/pg.js';
import { asSuperuser } from '../helpers/roles.js';
import { ruleDriver, waitUntil } from '../helpers/rules.js';
import { idleInTransactionLockHolder, sessionAlive, sleepSession, waitUntilGone } from '../helpers/sessions.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { watchEnv } from '../helpers/watch.js';

const execFileAsync = promisify(execFile);
const KEY = randomBytes(32).toString('base64');
const suffix = randomBytes(4).toString('hex');
const OWNER = `pgs_bowner_${suffix}`;
const RUNTIME = `pgs_bruntime_${suffix}`;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;
const AUDIT = 'CAUDBIND';
const RULES = 'CRULESBIND';
const SPEC = (app: string) =>
  JSON.stringify({
    action: 'terminate',
    cause: 'idle-in-transaction',
    filters: { application: app },
    thresholds: { idleSeconds: 1 },
    lifetimeSeconds: 3600,
    maxExecutions: 5,
    dryRun: false,
    reason: 'forged',
  });

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let ownerUrl: string;
let runtimeUrl: string;
const sessions = sessionTracker();

const urlAs = (url: string, role: string): string => withRole(url, role, PASSWORD);

/** One statement (or a few) on a connection of its own: the attacker's. */
async function as_(url: string, work: (c: pg.Client) => Promise<void>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await work(c);
  } finally {
    await c.end();
  }
}

async function tamperings(
  id: string,
): Promise<Array<{ seq: number; details: { stage: string; reason: string; subject: string } }>> {
  return stateQuery(
    db.url,
    "SELECT seq::int AS seq, details FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1 ORDER BY seq",
    [id],
  );
}

function postedToAudit(pattern: RegExp): boolean {
  return slack
    .callsTo('chat.postMessage')
    .some((c) => c.params.channel === AUDIT && !c.fault && pattern.test(JSON.stringify(c.params)));
}

before(async () => {
  slack = await startSlackApi();
  await asSuperuser(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await asSuperuser(`CREATE ROLE ${RUNTIME} LOGIN PASSWORD '${PASSWORD}'`);
  db = await createTestDatabase('binding');
  await asSuperuser(`GRANT CREATE ON DATABASE ${db.name} TO ${OWNER}`);
  ownerUrl = urlAs(db.url, OWNER);
  runtimeUrl = urlAs(db.url, RUNTIME);
  await as_(db.url, (c) => c.query('CREATE TABLE orders (id int PRIMARY KEY)').then(() => undefined));
  // `npm run migrate`, in-process: the owner applies the migrations and grants the runtime role.
  const owner = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  try {
    await migrate(owner);
    const client = await owner.connect();
    try {
      const granted = await grantRuntimeRole(client, RUNTIME);
      assert.ok(granted.ok, JSON.stringify(granted));
    } finally {
      client.release();
    }
  } finally {
    await owner.end();
  }
  app = await startTestApp(
    baseEnv(
      db.url,
      slack,
      watchEnv({ STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_AUDIT_KEY: KEY, PGSESSIONS_AUDIT_CHANNEL: AUDIT }),
    ),
    { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  );
});
afterEach(async () => {
  await stateQuery(
    db.url,
    "UPDATE pgsessions.rules SET status = 'revoked', ended_at = now() WHERE status IN ('proposed', 'approved')",
  );
  await sessions.endAll();
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await asSuperuser(`DROP ROLE IF EXISTS ${RUNTIME}`);
  await asSuperuser(`DROP ROLE IF EXISTS ${OWNER}`);
});

test('(a) a rule the runtime role writes as approved, with an invented proposer and approver, signals nothing: tampering_detected is audited and posted', async () => {
  const victim = sessions.track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'victim-a' }),
  );
  let id = '';
  await as_(runtimeUrl, async (c) => {
    // In one statement, as approved: the grants do not even let it name those columns.
    await assert.rejects(
      c.query(
        `INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, proposer, approver, status, channel, proposal_expires_at, lifetime_seconds, max_executions, approved_at, expires_at)
         VALUES ('default', $1::jsonb, 'terminate', 'idle-in-transaction', 'forged', 'UINVENTED1', 'UINVENTED2', 'approved', 'C', now() + interval '1 hour', 3600, 5, now(), now() + interval '1 hour')`,
        [SPEC('victim-a')],
      ),
      /permission denied/,
    );
    // In two: a proposal, then the approval the app would write — with a binding made up without the key.
    const { rows } = await c.query(
      `INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, proposer, channel, proposal_expires_at, lifetime_seconds, max_executions)
       VALUES ('default', $1::jsonb, 'terminate', 'idle-in-transaction', 'forged', 'UINVENTED1', 'C', now() + interval '1 hour', 3600, 5) RETURNING id::text AS id`,
      [SPEC('victim-a')],
    );
    id = rows[0].id;
    await c.query(
      `UPDATE pgsessions.rules SET status = 'approved', approver = 'UINVENTED2', approved_at = now(), expires_at = now() + interval '1 hour',
         binding = 'hmac-sha256:0000000000000000:' || repeat('ab', 32) WHERE id = $1`,
      [id],
    );
  });
  const found = await waitUntil('the forged rule is reported', async () => (await tamperings(id))[0], 20_000);
  assert.equal(found.details.subject, 'rule');
  await sleep(3_000); // several more looks of the watcher
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the victim is alive');
  assert.equal(
    (await stateQuery(db.url, 'SELECT 1 FROM pgsessions.rule_executions WHERE rule_id = $1', [id])).length,
    0,
    'not even claimed',
  );
  assert.equal((await tamperings(id)).length, 1, 'reported once, not on every look');
  await slack.waitFor(() => postedToAudit(new RegExp(`tampering_detected[\\s\\S]*${id}`)), {
    description: 'the tampering in the audit channel',
  });
});

test('(b) a real rule acts; once revoked the runtime role cannot revive, widen or extend it, and an owner who does is caught by the binding', async () => {
  const rules = ruleDriver(
    slack,
    () => app.port,
    () => db.url,
    RULES,
  );
  const { id } = await rules.propose(
    'terminate idle-in-transaction app:victim-b idle:1s for:1h max:5 stale transactions',
    REQUESTER,
  );
  const approved = await rules.approve(id, APPROVER);
  assert.match(approved, /Rule approved/, app.logs.filter((l) => /"level":50/.test(l)).join('\n'));
  // The normal path still signals, under the key and the runtime role.
  const first = sessions.track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'victim-b' }),
  );
  await waitUntilGone(db.url, first.pid, 20_000);

  await as_(runtimeUrl, async (c) => {
    await assert.rejects(
      c.query(
        'UPDATE pgsessions.rules SET spec = jsonb_set(spec, \'{filters}\', \'{"database": "x"}\') WHERE id = $1',
        [id],
      ),
      /permission denied/,
    );
    await assert.rejects(
      c.query('UPDATE pgsessions.rules SET max_executions = 1000 WHERE id = $1', [id]),
      /permission denied/,
    );
    await assert.rejects(
      c.query("UPDATE pgsessions.rules SET expires_at = now() + interval '10 years' WHERE id = $1", [id]),
      /approval is written once|rules_expiry_bounded/,
    );
  });
  assert.match(await rules.press(ACTION.ruleRevoke, id, APPROVER), /revoked/i);
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(
      c.query("UPDATE pgsessions.rules SET status = 'approved', ended_at = NULL WHERE id = $1", [id]),
      /revoked -> approved refused/,
    );
  });

  // The owner (or a single-role set-up) can get past grants and triggers: revive it and stretch its expiry.
  await as_(ownerUrl, async (c) => {
    await c.query(
      "UPDATE pgsessions.rules SET status = 'approved', ended_at = NULL, ended_by = NULL, expires_at = expires_at + interval '1 hour' WHERE id = $1",
      [id],
    );
    await assert.rejects(
      c.query("UPDATE pgsessions.rules SET expires_at = now() + interval '10 years' WHERE id = $1", [id]),
      /rules_expiry_bounded/,
    );
  });
  const second = sessions.track(
    await idleInTransactionLockHolder(db.url, 'orders', { statement: 'SELECT 1', application: 'victim-b' }),
  );
  await waitUntil('the stretched rule is reported', async () => (await tamperings(id)).length > 0, 20_000);
  await sleep(3_000);
  assert.equal(await sessionAlive(db.url, second.pid, second.backendStart), true, 'the revived rule touched nobody');
  assert.equal((await rules.executions(id)).length, 1, 'only the execution before the revoke');
});

test('(c) targets rewritten while pending: the approver’s click kills nothing; rewritten after the approval, the executor signals nothing; both audited', async () => {
  const channel = fresh('C');
  const asked = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'asked-c' }));
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'victim-c' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${asked.pid} binding check`, as(REQUESTER, channel));
  const rewrite = `UPDATE pgsessions.requests SET targets = jsonb_set(jsonb_set(targets, '{0,pid}', to_jsonb($2::int)), '{0,backendStart}', to_jsonb($3::text)) WHERE id = $1`;
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(c.query(rewrite, [id, victim.pid, victim.backendStart]), /permission denied/);
  });
  await as_(ownerUrl, async (c) => {
    await c.query(rewrite, [id, victim.pid, victim.backendStart]);
  });
  const clicked = await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  assert.equal(clicked.status, 200);
  assert.match(await clicked.reply(), /changed in the state database/);
  await sleep(1_000);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the victim is alive');
  assert.equal(await sessionAlive(db.url, asked.pid, asked.backendStart), true);
  const [row] = await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.requests WHERE id = $1', [
    id,
  ]);
  assert.equal(row!.status, 'pending', 'not approved');
  assert.deepEqual(
    (await tamperings(id)).map((t) => t.details.stage),
    ['approval'],
  );
  await slack.waitFor(() => postedToAudit(new RegExp(`tampering_detected[\\s\\S]*${id}`)), {
    description: 'the tampering in the audit channel',
  });

  // Between approval and execution (store level: the executor's own check, on the row it would signal).
  const pool = new pg.Pool({ connectionString: runtimeUrl, max: 2 });
  try {
    const store = createStateStore(pool, { key: Buffer.from(KEY, 'utf8') });
    const request = await store.createRequest({
      cluster: 'default',
      action: 'terminate',
      targets: [
        {
          pid: asked.pid,
          backendStart: asked.backendStart,
          queryStart: null,
          xactStart: null,
          backendType: 'client backend',
          user: null,
          database: null,
          application: 'asked-c',
          client: null,
          state: 'active',
          query: null,
        },
      ],
      reason: 'between approval and execution',
      requester: REQUESTER,
      channel,
      escalateAfterSeconds: null,
      scope: null,
      ttlSeconds: 600,
    });
    assert.equal((await store.approve(request.id, APPROVER)).ok, true);
    await as_(ownerUrl, (c) => c.query(rewrite, [request.id, victim.pid, victim.backendStart]).then(() => undefined));
    const intent = await store.markExecuting(request.id);
    assert.equal(!intent.ok && intent.code, 'tampered');
    assert.deepEqual(
      (await tamperings(request.id)).map((t) => t.details.stage),
      ['execution'],
    );
  } finally {
    await pool.end();
  }
});

test('(d) a junk audit row: at a seq of its choosing it is refused; at a drawn seq it is skipped, the chain still links, and audit:verify reports it and goes on', async () => {
  const insert = `INSERT INTO pgsessions.audit_log (seq, event, details, prev_hash, hash, hash_alg) VALUES ($1, 'refused', '{"why":"junk"}', repeat('0', 64), repeat('1', 64), 'hmac-sha256')`;
  let junk = 0;
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(c.query(insert, ['9000000000000000000']), /not drawn from the sequence|currval/);
    const { rows } = await c.query(`SELECT nextval(pg_get_serial_sequence('pgsessions.audit_log', 'seq'))::int AS seq`);
    junk = rows[0].seq;
    await c.query(insert, [junk]);
  });
  // The owner can switch the check off: its junk sorts after everything.
  await as_(ownerUrl, async (c) => {
    await c.query('ALTER TABLE pgsessions.audit_log DISABLE TRIGGER audit_log_seq_drawn');
    await c.query(insert, ['9000000000000000000']);
    await c.query('ALTER TABLE pgsessions.audit_log ENABLE TRIGGER audit_log_seq_drawn');
  });
  // The app goes on appending (a request and its denial), chained on its own last entry.
  const channel = fresh('C');
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'after-junk' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${s.pid} after the junk`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.deny, id, as(APPROVER, channel));
  await waitUntil(
    'the denial',
    async () =>
      (await stateQuery(db.url, "SELECT 1 FROM pgsessions.audit_log WHERE request_id = $1 AND event = 'denied'", [id]))
        .length > 0,
  );

  const verified = await cli(['src/cli/verify-audit.ts'], {
    STATE_DATABASE_URL: runtimeUrl,
    PGSESSIONS_AUDIT_KEY: KEY,
  });
  assert.equal(verified.code, 1, verified.stdout + verified.stderr);
  const broken = verified.stdout.split('\n').filter((l) => l.startsWith('audit log BROKEN'));
  assert.deepEqual(
    broken.map((l) => l.replace(/:.*/, '')),
    [`audit log BROKEN at entry #${junk}`, 'audit log BROKEN at entry #9000000000000000000'],
    'the two junk rows, and nothing the app wrote after them',
  );
});

test('(e) without PGSESSIONS_AUDIT_KEY, start-up and status say the protection is off', async () => {
  const plain = await createTestDatabase('binding_nokey');
  const other = await startSlackApi();
  const unkeyed = await startTestApp(baseEnv(plain.url, other), { terminateTimeoutMs: 3_000 });
  try {
    assert.match(
      unkeyed.logs.join(''),
      /PGSESSIONS_AUDIT_KEY is not set: whoever holds the state database.s password can approve a kill or a standing rule/,
    );
    const status = await command(other, unkeyed.port, 'status', as(REQUESTER, fresh('C')));
    assert.match(
      JSON.stringify(status.body),
      /PGSESSIONS_AUDIT_KEY is not set: whoever holds the state database.s password can approve a kill/,
    );
    const keyed = await command(slack, app.port, 'status', as(REQUESTER, fresh('C')));
    assert.match(JSON.stringify(keyed.body), /Every approval is \*bound\* to the key/);
  } finally {
    await unkeyed.stop();
    await other.close();
    await plain.drop();
  }
});

async function cli(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: '', SLACK_BOT_TOKEN: BOT_TOKEN, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}
