// Break-glass played by whoever holds the state database's runtime password (docs/SECURITY.md): production set-up
// (owner role migrates, runtime role runs the app, PGSESSIONS_AUDIT_KEY set, break-glass on for cancel after
// 10 s). The setting is not in the database; the role cannot backdate a request, flag one as break-glass, or make
// a requester's lone decision pass: nothing is signalled, and every forgery that gets as far as the app is
// audited as tampering_detected. Where the grants stop the runtime role, the owner (single-role quick start) is
// played too: then the seal and the binding are what is left.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createStateStore } from '../../src/postgres/state-store.js';
import { createBreakGlassStore } from '../../src/postgres/break-glass-store.js';
import { INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { APPROVER, REQUESTER, SIGNING_SECRET, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { as, fresh, sessionTracker, sleep, stateQuery, typedRequest } from '../helpers/approval-flow.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { viewSubmission } from '../helpers/slack-requests.js';
import type { TargetSnapshot } from '../../src/domain/types.js';
import { productionRoles } from '../helpers/production-roles.js';

const KEY = randomBytes(32).toString('base64');
const roles = productionRoles('g');

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let ownerUrl: string;
let runtimeUrl: string;
const sessions = sessionTracker();

async function as_(url: string, work: (c: pg.Client) => Promise<unknown>): Promise<void> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    await work(c);
  } finally {
    await c.end();
  }
}

const tamperings = (id: string) =>
  stateQuery<{ details: { stage: string } }>(
    db.url,
    "SELECT details FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1 ORDER BY seq",
    [id],
  );
const statusOf = async (id: string) =>
  (await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.requests WHERE id = $1', [id]))[0]
    ?.status;

before(async () => {
  slack = await startSlackApi();
  db = await createTestDatabase('glassforge');
  runtimeUrl = await roles.prepare(db);
  ownerUrl = roles.ownerUrl(db);
  app = await startTestApp(
    baseEnv(db.url, slack, {
      STATE_DATABASE_URL: runtimeUrl,
      PGSESSIONS_AUDIT_KEY: KEY,
      PGSESSIONS_BREAK_GLASS: 'cancel',
      PGSESSIONS_BREAK_GLASS_AFTER: '10s',
    }),
    { terminateTimeoutMs: 3_000 },
  );
});
after(async () => {
  await sessions.endAll();
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await roles.drop();
});

test('the runtime role cannot backdate a request or flag it break-glass; an owner who backdates one is caught by the seal: nothing is cancelled', async () => {
  const channel = fresh('C');
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'glass-backdated' }));
  const { id } = await typedRequest(slack, app.port, `cancel ${victim.pid} runaway`, as(REQUESTER, channel));
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(
      c.query("UPDATE pgsessions.requests SET created_at = created_at - interval '1 hour' WHERE id = $1", [id]),
      /permission denied/,
    );
    await assert.rejects(
      c.query('UPDATE pgsessions.requests SET break_glass = true WHERE id = $1', [id]),
      /break-glass|violates check constraint/,
    );
    await assert.rejects(
      c.query(
        "UPDATE pgsessions.requests SET status = 'approved', decided_by = requester, decided_at = now() WHERE id = $1",
        [id],
      ),
      /requests_not_self_approved/,
      'a self-decision without the flag is refused by the database',
    );
  });
  // The owner can: the request now looks an hour old, so break-glass would open at once — but the seal says otherwise.
  await as_(ownerUrl, (c) =>
    c.query("UPDATE pgsessions.requests SET created_at = created_at - interval '1 hour' WHERE id = $1", [id]),
  );
  const sent = await viewSubmission(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    callbackId: VIEW.breakGlass,
    privateMetadata: id,
    values: { [INPUT.breakGlassBlock]: { [INPUT.breakGlassAction]: { type: 'plain_text_input', value: 'forged' } } },
  });
  assert.equal(sent.status, 200);
  const told = await slack.waitFor(() =>
    slack.callsTo('chat.postEphemeral').find((c) => c.params.user === REQUESTER && c.params.channel === channel),
  );
  assert.match(String(told.params.text), /changed in the state database/);
  await sleep(500);
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the query still runs');
  assert.equal(await statusOf(id), 'pending');
  assert.deepEqual(
    (await tamperings(id)).map((t) => t.details.stage),
    ['approval'],
  );
});

const target = (pid: number, backendStart: string): TargetSnapshot => ({
  pid,
  backendStart,
  queryStart: null,
  xactStart: null,
  backendType: 'client backend',
  user: null,
  database: null,
  application: null,
  client: null,
  state: 'active',
  query: null,
});

test('a requester’s lone decision written by the runtime role, or a real break-glass binding moved onto a normal approval (and back), never passes the executor', async () => {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'glass-forged' }));
  const pool = new pg.Pool({ connectionString: runtimeUrl, max: 2 });
  try {
    const key = Buffer.from(KEY, 'utf8');
    const store = createStateStore(pool, { key });
    const glass = createBreakGlassStore(pool, store.appendIn, store.binder);
    const make = () =>
      store.createRequest({
        cluster: 'default',
        action: 'cancel',
        targets: [target(victim.pid, victim.backendStart)],
        reason: 'forgery',
        requester: REQUESTER,
        channel: 'CFORGE',
        escalateAfterSeconds: null,
        scope: null,
        ttlSeconds: 600,
      });

    // 1. The runtime role decides for the requester, flagged, with a made-up binding: the database lets it, the key does not.
    const forged = await make();
    await as_(runtimeUrl, (c) =>
      c.query(
        `UPDATE pgsessions.requests SET status = 'approved', decided_by = requester, decided_at = now(), break_glass = true,
           binding = 'hmac-sha256:0000000000000000:' || repeat('ab', 32) WHERE id = $1`,
        [forged.id],
      ),
    );
    const intent = await store.markExecuting(forged.id);
    assert.equal(!intent.ok && intent.code, 'tampered');

    // 2. A real break-glass use, then its row dressed as a normal approval by the owner: the binding names break-glass.
    const real = await make();
    const used = await glass.breakGlass(real.id, REQUESTER, 0, 'real use');
    assert.equal(used.ok, true);
    await as_(ownerUrl, (c) =>
      c.query('UPDATE pgsessions.requests SET decided_by = $2, break_glass = false WHERE id = $1', [real.id, APPROVER]),
    );
    const moved = await store.markExecuting(real.id);
    assert.equal(!moved.ok && moved.code, 'tampered');

    // 3. A normal approval turned into a break-glass one: the approval's binding does not say break-glass.
    const normal = await make();
    assert.equal((await store.approve(normal.id, APPROVER)).ok, true);
    await as_(ownerUrl, (c) =>
      c.query('UPDATE pgsessions.requests SET decided_by = requester, break_glass = true WHERE id = $1', [normal.id]),
    );
    const turned = await store.markExecuting(normal.id);
    assert.equal(!turned.ok && turned.code, 'tampered');

    for (const id of [forged.id, real.id, normal.id]) {
      assert.deepEqual(
        (await tamperings(id)).map((t) => t.details.stage),
        ['execution'],
      );
    }
    assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'nothing was signalled');

    // 4. Two approvers pressing Reviewed at once on a real use: one review is recorded, the other is told who.
    const reviewedUse = await make();
    assert.equal((await glass.breakGlass(reviewedUse.id, REQUESTER, 0, 'reviewed use')).ok, true);
    const both = await Promise.all([glass.review(reviewedUse.id, APPROVER), glass.review(reviewedUse.id, 'UAPP2')]);
    assert.equal(both.filter((r) => r.ok).length, 1, 'reviewed once');
    const [loser] = both.filter((r) => !r.ok);
    assert.equal(loser?.ok === false && loser.code, 'reviewed');
    const reviews = await stateQuery(
      db.url,
      "SELECT 1 FROM pgsessions.audit_log WHERE event = 'break_glass_reviewed' AND request_id = $1",
      [reviewedUse.id],
    );
    assert.equal(reviews.length, 1);
    assert.equal(
      (await glass.listUnreviewed(['default'])).filter((u) => u.requestId === forged.id).length,
      0,
      'a forged decision is no break-glass use',
    );
  } finally {
    await pool.end();
  }
});
