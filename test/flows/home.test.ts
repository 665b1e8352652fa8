// The App Home end to end: a signed `app_home_opened` publishes each person's Home (views.publish, kept by
// the stand-in), deciding from it runs the same use cases as the channel message (the kill is looked for in
// pg_stat_activity), a change made on another replica shows on this replica's published Home, viewers see
// only the clusters they may view, other teams are refused, and what database users typed shows escaped.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import pg from 'pg';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sessionAlive, sleepSession, waitUntilGone } from '../helpers/sessions.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  buttonsIn,
  fresh,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { clickOnHome, openHome, waitForHome } from '../helpers/home.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { waitUntil } from '../helpers/rules.js';

const APPROVER = 'UAPP';
const REQUESTER = 'UREQ';
const VIEWER = 'UVIEW';
const ATTACK = '<!channel> *urgent* <https://evil.example|click>';

const sessions = sessionTracker();
let clustersFile: string;
const { db, slack, app } = useTestApp({
  database: 'home',
  async prepare(database) {
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-home-'));
    clustersFile = join(dir, 'clusters.yml');
    // Two names for the same server: alpha follows the global lists; beta is for UAPP and UREQ only.
    await writeFile(
      clustersFile,
      [
        'clusters:',
        '  - name: alpha',
        `    url: ${database.url}`,
        '  - name: beta',
        `    url: ${database.url}`,
        `    viewers: [${APPROVER}, ${REQUESTER}]`,
        `    approvers: [${APPROVER}]`,
        '',
      ].join('\n'),
    );
  },
  env: (database) => envOf(database.url),
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});

function envOf(url: string): Record<string, string | undefined> {
  return {
    PGSESSIONS_CLUSTERS: clustersFile,
    STATE_DATABASE_URL: url,
    PGSESSIONS_VIEWERS: `${APPROVER},${REQUESTER},${VIEWER}`,
    DATABASE_URL: undefined,
  };
}

const approveButtons = (home: Record<string, unknown>) =>
  buttonsIn(home.blocks).filter((b) => b.action_id === ACTION.approve || b.action_id === ACTION.ruleApprove);

async function request(cluster: string, application: string): Promise<{ id: string; pid: number }> {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 300, application }));
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:${cluster} the home test`,
    as(REQUESTER, fresh('C')),
  );
  return { id, pid: victim.pid };
}

/** What the watcher writes for an open incident, written directly (no watching in this file). */
async function openIncident(cluster: string, application: string): Promise<void> {
  const incident = {
    root: { pid: 4242, user: 'app_user', database: 'shop', application },
    waiting: 3,
  };
  await stateQuery(
    db.url,
    `INSERT INTO pgsessions.incidents (key, cluster, cause, incident, channel) VALUES ($1, $2, 'root-blocker', $3::jsonb, 'CWATCH01')`,
    [`${cluster}|root-blocker|${fresh('k')}`, cluster, JSON.stringify(incident)],
  );
}

/** An approved standing approval, as two people agreeing to it leave it (written directly). */
async function approvedRule(cluster: string, application: string): Promise<void> {
  const spec = {
    action: 'cancel',
    cause: 'active',
    filters: { application },
    thresholds: { runningSeconds: 600 },
    lifetimeSeconds: 3600,
    maxExecutions: 5,
    dryRun: false,
    reason: 'nightly report',
  };
  await stateQuery(
    db.url,
    `INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, status, proposer, approver, channel,
       proposal_expires_at, lifetime_seconds, approved_at, expires_at, max_executions)
     VALUES ($1, $2::jsonb, 'cancel', 'active', 'nightly report', 'approved', 'UPROP', 'UAPP2', 'CRULES',
       now() + interval '15 minutes', 3600, now(), now() + interval '1 hour', 5)`,
    [cluster, JSON.stringify(spec)],
  );
}

/** A rule proposal nobody decided yet (written directly, as `/pgsessions allow` leaves it); returns its id. */
async function proposedRule(cluster: string, application: string): Promise<string> {
  const spec = {
    action: 'cancel',
    cause: 'active',
    filters: { application },
    thresholds: { runningSeconds: 600 },
    lifetimeSeconds: 3600,
    maxExecutions: 5,
    dryRun: false,
    reason: 'proposed for the home test',
  };
  const rows = await stateQuery<{ id: string }>(
    db.url,
    `INSERT INTO pgsessions.rules (cluster, spec, action, cause, reason, proposer, channel, proposal_expires_at,
       lifetime_seconds, max_executions)
     VALUES ($1, $2::jsonb, 'cancel', 'active', 'proposed for the home test', 'UPROP', 'CRULES',
       now() + interval '15 minutes', 3600, 5) RETURNING id::text AS id`,
    [cluster, JSON.stringify(spec)],
  );
  return rows[0]!.id;
}

test('an approver’s Home lists the waiting request with Approve; approving there ends the session and the Home drops it', async () => {
  const { id, pid } = await request('alpha', 'home-victim');
  const opened = await openHome(app.port, APPROVER);
  assert.equal(opened.status, 200);
  const home = await waitForHome(slack, APPROVER, (_, text) => text.includes(id), 'the approver’s Home lists it');
  const approve = buttonsIn(home.blocks).find((b) => b.action_id === ACTION.approve && b.value === id);
  assert.ok(approve, 'the Home offers Approve for the request');
  assert.ok(buttonsIn(home.blocks).some((b) => b.action_id === ACTION.deny && b.value === id));

  const clicked = await clickOnHome(app.port, { user: APPROVER, actionId: ACTION.approve, value: id, view: home });
  assert.equal(clicked.status, 200);
  await waitUntilGone(db.url, pid);
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.equal(row.decided_by, APPROVER);
  await waitForHome(slack, APPROVER, (_, text) => !text.includes(id), 'the Home republished without the request');
});

test('the requester’s Home lists their own open request with Withdraw and no Approve', async () => {
  const { id, pid } = await request('alpha', 'home-mine');
  await openHome(app.port, REQUESTER);
  const home = await waitForHome(slack, REQUESTER, (_, text) => text.includes(id), 'the requester’s Home lists it');
  assert.ok(buttonsIn(home.blocks).some((b) => b.action_id === ACTION.withdraw && b.value === id));
  assert.ok(!approveButtons(home).some((b) => b.value === id), 'nobody is asked to approve their own request');
  assert.match(textOf(home), /Your open requests/);

  // Withdraw from the Home works like the channel's button: the request ends, the session lives on.
  await clickOnHome(app.port, { user: REQUESTER, actionId: ACTION.withdraw, value: id, view: home });
  await waitForHome(slack, REQUESTER, (_, text) => !text.includes(id), 'the Home drops the withdrawn request');
  const row = await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.requests WHERE id = $1', [
    id,
  ]);
  assert.equal(row[0]?.status, 'withdrawn');
  assert.ok(await sessionAlive(db.url, pid));
});

test('a viewer sees the incidents and rules of the clusters they may view, no Approve, and nothing of the others', async () => {
  const alpha = await request('alpha', 'home-viewer-alpha');
  const beta = await request('beta', 'home-viewer-beta');
  await openIncident('alpha', 'alpha-incident-app');
  await openIncident('beta', 'beta-incident-app');
  await approvedRule('alpha', 'alpha-rule-app');
  await approvedRule('beta', 'beta-rule-app');
  const proposal = await proposedRule('alpha', 'alpha-proposal-app');

  await openHome(app.port, VIEWER);
  const home = await waitForHome(
    slack,
    VIEWER,
    (_, text) => text.includes('alpha-incident-app') && text.includes('alpha-rule-app'),
    'the viewer’s Home shows alpha’s incident and rule',
  );
  const text = textOf(home);
  assert.deepEqual(approveButtons(home), [], 'a viewer who may not approve is offered no Approve');
  for (const hidden of ['beta-incident-app', 'beta-rule-app', beta.id, 'home-viewer-beta'])
    assert.ok(!text.includes(hidden), `nothing of beta (${hidden}) on a Home of someone who may not view it`);
  assert.ok(!text.includes(alpha.id), 'not waiting for them, not theirs: no request on their Home');

  // The approver of both sees both, with Approve on each.
  await openHome(app.port, APPROVER);
  const approver = await waitForHome(
    slack,
    APPROVER,
    // The proposal too: a poll's Home from before it was written may already list the rest.
    (_, t) => t.includes(alpha.id) && t.includes(beta.id) && t.includes('beta-incident-app') && t.includes(proposal),
    'the approver’s Home shows both clusters',
  );
  const offered = approveButtons(approver).map((b) => b.value);
  assert.ok(offered.includes(alpha.id) && offered.includes(beta.id));
  assert.ok(
    buttonsIn(approver.blocks).some((b) => b.action_id === ACTION.ruleApprove && b.value === proposal),
    'a rule proposal waits for the approver with Approve rule',
  );
});

test('a click refused on the Home is said in a direct message, and nothing is executed', async () => {
  const { id, pid } = await request('alpha', 'home-refused');
  await openHome(app.port, APPROVER);
  const home = await waitForHome(slack, APPROVER, (_, text) => text.includes(id), 'the approver’s Home lists it');
  // A viewer (not an approver) forges the approver's Home click.
  await clickOnHome(app.port, { user: VIEWER, actionId: ACTION.approve, value: id, view: home });
  const said = await slack.waitFor(() => slack.callsTo('chat.postMessage').find((c) => c.params.channel === VIEWER), {
    description: 'a direct message to the clicker',
  });
  assert.match(String(said.params.text), /approv/i);
  const row = await stateQuery<{ status: string }>(db.url, 'SELECT status FROM pgsessions.requests WHERE id = $1', [
    id,
  ]);
  assert.equal(row[0]?.status, 'pending');
  assert.ok(await sessionAlive(db.url, pid));
});

test('a request made on another replica shows on the Home this replica published', async () => {
  let other: TestApp | undefined;
  try {
    other = await startTestApp({ ...baseEnv(db.url, slack), ...envOf(db.url) }, { terminateTimeoutMs: 3_000 });
    await openHome(app.port, APPROVER);
    await waitForHome(slack, APPROVER, () => true, 'a first Home');
    const victim = sessions.track(await sleepSession(db.url, { seconds: 300, application: 'home-replica' }));
    const publishesBefore = slack.callsTo('views.publish').length;
    const { id } = await typedRequest(
      slack,
      other.port,
      `terminate ${victim.pid} cluster:alpha made on replica B`,
      as(REQUESTER, fresh('C')),
    );
    // Only this replica (A) knows the approver's Home: B never saw them open it.
    await waitForHome(
      slack,
      APPROVER,
      (_, text) => text.includes(id),
      'A republishes the Home with B’s request',
      30_000,
    );
    assert.ok(slack.callsTo('views.publish').length > publishesBefore);
  } finally {
    await other?.stop();
  }
});

test('an app_home_opened from another team is refused: no Home is published', async () => {
  const STRANGER = 'UFOREIGN1';
  const res = await openHome(app.port, STRANGER, { team: 'T999OTHER' });
  assert.equal(res.status, 200, 'Slack gets its acknowledgement');
  // The same person from the right team is answered: so the refusal above was the guard's.
  const control = 'UHOMECTRL';
  await openHome(app.port, control);
  await waitForHome(slack, control, () => true, 'the control person’s Home');
  assert.equal(slack.workspace.homeOf(STRANGER), undefined, 'no Home for a person of another team');
  assert.ok(
    app.logs.some((l) => l.includes('refused a command, click or event') && l.includes(STRANGER)),
    'the refusal is logged',
  );
});

test('the Messages tab opening publishes nothing', async () => {
  const user = 'UMSGTAB';
  await openHome(app.port, user, { tab: 'messages' });
  const control = 'UMSGCTRL';
  await openHome(app.port, control);
  await waitForHome(slack, control, () => true, 'the control person’s Home');
  assert.equal(slack.workspace.homeOf(user), undefined);
});

/** A database user's session whose application_name and query text carry mentions, links and mrkdwn. */
async function attackerSession(): Promise<{ pid: number; end(): Promise<void> }> {
  const client = new pg.Client({ connectionString: db.url, application_name: ATTACK });
  client.on('error', () => undefined); // terminated by the approval or by end(): expected
  await client.connect();
  const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
  const running = client
    .query('SELECT pg_sleep(300) /* <!everyone> *now* `x` <https://evil.example|ok> */')
    .catch(() => null);
  await waitUntil('the attacker’s query to run', async () => {
    const rows = await stateQuery(db.url, "SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND state = 'active'", [pid]);
    return rows.length > 0;
  });
  return {
    pid,
    async end() {
      await stateQuery(db.url, 'SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
      await running;
      await client.end().catch(() => undefined);
    },
  };
}

test('attacker: application_name and query text with mrkdwn and <!channel> show escaped on the Home', async () => {
  const victim = sessions.track(await attackerSession());
  const { id } = await typedRequest(
    slack,
    app.port,
    `terminate ${victim.pid} cluster:alpha <!here> *bold* reason`,
    as(REQUESTER, fresh('C')),
  );
  await openIncident('alpha', ATTACK);
  await openHome(app.port, APPROVER);
  const home = await waitForHome(slack, APPROVER, (_, text) => text.includes(id), 'the Home lists the request');
  const mrkdwn = JSON.stringify(home.blocks);
  assert.ok(!mrkdwn.includes('<!channel>'), 'no live @channel');
  assert.ok(!mrkdwn.includes('<!here>'), 'no live @here');
  assert.ok(!mrkdwn.includes('<https://evil.example'), 'no live link');
  assert.ok(mrkdwn.includes('&lt;!channel&gt;'), 'the application name is shown, escaped');
  assert.ok(mrkdwn.includes('&lt;!everyone&gt;'), 'the query text is shown, escaped');
  assert.equal(
    slack.refusals().filter((r) => r.method === 'views.publish').length,
    0,
    'every Home passes Slack’s checks',
  );
});
