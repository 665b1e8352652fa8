// Who may do what, cell by cell, over signed HTTP against real sessions. Two clusters on the test server:
// `alpha` follows the global PGSESSIONS_REQUESTERS / PGSESSIONS_APPROVERS; `beta` names its own lists in the
// clusters file, which replace the global ones there. A refusal is the exact sentence, nothing is killed and
// the request is as it was.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { sessionAlive, sleepSession, type SleepSession } from '../helpers/sessions.js';
import { assertNoSecrets, baseEnv, secretsOf } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  auditEvents,
  click,
  command,
  fresh,
  requestRow,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { FAILURE_MESSAGES } from '../../src/domain/messages.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

// ---- the policy at a glance ------------------------------------------------------------------------------

const CLUSTERS = ['alpha', 'beta'] as const;
type ClusterName = (typeof CLUSTERS)[number];
type Role = 'requester' | 'approver' | 'outsider';
type Act = 'request' | 'approve' | 'deny' | 'withdraw';
type Expected = 'allowed' | keyof typeof FAILURE_MESSAGES;

/** Global lists (alpha) and beta's own lists from the clusters file: the same role is different people. */
const GLOBAL = { requesters: ['UREQA'], approvers: ['UAPPA'] };
const BETA = { requesters: ['UREQB'], approvers: ['UAPPB'] };

/** Who holds each role on each cluster. On beta, the global approver and requester are outsiders. */
const PEOPLE: Record<ClusterName, Record<Role, string[]>> = {
  alpha: { requester: ['UREQA'], approver: ['UAPPA'], outsider: ['UOUT', 'UREQB', 'UAPPB'] },
  beta: { requester: ['UREQB'], approver: ['UAPPB'], outsider: ['UOUT', 'UREQA', 'UAPPA'] },
};

/** Decisions are on a pending request made by that cluster's requester. */
const POLICY: Record<Role, Record<Act, Expected>> = {
  //           request           approve          deny             withdraw
  requester: { request: 'allowed', approve: 'not_approver', deny: 'not_approver', withdraw: 'allowed' },
  approver: { request: 'not_requester', approve: 'allowed', deny: 'allowed', withdraw: 'not_the_requester' },
  outsider: { request: 'not_requester', approve: 'not_approver', deny: 'not_approver', withdraw: 'not_the_requester' },
};

const DECISION_BUTTON = { approve: ACTION.approve, deny: ACTION.deny, withdraw: ACTION.withdraw } as const;
const STATUS_AFTER = { approve: 'executed', deny: 'denied', withdraw: 'withdrawn' } as const;

// ---- the world -------------------------------------------------------------------------------------------

const dbs = {} as Record<ClusterName, TestDatabase>;
const standing = {} as Record<ClusterName, SleepSession>;
const extra: SleepSession[] = [];
let env: NodeJS.ProcessEnv;

// The fixture's database is alpha (and holds the state); beta and the clusters file are made in prepare.
const { slack, app } = useTestApp({
  database: 'authz_a',
  async prepare(alpha, standIn) {
    dbs.alpha = alpha;
    dbs.beta = await createTestDatabase('authz_b');
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-authz-'));
    const file = join(dir, 'clusters.yml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - name: alpha',
        `    url: ${dbs.alpha.url}`,
        '  - name: beta',
        `    url: ${dbs.beta.url}`,
        `    requesters: [${BETA.requesters.join(', ')}]`,
        `    approvers: [${BETA.approvers.join(', ')}]`,
        '',
      ].join('\n'),
    );
    env = {
      ...baseEnv(dbs.alpha.url, standIn, {
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: dbs.alpha.url,
        PGSESSIONS_REQUESTERS: GLOBAL.requesters.join(','),
        PGSESSIONS_APPROVERS: GLOBAL.approvers.join(','),
      }),
      DATABASE_URL: undefined,
    };
  },
  env: () => env,
  start: { terminateTimeoutMs: 3_000 },
  async ready() {
    for (const c of CLUSTERS) standing[c] = await sleepSession(dbs[c].url, { seconds: 600, application: `authz-${c}` });
  },
});
// After the fixture has stopped the app and dropped alpha (ending a session whose backend is gone is safe).
after(async () => {
  for (const s of [...Object.values(standing), ...extra]) await s.end().catch(() => undefined);
  await dbs.beta?.drop();
});

const stateUrl = () => dbs.alpha.url;

async function requestsIn(channel: string): Promise<number> {
  const rows = await stateQuery<{ n: number }>(
    stateUrl(),
    'SELECT count(*)::int AS n FROM pgsessions.requests WHERE channel = $1',
    [channel],
  );
  return rows[0]!.n;
}

// ---- the cells -------------------------------------------------------------------------------------------

for (const cluster of CLUSTERS) {
  for (const role of ['requester', 'approver', 'outsider'] as const) {
    for (const user of PEOPLE[cluster][role]) {
      for (const act of ['request', 'approve', 'deny', 'withdraw'] as const) {
        const expected = POLICY[role][act];
        const title =
          expected === 'allowed'
            ? `on ${cluster}, the ${role} ${user} may ${act}`
            : `on ${cluster}, the ${role} ${user} who tries to ${act} is refused (${expected}) and nothing changes`;
        test(title, () => cell(cluster, user, act, expected));
      }
    }
  }
}

async function cell(cluster: ClusterName, user: string, act: Act, expected: Expected): Promise<void> {
  const channel = fresh('C');
  const url = dbs[cluster].url;
  const requester = PEOPLE[cluster].requester[0]!;

  if (act === 'request') {
    const victim = standing[cluster];
    const { text } = await command(
      slack,
      app.port,
      `terminate ${victim.pid} cluster:${cluster} authz check`,
      as(user, channel),
    );
    if (expected === 'allowed') {
      assert.match(text, /Request posted/);
      await slack.waitFor(() => approvalPosts(slack, channel)[0], { description: 'approval message' });
      assert.equal(await requestsIn(channel), 1);
    } else {
      assert.equal(text, FAILURE_MESSAGES[expected]);
      assert.equal(await requestsIn(channel), 0, 'no request was recorded');
      assert.equal(approvalPosts(slack, channel).length, 0, 'nothing was posted');
    }
    assert.equal(await sessionAlive(url, victim.pid, victim.backendStart), true);
    return;
  }

  // A decision is taken on a fresh pending request by this cluster's requester; an approval that is allowed
  // kills, so it gets its own victim.
  const victim =
    expected === 'allowed' && act === 'approve'
      ? await sleepSession(url, { seconds: 120, application: `authz-${cluster}-victim` })
      : standing[cluster];
  if (victim !== standing[cluster]) extra.push(victim);
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:${cluster} authz check`,
    as(requester, channel),
  );
  const clicked = await click(slack, app.port, DECISION_BUTTON[act], id, as(user, channel));
  assert.equal(clicked.status, 200);

  if (expected === 'allowed') {
    const row = await waitForStatus(stateUrl(), id, [STATUS_AFTER[act]]);
    assert.equal(row.decided_by, user);
    assert.equal(
      await sessionAlive(url, victim.pid, victim.backendStart),
      act !== 'approve',
      act === 'approve' ? 'the approved kill happened' : 'nothing was killed',
    );
    return;
  }
  assert.equal(await clicked.reply(), FAILURE_MESSAGES[expected]);
  assert.equal((await requestRow(stateUrl(), id)).status, 'pending', 'the request is unchanged');
  assert.deepEqual(await auditEvents(stateUrl(), id), ['requested'], 'nothing but the request is on record');
  assert.equal(await sessionAlive(url, victim.pid, victim.backendStart), true, 'nothing was killed');
}

test('no captured log line carries the bot token, the signing secret or a database password', () => {
  assert.ok(app.logs.length > 0);
  assertNoSecrets(app.logs, secretsOf(env));
});
