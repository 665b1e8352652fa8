// The audit trail against its own database role, played as the attacker would, on a real PostgreSQL with real
// roles: with a runtime role that owns nothing, the audit log cannot be altered; with today's single owner
// role it can — and the keyed chain plus the audit channel (the outside witness) catch what was done.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import pg from 'pg';
import { chainHash } from '../../src/domain/audit.js';
import { createStateStore } from '../../src/postgres/state-store.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER, BOT_TOKEN, REQUESTER, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  click,
  command,
  fresh,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { createTestDatabase, type TestDatabase, withRole } from '../helpers/pg.js';
import { asSuperuser } from '../helpers/roles.js';
import { sleepSession } from '../helpers/sessions.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';

const execFileAsync = promisify(execFile);
const KEY = randomBytes(32).toString('base64');
const suffix = randomBytes(4).toString('hex');
const OWNER = `pgs_owner_${suffix}`;
const RUNTIME = `pgs_runtime_${suffix}`;
const PASSWORD = `pw-${randomBytes(6).toString('hex')}`;

let slack: SlackApi;
const databases: TestDatabase[] = [];
let app: TestApp | undefined;
const sessions = sessionTracker();

const urlAs = (url: string, role: string): string => withRole(url, role, PASSWORD);

async function newDatabase(): Promise<TestDatabase> {
  const db = await createTestDatabase('trust');
  databases.push(db);
  await asSuperuser(`GRANT CREATE ON DATABASE ${db.name} TO ${OWNER}`);
  return db;
}

/** Runs a CLI as its own process; resolves with its exit code and output, whatever the code. */
async function cli(
  script: string,
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, ['--import', 'tsx', script, ...args], {
      env: { PATH: process.env.PATH ?? '', DATABASE_URL: '', ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

function verifyEnv(stateUrl: string, channel: string, key: string | null = KEY): Record<string, string> {
  return {
    STATE_DATABASE_URL: stateUrl,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.url,
    PGSESSIONS_AUDIT_CHANNEL: channel,
    ...(key ? { PGSESSIONS_AUDIT_KEY: key } : {}),
  };
}

async function backlog(url: string): Promise<number> {
  return (
    await stateQuery<{ n: number }>(url, 'SELECT count(*)::int AS n FROM pgsessions.outbox WHERE delivered_at IS NULL')
  )[0]!.n;
}

async function drained(url: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  while ((await backlog(url)) > 0) {
    if (Date.now() > deadline) throw new Error('the audit outbox did not drain');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function auditRows(url: string): Promise<Array<{ seq: number; event: string; request_id: string | null }>> {
  return stateQuery(
    url,
    'SELECT seq::int AS seq, event, request_id::text AS request_id FROM pgsessions.audit_log ORDER BY seq',
  );
}

/** A terminate requested, approved and executed through the real app. */
async function terminateFlow(db: TestDatabase, channel: string): Promise<string> {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'trust-victim' }));
  const request = await typedRequest(slack, app!.port, `terminate ${victim.pid} trust check`, as(REQUESTER, channel));
  await click(slack, app!.port, ACTION.approve, request.id, as(APPROVER, channel));
  await waitForStatus(db.url, request.id, ['executed']);
  return request.id;
}

before(async () => {
  slack = await startSlackApi();
  await asSuperuser(`CREATE ROLE ${OWNER} LOGIN PASSWORD '${PASSWORD}'`);
  await asSuperuser(`CREATE ROLE ${RUNTIME} LOGIN PASSWORD '${PASSWORD}'`);
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await sessions.endAll();
});
after(async () => {
  await slack?.close();
  for (const db of databases) await db.drop();
  await asSuperuser(`DROP ROLE IF EXISTS ${RUNTIME}`);
  await asSuperuser(`DROP ROLE IF EXISTS ${OWNER}`);
});

test('least privilege: npm run migrate grants the runtime role only append and read on the audit log, and that role cannot alter it', async () => {
  const db = await newDatabase();
  const ownerUrl = urlAs(db.url, OWNER);
  const runtimeUrl = urlAs(db.url, RUNTIME);
  const migrated = await cli('src/cli/migrate.ts', [], {
    PGSESSIONS_MIGRATE_DATABASE_URL: ownerUrl,
    STATE_DATABASE_URL: runtimeUrl,
  });
  assert.equal(migrated.code, 0, migrated.stdout + migrated.stderr);
  assert.match(migrated.stdout, /applied 001_init\.sql, 002_audit_keyed_chain\.sql/);
  assert.match(
    migrated.stdout,
    new RegExp(`granted the runtime role ${RUNTIME} only: .*SELECT, INSERT on pgsessions\\.audit_log`),
  );
  assert.ok(!migrated.stdout.includes(PASSWORD) && !migrated.stderr.includes(PASSWORD), 'no password in the output');

  const channel = fresh('CAUD');
  app = await startTestApp(
    baseEnv(db.url, slack, {
      STATE_DATABASE_URL: runtimeUrl,
      PGSESSIONS_AUDIT_CHANNEL: channel,
      PGSESSIONS_AUDIT_KEY: KEY,
    }),
    {
      terminateTimeoutMs: 3_000,
    },
  );
  const logs = app.logs.join('');
  assert.match(logs, /state schema is current/, 'the runtime role does not migrate: the schema was current');
  assert.match(logs, /the runtime role cannot alter the audit log/);
  assert.doesNotMatch(logs, /owns the audit table/);
  assert.match(logs, /the audit chain is keyed/);
  const status = await command(slack, app.port, 'status', as(REQUESTER, fresh('C')));
  assert.match(JSON.stringify(status.body), /audit chain is \*keyed\*/);
  assert.match(JSON.stringify(status.body), /can only append to the audit log/);

  await terminateFlow(db, fresh('C'));
  await drained(db.url);
  await app.stop();
  app = undefined;

  // The attacker holds the runtime role's connection string.
  const attacker = new pg.Client({ connectionString: runtimeUrl });
  await attacker.connect();
  try {
    await assert.rejects(attacker.query('ALTER TABLE pgsessions.audit_log DISABLE TRIGGER ALL'), /must be owner/);
    await assert.rejects(
      attacker.query('DROP TRIGGER audit_log_no_update_delete ON pgsessions.audit_log'),
      /must be owner/,
    );
    await assert.rejects(attacker.query(`UPDATE pgsessions.audit_log SET actor = 'UEVIL'`), /permission denied/);
    await assert.rejects(attacker.query('DELETE FROM pgsessions.audit_log'), /permission denied/);
    await assert.rejects(attacker.query('TRUNCATE pgsessions.audit_log CASCADE'), /permission denied/);
    await assert.rejects(attacker.query('DELETE FROM pgsessions.outbox'), /permission denied/);
    await assert.rejects(attacker.query('DELETE FROM pgsessions.requests'), /permission denied/);
    await assert.rejects(attacker.query(`ALTER TABLE pgsessions.audit_log OWNER TO ${RUNTIME}`), /must be owner/);
  } finally {
    await attacker.end();
  }
  const rows = await auditRows(db.url);
  assert.deepEqual(
    rows.map((r) => r.event),
    ['chain_keyed', 'requested', 'approved', 'executing', 'executed'],
  );

  const verified = await cli('src/cli/verify-audit.ts', ['--against-slack'], verifyEnv(runtimeUrl, channel));
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(
    verified.stdout,
    /audit log intact: 5 entries, hash chain verified; keyed \(HMAC-SHA256\) from entry #1/,
  );
  assert.match(verified.stdout, /5 of 5 entries match/);
});

test('owner setup: an attacker rewrites an approver, fakes a delivery, deletes the newest entry and recomputes the chain; the key and the audit channel catch each', async () => {
  const db = await newDatabase();
  const ownerUrl = urlAs(db.url, OWNER);
  const channel = fresh('CAUD');
  // Today's setup: one role owns the state schema and runs the app.
  app = await startTestApp(
    baseEnv(db.url, slack, {
      STATE_DATABASE_URL: ownerUrl,
      PGSESSIONS_AUDIT_CHANNEL: channel,
      PGSESSIONS_AUDIT_KEY: KEY,
    }),
    {
      terminateTimeoutMs: 3_000,
    },
  );
  const owns = app.logs.find((l) => /the runtime role owns the audit table: it could rewrite it/.test(l));
  assert.ok(owns, 'start-up says the runtime role owns the audit table');
  assert.equal(JSON.parse(owns).level, 50, 'said at error level, on every start: loud, though the app runs');

  const incident = fresh('C');
  const executedId = await terminateFlow(db, incident);
  await drained(db.url);

  // Slack refuses the audit channel for a while: the next entry stays in the outbox…
  slack.handle('chat.postMessage', (params) =>
    params.channel === channel ? { ok: false, error: 'channel_not_found' } : undefined,
  );
  const other = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'trust-other' }));
  const pending = await typedRequest(
    slack,
    app.port,
    `terminate ${other.pid} never delivered`,
    as(REQUESTER, incident),
  );
  const undelivered = (await auditRows(db.url)).find(
    (r) => r.request_id === pending.id && r.event === 'requested',
  )!.seq;
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .some(
          (c) => c.params.channel === channel && JSON.stringify(c.params.blocks).includes(`audit #${undelivered} `),
        ),
    {
      description: 'a refused delivery attempt',
    },
  );
  // …and the attacker marks it delivered, so it never will be.
  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  try {
    await owner.query('UPDATE pgsessions.outbox SET delivered_at = now() WHERE audit_seq = $1', [undelivered]);
    slack.handle('chat.postMessage', () => undefined);
    await click(slack, app.port, ACTION.deny, pending.id, as(APPROVER, incident));
    await waitForStatus(db.url, pending.id, ['denied']);
    await drained(db.url);
    await app.stop();
    app = undefined;

    const before = await auditRows(db.url);
    const approved = before.find((r) => r.request_id === executedId && r.event === 'approved')!.seq;
    const requested = before.find((r) => r.request_id === executedId && r.event === 'requested')!.seq;
    const newest = before[before.length - 1]!.seq;
    assert.equal(before[before.length - 1]!.event, 'denied');

    // The owner can do all of it: disable the trigger, rewrite the approver, delete the newest entry…
    await owner.query('ALTER TABLE pgsessions.audit_log DISABLE TRIGGER audit_log_no_update_delete');
    await owner.query(
      `UPDATE pgsessions.audit_log SET actor = 'UEVIL', details = jsonb_set(details, '{approver}', '"UEVIL"') WHERE seq = $1`,
      [approved],
    );
    await owner.query('DELETE FROM pgsessions.outbox WHERE audit_seq = $1', [newest]);
    await owner.query('DELETE FROM pgsessions.audit_log WHERE seq = $1', [newest]);
    // …and recompute the chain from the rewritten entry on, as well as one can without the key: unkeyed.
    const readPool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
    const entries = await createStateStore(readPool).readAudit(0, 10_000);
    await readPool.end();
    let prevHash = entries.find((e) => e.seq === approved - 1)?.hash ?? entries[0]!.prevHash;
    for (const entry of entries.filter((e) => e.seq >= approved)) {
      const hash = chainHash(prevHash, entry);
      await owner.query(
        `UPDATE pgsessions.audit_log SET prev_hash = $2, hash = $3, hash_alg = 'sha256' WHERE seq = $1`,
        [entry.seq, prevHash, hash],
      );
      prevHash = hash;
    }
    await owner.query('ALTER TABLE pgsessions.audit_log ENABLE TRIGGER audit_log_no_update_delete');
    const rewritten = await stateQuery<{ actor: string }>(
      db.url,
      'SELECT actor FROM pgsessions.audit_log WHERE seq = $1',
      [approved],
    );
    assert.equal(rewritten[0]!.actor, 'UEVIL', 'the owner role did rewrite the approver');

    // The keyed chain alone catches the recomputation.
    const keyed = await cli('src/cli/verify-audit.ts', [], verifyEnv(ownerUrl, channel));
    assert.equal(keyed.code, 1, keyed.stdout + keyed.stderr);
    assert.match(
      keyed.stdout,
      new RegExp(`audit log BROKEN at entry #${approved}: an unkeyed entry after keyed hashing began at #1`),
    );

    // The audit channel catches each change, one line each.
    const witnessed = await cli('src/cli/verify-audit.ts', ['--against-slack'], verifyEnv(ownerUrl, channel));
    assert.equal(witnessed.code, 1, witnessed.stdout + witnessed.stderr);
    const lines = witnessed.stdout.split('\n');
    assert.ok(
      lines.some((l) => l.startsWith(`#${approved} rewritten: the audit channel shows hmac-sha256:`)),
      witnessed.stdout,
    );
    assert.ok(
      lines.some((l) => l.startsWith(`#${undelivered} never delivered: the outbox says delivered at `)),
      witnessed.stdout,
    );
    assert.ok(
      lines.some(
        (l) => l === `#${newest} missing from the database: the audit channel has it, the table ends at #${newest - 1}`,
      ),
      witnessed.stdout,
    );
    assert.ok(!lines.some((l) => l.startsWith(`#${requested} `)), 'entries before the rewrite still match');
    assert.ok(!witnessed.stdout.includes(KEY) && !witnessed.stdout.includes(PASSWORD), 'no secret in the output');
  } finally {
    await owner.end();
  }
});

test('without a key the app runs, warns at start-up, and status says the chain is unkeyed; the history is read page by page through a 429', async () => {
  const db = await newDatabase();
  const channel = fresh('CAUD');
  app = await startTestApp(
    baseEnv(db.url, slack, { STATE_DATABASE_URL: urlAs(db.url, OWNER), PGSESSIONS_AUDIT_CHANNEL: channel }),
    { terminateTimeoutMs: 3_000 },
  );
  assert.match(app.logs.join(''), /PGSESSIONS_AUDIT_KEY is not set: the audit chain is unkeyed/);
  const status = await command(slack, app.port, 'status', as(REQUESTER, fresh('C')));
  assert.match(JSON.stringify(status.body), /audit chain is \*unkeyed\*/);
  assert.match(JSON.stringify(status.body), /\*owns\* the audit table/);
  await terminateFlow(db, fresh('C'));
  await drained(db.url);
  await app.stop();
  app = undefined;
  // A member posts a look-alike witness: it is not the bot's, so it vouches for nothing.
  slack.addMessage(channel, { text: `audit #99 · sha256:${'ab'.repeat(32)}`, user: 'UMEMBER' });
  // Enough pages to need the cursor (the recorder pages by the CLI's limit of 200: add bot messages without witness).
  for (let i = 0; i < 250; i++) slack.addMessage(channel, { text: `chatter ${i}`, user: 'UBOT', bot_id: 'BBOT' });
  slack.failNext('conversations.history', 1, { status: 429, retryAfter: 1 });
  const verified = await cli('src/cli/verify-audit.ts', ['--against-slack'], verifyEnv(db.url, channel, null));
  assert.equal(verified.code, 0, verified.stdout + verified.stderr);
  assert.match(verified.stdout, /unkeyed \(SHA-256\)/);
  assert.match(verified.stdout, /4 of 4 entries match/);
  assert.match(verified.stdout, /1 messages from others ignored/);
  assert.ok(slack.callsTo('conversations.history').length >= 3, 'retried after the 429 and followed the cursor');

  // Moving this setup to least privilege: migrate refuses to grant a runtime role that still owns the schema.
  const refused = await cli('src/cli/migrate.ts', [], {
    PGSESSIONS_MIGRATE_DATABASE_URL: db.url,
    STATE_DATABASE_URL: urlAs(db.url, OWNER),
  });
  assert.equal(refused.code, 1, refused.stdout + refused.stderr);
  assert.match(
    refused.stdout,
    new RegExp(`the runtime role ${OWNER} owns .*audit_log.*Transfer ownership to the owner role first`),
  );
});
