// Quorum approvals the state database's runtime role cannot forge (migration 015, docs/SECURITY-binding.md),
// played as the attacker who holds only that role's password (production set-up: the owner migrates, the
// runtime role runs the app, PGSESSIONS_AUDIT_KEY set) — and, where the grants stop them, the owner's. A
// made-up approver, a MAC copied from another request, a lowered quorum: the request is not executed, the
// backend lives, and tampering_detected is audited.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { FAILURE_MESSAGES } from '../../src/domain/messages.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { APPROVER, REQUESTER, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  auditEvents,
  click,
  fresh,
  requestRow,
  sessionTracker,
  sleep,
  stateQuery,
  typedRequest,
} from '../helpers/approval-flow.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { productionRoles } from '../helpers/production-roles.js';

const KEY = randomBytes(32).toString('base64');
const roles = productionRoles('q');
const SECOND = 'UAPP2';

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let ownerUrl: string;
let runtimeUrl: string;
const sessions = sessionTracker();

/** One statement (or a few) on a connection of its own: the attacker's. */
async function as_<T>(url: string, work: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await work(c);
  } finally {
    await c.end();
  }
}

async function tamperings(id: string): Promise<Array<{ details: { stage: string; reason: string } }>> {
  return stateQuery(
    db.url,
    "SELECT details FROM pgsessions.audit_log WHERE event = 'tampering_detected' AND details->>'id' = $1 ORDER BY seq",
    [id],
  );
}

before(async () => {
  slack = await startSlackApi();
  db = await createTestDatabase('qforge');
  runtimeUrl = await roles.prepare(db);
  ownerUrl = roles.ownerUrl(db);
  app = await startTestApp(
    baseEnv(db.url, slack, {
      STATE_DATABASE_URL: runtimeUrl,
      PGSESSIONS_AUDIT_KEY: KEY,
      PGSESSIONS_QUORUM: 'terminate:2',
      PGSESSIONS_APPROVERS: `${APPROVER},${SECOND}`,
    }),
    { terminateTimeoutMs: 3_000 },
  );
});
afterEach(async () => {
  await sessions.endAll();
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await roles.drop();
});

/** A terminate request (quorum 2) of a fresh pg_sleep session. */
async function quorumRequest(channel: string, application: string) {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} ${application}`, as(REQUESTER, channel));
  return { id, victim };
}

/** The approver clicks; the refusal they hear is the tampering sentence, and nothing is signalled. */
async function refusedAsTampered(
  id: string,
  user: string,
  channel: string,
  victim: { pid: number; backendStart: string },
) {
  const clicked = await click(slack, app.port, ACTION.approve, id, as(user, channel));
  assert.equal(await clicked.reply(), FAILURE_MESSAGES.tampered);
  await sleep(500);
  assert.equal((await requestRow(db.url, id)).status, 'pending', 'not approved');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true, 'the backend is alive');
  const events = await auditEvents(db.url, id);
  assert.ok(!events.includes('executing') && !events.includes('executed'), events.join(','));
  assert.equal((await tamperings(id)).length, 1, 'tampering_detected audited once');
}

test('an approval row for a made-up approver is never counted: the real approval that would reach the quorum is refused and audited', async () => {
  const channel = fresh('C');
  const { id, victim } = await quorumRequest(channel, 'qforge-invented');
  await as_(runtimeUrl, (c) =>
    c.query(
      `INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding)
       VALUES ($1, 'UINVENTED', now(), 'hmac-sha256:0000000000000000:' || repeat('ab', 32))`,
      [id],
    ),
  );
  // The runtime role can neither remove nor rewrite an approval row.
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(c.query('DELETE FROM pgsessions.request_approvals WHERE request_id = $1', [id]));
    await assert.rejects(
      c.query("UPDATE pgsessions.request_approvals SET approver = 'UOTHER' WHERE request_id = $1", [id]),
    );
  });
  await refusedAsTampered(id, APPROVER, channel, { pid: victim.pid, backendStart: victim.backendStart });
  assert.match((await tamperings(id))[0]!.details.reason, /approval row/);
  // Nor may it add the requester's own approval, or any approval once the request left pending.
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(
      c.query(
        `INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding) VALUES ($1, $2, now(), 'x')`,
        [id, REQUESTER],
      ),
      /never by their requester/,
    );
    await c.query(
      `UPDATE pgsessions.requests SET status = 'denied', decided_by = 'UX', decided_at = now() WHERE id = $1`,
      [id],
    );
    await assert.rejects(
      c.query(
        `INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding) VALUES ($1, 'ULATE', now(), 'x')`,
        [id],
      ),
      /approvals are added to pending requests/,
    );
  });
});

test('a MAC copied from another request’s approval does not count here', async () => {
  const channel = fresh('C');
  const donor = await quorumRequest(channel, 'qforge-donor');
  await click(slack, app.port, ACTION.approve, donor.id, as(APPROVER, channel));
  const copied = await (async () => {
    for (let i = 0; i < 200; i++) {
      const rows = await stateQuery<{ approver: string; approved_at: string; binding: string }>(
        db.url,
        'SELECT approver, approved_at::text, binding FROM pgsessions.request_approvals WHERE request_id = $1',
        [donor.id],
      );
      if (rows[0]) return rows[0];
      await sleep(25);
    }
    throw new Error('the donor approval was not recorded');
  })();
  const { id, victim } = await quorumRequest(channel, 'qforge-copied');
  await as_(runtimeUrl, (c) =>
    c.query(
      'INSERT INTO pgsessions.request_approvals (request_id, approver, approved_at, binding) VALUES ($1, $2, $3::timestamptz, $4)',
      [id, copied.approver, copied.approved_at, copied.binding],
    ),
  );
  await refusedAsTampered(id, SECOND, channel, { pid: victim.pid, backendStart: victim.backendStart });
  // The donor, untouched, still counts its real approval.
  assert.equal((await requestRow(db.url, donor.id)).status, 'pending');
});

test('a request’s quorum cannot be lowered by the runtime role, and a lowering by the owner breaks the seal', async () => {
  const channel = fresh('C');
  const { id, victim } = await quorumRequest(channel, 'qforge-lowered');
  await as_(runtimeUrl, async (c) => {
    await assert.rejects(c.query('UPDATE pgsessions.requests SET quorum = 1 WHERE id = $1', [id]), /permission denied/);
  });
  // The single-role quick start: whoever holds the owner's password passes the grants and the trigger.
  await as_(ownerUrl, (c) => c.query('UPDATE pgsessions.requests SET quorum = 1 WHERE id = $1', [id]));
  await refusedAsTampered(id, APPROVER, channel, { pid: victim.pid, backendStart: victim.backendStart });
  assert.match((await tamperings(id))[0]!.details.reason, /does not match/);
});
