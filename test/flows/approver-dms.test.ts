// Direct messages to approvers (docs/approvals.md "Direct messages"): each approver of a waiting request or
// rule proposal — users, and members of user groups read now — gets exactly one DM with the channel
// message's Approve/Deny buttons and a link to it; the requester never does. Deciding from the DM is deciding:
// the channel message is updated in place and every DM shows the outcome without buttons. Slack refusing one
// person never stops the others, and two replicas never tell one person twice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { WebClient } from '@slack/web-api';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { AUDIT_CHANNEL, BOT_TOKEN, OUTSIDER, REQUESTER } from '../helpers/app.js';
import { useTestApp } from '../helpers/use-test-app.js';
import type { RecordedCall, SlackApi } from '../helpers/slack-api.js';
import {
  as,
  buttonsIn,
  click,
  command,
  fresh,
  requestRow,
  sessionTracker,
  sleep,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
  waitForUpdate,
} from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { createApproverNotices } from '../../src/slack/adapters/approver-notices.js';
import { createApproverMessagesStore } from '../../src/postgres/approver-messages-store.js';
import { createGroups } from '../../src/slack/adapters/groups.js';
import { createLogger } from '../../src/logger.js';
import type { KillRequest } from '../../src/domain/types.js';

const APPROVER_A = 'UAPPA';
const DBA = 'UDBA1';
/** In both groups, and so told once. */
const BOTH = 'UBOTH';
const APPROVERS = [APPROVER_A, DBA, BOTH];

const refuseDm = new Set<string>();
const sessions = sessionTracker();
const track = sessions.track;
const { db, slack, app } = useTestApp({
  database: 'dms',
  start: { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  sessions,
  revokeRules: true,
  // The requester is an approver too (through S-DBA): never asked to approve their own request.
  env: watchEnv({ PGSESSIONS_APPROVERS: `${APPROVER_A},SDBA,SONCALL` }),
  prepare: async (_db, standIn) => {
    groupsOf(standIn);
    standIn.handle('conversations.open', (params) =>
      refuseDm.has(String(params.users)) ? { ok: false, error: 'cannot_dm_bot' } : undefined,
    );
  },
});

function groupsOf(standIn: SlackApi): void {
  standIn.usergroups.SDBA = [DBA, REQUESTER, BOTH];
  standIn.usergroups.SONCALL = [BOTH, APPROVER_A];
}

/** DMs (chat.postMessage in a D… channel) whose buttons carry `id`. */
function dmsAbout(id: string): RecordedCall[] {
  return slack
    .callsTo('chat.postMessage')
    .filter(
      (c) =>
        String(c.params.channel).startsWith('D') && !c.fault && buttonsIn(c.params.blocks).some((b) => b.value === id),
    );
}

/** Every post to a D… channel, whatever it is about. */
const allDms = () => slack.callsTo('chat.postMessage').filter((c) => String(c.params.channel).startsWith('D'));

async function waitForDms(id: string, n: number): Promise<RecordedCall[]> {
  return slack.waitFor(() => (dmsAbout(id).length >= n ? dmsAbout(id) : undefined), {
    timeoutMs: 10_000,
    description: `${n} direct messages about ${id}`,
  });
}

const dmChannel = (user: string) => `D${user}`;

/** The ts of each DM, from the stand-in's answer recorded in the state database. */
async function recorded(id: string): Promise<Array<{ user_id: string; channel: string; ts: string; tier: number }>> {
  return stateQuery(
    db.url,
    'SELECT user_id, channel, ts, tier FROM pgsessions.approver_messages WHERE subject_id = $1 ORDER BY user_id',
    [id],
  );
}

test('each approver gets one DM with the buttons and a link; approving there executes and every DM shows it', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-victim' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} runaway report`, as(REQUESTER, channel));

  const dms = await waitForDms(id, 3);
  await sleep(500); // nothing more arrives: one DM each
  assert.deepEqual(
    dmsAbout(id)
      .map((c) => c.params.channel)
      .sort(),
    APPROVERS.map(dmChannel).sort(),
  );
  assert.equal(
    allDms().filter((c) => c.params.channel === dmChannel(REQUESTER)).length,
    0,
    'the requester, an approver through S-DBA, is never asked to approve their own request',
  );
  const { message_ts: channelTs } = await requestRow(db.url, id);
  for (const dm of dms) {
    const buttons = buttonsIn(dm.params.blocks);
    assert.deepEqual(
      buttons.map((b) => [b.action_id, b.value]),
      [
        [ACTION.approve, id],
        [ACTION.deny, id],
      ],
      'Approve and Deny, carrying only the id, exactly as in the channel',
    );
    const text = textOf(dm.params.blocks);
    assert.ok(text.includes(`https://test.slack.com/archives/${channel}/p${String(channelTs).replace('.', '')}`));
    assert.ok(text.includes(`<@${REQUESTER}>`) && text.includes(String(victim.pid)) && text.includes('runaway report'));
    assert.match(text, /Terminate/);
  }
  assert.deepEqual(
    (await recorded(id)).map((r) => [r.user_id, r.channel, r.tier]),
    [...APPROVERS].sort().map((u) => [u, dmChannel(u), 0]),
  );

  await click(slack, app.port, ACTION.approve, id, as(DBA, dmChannel(DBA)));
  assert.equal((await waitForStatus(db.url, id, ['executed', 'failed'])).status, 'executed');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), false, 'the backend is gone');
  // The channel message is updated in place (same channel, same ts), not the DM the click came from.
  const shown = await waitForUpdate(slack, db.url, id, /Approved by/);
  assert.equal(shown.params.channel, channel);
  // Every DM is updated in place, ending without buttons.
  for (const dm of await recorded(id)) {
    const last = await slack.waitFor(
      () => {
        const updates = slack
          .callsTo('chat.update')
          .filter((c) => c.params.channel === dm.channel && c.params.ts === dm.ts);
        const final = updates.at(-1);
        return final && /terminated|executed/i.test(textOf(final.params)) ? final : undefined;
      },
      { timeoutMs: 10_000, description: `the DM of ${dm.user_id} showing the outcome` },
    );
    assert.equal(buttonsIn(last.params.blocks).length, 0, 'no buttons once decided');
  }
  await sleep(500);
  assert.equal(dmsAbout(id).length, 3, 'after the decision nobody else is messaged');
});

test('someone who is not an approver pressing a DM’s Approve is refused and nothing happens', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-outsider' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} outsider try`, as(REQUESTER, channel));
  await waitForDms(id, 3);
  // The button from APPROVER_A's DM, pressed by someone else (a forwarded or forged payload).
  const refused = await click(slack, app.port, ACTION.approve, id, as(OUTSIDER, dmChannel(APPROVER_A)));
  assert.match(await refused.reply(), /Only an approver/);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, victim.pid, victim.backendStart), true);
  const requester = await click(slack, app.port, ACTION.approve, id, as(REQUESTER, dmChannel(APPROVER_A)));
  assert.match(await requester.reply(), /You made this request/);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
  // Withdrawn in the channel: every DM follows, without buttons.
  await click(slack, app.port, ACTION.withdraw, id, as(REQUESTER, channel));
  await waitForStatus(db.url, id, ['withdrawn']);
  for (const dm of await recorded(id)) {
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.update')
          .find(
            (c) =>
              c.params.channel === dm.channel &&
              c.params.ts === dm.ts &&
              /Withdrawn/.test(textOf(c.params)) &&
              buttonsIn(c.params.blocks).length === 0,
          ),
      { description: `the DM of ${dm.user_id} showing the withdrawal` },
    );
  }
});

test('Slack refusing to open one approver’s DM stops neither the others nor the request', async () => {
  const channel = fresh('C');
  refuseDm.add(DBA);
  try {
    const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-refused' }));
    const { id, reply } = await typedRequest(
      slack,
      app.port,
      `terminate ${victim.pid} one refused`,
      as(REQUESTER, channel),
    );
    assert.match(reply, /Request posted/);
    await waitForDms(id, 2);
    await slack.waitFor(() => slack.callsTo('conversations.open').some((c) => c.params.users === DBA), {
      description: 'the refused conversations.open',
    });
    await sleep(500);
    assert.deepEqual(
      dmsAbout(id)
        .map((c) => c.params.channel)
        .sort(),
      [dmChannel(APPROVER_A), dmChannel(BOTH)],
    );
    assert.deepEqual(
      (await recorded(id)).map((r) => r.user_id),
      [APPROVER_A, BOTH],
      'the refused claim is given back: a later tier may try that person again',
    );
    assert.equal((await requestRow(db.url, id)).status, 'pending');
    assert.ok(app.logs.some((l) => l.includes('could not direct-message an approver') && l.includes('cannot_dm_bot')));
  } finally {
    refuseDm.delete(DBA);
  }
});

test('Slack rate-limiting one conversations.open (429) leaves that one person untold, the rest and the request fine', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-429' }));
  slack.failNext('conversations.open', 1, { status: 429, retryAfter: 30 });
  const { id, reply } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} rate limited`,
    as(REQUESTER, channel),
  );
  assert.match(reply, /Request posted/);
  await waitForDms(id, 2);
  await slack.waitFor(() => slack.callsTo('conversations.open').find((c) => c.fault), { description: 'the 429' });
  await sleep(500);
  assert.equal(dmsAbout(id).length, 2, 'the two others are told; the rate-limited one is not retried');
  assert.equal((await recorded(id)).length, 2);
  assert.equal((await requestRow(db.url, id)).status, 'pending');
});

test('a rule proposal reaches the approvers by DM, and approving it there shows everywhere', async () => {
  const before = slack.callsTo('chat.postMessage').length;
  const reply = await command(slack, app.port, 'allow cancel lock-queue-head app:dm-migrate waiting:1s for:1h deploy', {
    user: REQUESTER,
    channel: 'COPSDM',
  });
  assert.match(reply.text, /Rule proposed/, reply.text);
  const proposal = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .slice(before)
        .find(
          (c) =>
            c.params.channel === 'COPSDM' && buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.ruleApprove),
        ),
    { description: 'the proposal' },
  );
  const id = buttonsIn(proposal.params.blocks).find((b) => b.action_id === ACTION.ruleApprove)!.value;
  const dms = await waitForDms(id, 3);
  for (const dm of dms) {
    assert.deepEqual(
      buttonsIn(dm.params.blocks).map((b) => [b.action_id, b.value]),
      [
        [ACTION.ruleApprove, id],
        [ACTION.ruleDeny, id],
      ],
    );
  }
  assert.equal(allDms().filter((c) => c.params.channel === dmChannel(REQUESTER)).length, 0);

  await click(slack, app.port, ACTION.ruleApprove, id, as(BOTH, dmChannel(BOTH)));
  const [rule] = await stateQuery<{ message_ts: string }>(
    db.url,
    'SELECT message_ts FROM pgsessions.rules WHERE id = $1',
    [id],
  );
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) => c.params.channel === 'COPSDM' && c.params.ts === rule?.message_ts && /active/.test(textOf(c.params)),
        ),
    { description: 'the proposal shown active in the channel' },
  );
  for (const dm of await recorded(id)) {
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.update')
          .find(
            (c) => c.params.channel === dm.channel && c.params.ts === dm.ts && buttonsIn(c.params.blocks).length === 0,
          ),
      { description: `the rule DM of ${dm.user_id} without buttons` },
    );
  }
});

test('two replicas telling about the same request tell each person once between them', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-replicas' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} two replicas`, as(REQUESTER, channel));
  await waitForDms(id, 3);
  const [row] = await stateQuery<{ request: KillRequest }>(
    db.url,
    `SELECT json_build_object('id', id::text, 'cluster', cluster, 'action', action, 'targets', targets, 'reason', reason,
       'requester', requester, 'channel', channel, 'messageTs', message_ts, 'status', status,
       'expiresAt', expires_at, 'createdAt', created_at, 'decidedBy', decided_by, 'decidedAt', decided_at) AS request FROM pgsessions.requests WHERE id = $1`,
    [id],
  );
  const request = { ...row!.request, result: null, scope: null, escalateAfterSeconds: null } as KillRequest;
  // The first tier was told by the app; two more "replicas" now tell a second tier at the same moment.
  slack.usergroups.STIER1 = ['UTIER1', 'UTIER2', APPROVER_A];
  const logger = createLogger('silent');
  const replica = () => {
    const client = new WebClient(BOT_TOKEN, {
      slackApiUrl: slack.url.endsWith('/') ? slack.url : `${slack.url}/`,
      retryConfig: { retries: 0 },
    });
    const pool = new pg.Pool({ connectionString: db.url, max: 4 });
    const notices = createApproverNotices({
      client,
      groups: createGroups(client, logger),
      store: createApproverMessagesStore(pool),
      logger,
      queryText: 'full',
    });
    return { notices, pool };
  };
  const one = replica();
  const two = replica();
  try {
    const subject = { kind: 'request' as const, request };
    const [a, b] = await Promise.all([
      one.notices.tell(subject, ['STIER1'], 1),
      two.notices.tell(subject, ['STIER1'], 1),
    ]);
    assert.deepEqual([...a, ...b].sort(), ['UTIER1', 'UTIER2'], 'each new person once; the first tier not again');
    assert.equal(dmsAbout(id).length, 5);
    assert.deepEqual(
      (await recorded(id)).map((r) => [r.user_id, r.tier]),
      [
        [APPROVER_A, 0],
        [BOTH, 0],
        [DBA, 0],
        ['UTIER1', 1],
        ['UTIER2', 1],
      ],
    );
    // Once decided, nobody else is asked.
    const decided = { kind: 'request' as const, request: { ...request, status: 'denied' as const } };
    assert.deepEqual(await one.notices.tell(decided, ['UTIER3'], 2), []);
    assert.equal(slack.callsTo('conversations.open').filter((c) => c.params.users === 'UTIER3').length, 0);
  } finally {
    await one.pool.end();
    await two.pool.end();
  }
});

test('a recorded DM pointing at a channel message is never updated (a forged row cannot rewrite the audit channel)', async () => {
  const channel = fresh('C');
  const victim = track(await sleepSession(db.url, { seconds: 120, application: 'dm-forged' }));
  const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} forged row`, as(REQUESTER, channel));
  await waitForDms(id, 3);
  const auditTs = '1700000000.999999';
  await stateQuery(
    db.url,
    "INSERT INTO pgsessions.approver_messages (subject_kind, subject_id, user_id, channel, ts) VALUES ('request', $1, 'UFORGE', $2, $3)",
    [id, AUDIT_CHANNEL, auditTs],
  );
  await click(slack, app.port, ACTION.deny, id, as(APPROVER_A, dmChannel(APPROVER_A)));
  await waitForStatus(db.url, id, ['denied']);
  await waitForUpdate(slack, db.url, id, /Denied by/);
  for (const dm of (await recorded(id)).filter((r) => r.channel.startsWith('D'))) {
    await slack.waitFor(
      () =>
        slack
          .callsTo('chat.update')
          .find((c) => c.params.channel === dm.channel && c.params.ts === dm.ts && /Denied by/.test(textOf(c.params))),
      { description: `the DM of ${dm.user_id} showing the denial` },
    );
  }
  assert.equal(
    slack.callsTo('chat.update').filter((c) => c.params.channel === AUDIT_CHANNEL && c.params.ts === auditTs).length,
    0,
  );
});
