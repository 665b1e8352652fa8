// The record of direct messages to approvers (migration 017), played by someone who holds only the runtime
// role's password (production set-up: an owner migrates, the app runs as the runtime role). The app's own
// path works on exactly its grants; the attacker may claim or give back a (request, person) row — at worst
// someone is told once more or not at all — but cannot insert a row that already points at a message, move a
// sent one elsewhere, or change whose it is; and a row they point at a channel message (the audit channel's)
// never makes pgsessions rewrite that message. Nothing here reaches a backend.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { AUDIT_CHANNEL, REQUESTER } from '../helpers/app.js';
import {
  as,
  click,
  fresh,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { waitUntil } from '../helpers/rules.js';
import { sleepSession } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { connectedAs, productionRoles } from '../helpers/production-roles.js';

const roles = productionRoles('am');
const APPROVER_A = 'UAPPA';
const APPROVER_B = 'UAPPB';

let runtimeUrl: string;
const sessions = sessionTracker();

const attacker = <T>(work: (c: pg.Client) => Promise<T>): Promise<T> => connectedAs(runtimeUrl, work);

const { db, slack, app } = useTestApp({
  database: 'dmatk',
  async prepare(database) {
    runtimeUrl = await roles.prepare(database);
  },
  env: () => ({ STATE_DATABASE_URL: runtimeUrl, PGSESSIONS_APPROVERS: `${APPROVER_A},${APPROVER_B}` }),
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});
after(async () => {
  await roles.drop();
});

const refusedWith = async (work: Promise<unknown>, pattern: RegExp) => {
  await assert.rejects(work, (error: Error) => {
    assert.match(error.message, pattern);
    return true;
  });
};

test('the runtime role can record DMs as the app does, and cannot forge where one went', async () => {
  const channel = fresh('C');
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'dm-attack' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} attacked`, as(REQUESTER, channel));
  const sent = await waitUntil('both DMs recorded by the app on the runtime role', async () => {
    const rows = await stateQuery<{ user_id: string; channel: string; ts: string }>(
      db.url,
      'SELECT user_id, channel, ts FROM pgsessions.approver_messages WHERE subject_id = $1 AND ts IS NOT NULL ORDER BY user_id',
      [id],
    );
    return rows.length === 2 ? rows : undefined;
  });
  const auditTs = '1700000000.424242';
  await attacker(async (c) => {
    // A row that already points somewhere: refused (the columns are not granted for INSERT; the trigger too).
    await refusedWith(
      c.query(
        "INSERT INTO pgsessions.approver_messages (subject_kind, subject_id, user_id, channel, ts) VALUES ('request', $1, 'UEVIL', $2, $3)",
        [id, AUDIT_CHANNEL, auditTs],
      ),
      /permission denied|claimed before it is sent/,
    );
    // A sent DM moved to the audit channel's message: refused.
    await refusedWith(
      c.query('UPDATE pgsessions.approver_messages SET channel = $2, ts = $3 WHERE subject_id = $1 AND user_id = $4', [
        id,
        AUDIT_CHANNEL,
        auditTs,
        APPROVER_A,
      ]),
      /stays where it was sent/,
    );
    // Whose it is, or what it is about: not the runtime role's to change.
    await refusedWith(
      c.query("UPDATE pgsessions.approver_messages SET user_id = 'UEVIL' WHERE subject_id = $1", [id]),
      /permission denied/,
    );
    // What the trigger allows (claim, then fill in once) pointed at the audit channel's message…
    await c.query(
      "INSERT INTO pgsessions.approver_messages (subject_kind, subject_id, user_id) VALUES ('request', $1, 'UEVIL')",
      [id],
    );
    await c.query(
      "UPDATE pgsessions.approver_messages SET channel = $2, ts = $3 WHERE subject_id = $1 AND user_id = 'UEVIL'",
      [id, AUDIT_CHANNEL, auditTs],
    );
  });
  // …is never updated when the request changes; the real DMs are.
  await click(slack, app.port, ACTION.deny, id, as(APPROVER_B, `D${APPROVER_B}`));
  await waitForStatus(db.url, id, ['denied']);
  await waitForUpdate(slack, db.url, id, /Denied by/);
  for (const dm of sent) {
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.update')
          .find((c) => c.params.channel === dm.channel && c.params.ts === dm.ts && /Denied by/.test(textOf(c.params))),
      { description: `the DM of ${dm.user_id} showing the denial` },
    );
  }
  assert.equal(slack.callsTo('chat.update').filter((c) => c.params.ts === auditTs).length, 0);
  assert.ok(app.logs.some((l) => l.includes('not in a DM: not updated')));
});
