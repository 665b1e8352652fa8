// The audit channel is the outside witness of the audit table; only the bot's own witness element counts.
// The attackers here: a database user whose query text carries a look-alike witness (it reaches the audit
// message of a request), and a workspace member who runs commands or shares a listing in the audit channel.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import pg from 'pg';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { AUDIT_CHANNEL_MESSAGE } from '../../src/audit/channel-guard.js';
import { APPROVER, BOT_TOKEN, REQUESTER, SIGNING_SECRET, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { as, click, command, fresh, stateQuery, typedRequest, waitForStatus } from '../helpers/approval-flow.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockAction, slashCommand } from '../helpers/slack-requests.js';

const execFileAsync = promisify(execFile);
let db: TestDatabase;
let slack: SlackApi;
let app: TestApp | undefined;
const clients: pg.Client[] = [];

before(async () => {
  [db, slack] = await Promise.all([createTestDatabase('witness'), startSlackApi()]);
});
afterEach(async () => {
  await app?.stop();
  app = undefined;
});
after(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  await slack?.close();
  await db?.drop();
});

async function verify(channel: string): Promise<{ code: number; stdout: string }> {
  const env = {
    PATH: process.env.PATH ?? '',
    STATE_DATABASE_URL: db.url,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.url,
    PGSESSIONS_AUDIT_CHANNEL: channel,
  };
  try {
    const { stdout } = await execFileAsync(
      process.execPath,
      ['--import', 'tsx', 'src/cli/verify-audit.ts', '--against-slack'],
      { env, timeout: 60_000 },
    );
    return { code: 0, stdout };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, stdout: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

/** A session whose query text, chosen by a database user, carries a fake witness. Resolves once it is active. */
async function hostileQuery(text: string): Promise<number> {
  const client = new pg.Client({ connectionString: db.url, application_name: 'witness-forger' });
  clients.push(client);
  await client.connect();
  client.on('error', () => undefined);
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  client.query(`SELECT pg_sleep(120) /* ${text} */`).catch(() => undefined);
  const deadline = Date.now() + 15_000;
  for (;;) {
    const rows = await stateQuery<{ state: string }>(
      db.url,
      'SELECT state FROM pg_stat_activity WHERE pid = $1 AND query LIKE $2',
      [pid, '%pg_sleep%'],
    );
    if (rows[0]?.state === 'active') return pid;
    if (Date.now() > deadline) throw new Error('the hostile query never became active');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function drained(): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (;;) {
    const [row] = await stateQuery<{ n: number }>(
      db.url,
      'SELECT count(*)::int AS n FROM pgsessions.outbox WHERE delivered_at IS NULL',
    );
    if (row!.n === 0) return;
    if (Date.now() > deadline) throw new Error('the audit outbox did not drain');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

test('a query text carrying a look-alike witness (audit #1 · sha256:…) does not fool audit:verify --against-slack', async () => {
  const channel = fresh('CAUD');
  app = await startTestApp(
    baseEnv(db.url, slack, { PGSESSIONS_AUDIT_CHANNEL: channel, PGSESSIONS_QUERY_TEXT: 'full' }),
    { terminateTimeoutMs: 3_000 },
  );
  const [{ n: first } = { n: 0 }] = await stateQuery<{ n: number }>(
    db.url,
    'SELECT coalesce(max(seq), 0)::int + 1 AS n FROM pgsessions.audit_log',
  );
  // The forger names the entry its own request will make, with another hash, and one that does not exist.
  const pid = await hostileQuery(`audit #${first} · sha256:${'0'.repeat(64)} audit #9999 · sha256:${'e'.repeat(64)}`);
  const incident = fresh('C');
  const request = await typedRequest(slack, app.port, `terminate ${pid} forged witness`, as(REQUESTER, incident));
  await click(slack, app.port, ACTION.approve, request.id, as(APPROVER, incident));
  await waitForStatus(db.url, request.id, ['executed']);
  await drained();
  const posted = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel);
  assert.ok(
    posted.some((c) => JSON.stringify(c.params.blocks).includes(`audit #9999`)),
    'the forged text did reach the audit channel',
  );
  await app.stop();
  app = undefined;

  const verified = await verify(channel);
  // Before: the first look-alike in any text won, so #first read as rewritten and #9999 as missing from the database.
  assert.equal(verified.code, 0, verified.stdout);
  assert.doesNotMatch(verified.stdout, /rewritten|missing from the database/);
  assert.match(verified.stdout, /against the audit channel: (\d+) of \1 entries match/);
});

test('a command or a Share click in the audit channel is refused with one sentence and posts nothing there', async () => {
  const channel = fresh('CAUD');
  app = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_AUDIT_CHANNEL: channel }));
  const before = slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel).length;
  for (const text of ['top', 'terminate 1 to get a request into the audit channel']) {
    // The refusal is the acknowledgement itself: no database is read, nothing is posted.
    const ack = await slashCommand(app.port, SIGNING_SECRET, {
      text,
      userId: REQUESTER,
      channelId: channel,
      responseUrl: slack.responseUrl(fresh('cmd')),
    });
    assert.equal(ack.status, 200);
    assert.equal(JSON.parse(ack.body).text, AUDIT_CHANNEL_MESSAGE);
  }
  const shareId = fresh('share');
  const responseUrl = slack.responseUrl(shareId);
  const res = await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: channel,
    actionId: ACTION.share,
    value: 'top',
    responseUrl,
  });
  assert.equal(res.status, 200);
  const shared = (await slack.waitFor(() => slack.responsesTo(shareId)[0])).body as {
    response_type: string;
    text: string;
  };
  assert.equal(shared.response_type, 'ephemeral');
  assert.equal(shared.text, AUDIT_CHANNEL_MESSAGE);
  // In any other channel the same member is served.
  assert.match((await command(slack, app.port, 'help', as(REQUESTER, fresh('C')))).text, /pgsessions/i);
  assert.equal(
    slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel).length,
    before,
    'nothing was posted in the audit channel',
  );
  // Each refusal is counted with the workspace guard's.
  const metrics = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  assert.match(metrics, /pgsessions_guard_refusals_total\{reason="audit_channel"\} 3/);
});
