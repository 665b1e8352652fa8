// Who may look: PGSESSIONS_VIEWERS (users and user groups), replaced per cluster by `viewers` in the
// clusters file. Everyone else gets one plain sentence for listings, blocking, replication, status and
// pending — and for a forged Share or row button — and sees no session. `pending` shows a request only in
// the conversation it was made in. Replication listings offer no button for protected roles or applications.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { sleepSession, walsender } from '../helpers/sessions.js';
import { SIGNING_SECRET } from '../helpers/app.js';
import {
  as,
  buttonsIn,
  command,
  fresh,
  sessionTracker,
  stateQuery,
  textOf,
  typedRequest,
} from '../helpers/approval-flow.js';
import { ACTION, encodeModalMetadata, encodeTarget, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const VIEWER = 'UVIEW';
const GROUP_VIEWER = 'UGRPVIEW';
const BETA_VIEWER = 'UBETAVIEW';
const STRANGER = 'USTRANGER';
const APPROVER = 'UAPP';
const PROTECTED_APP = 'protected-standby';
const NOT_VIEWER =
  /You are not among the people who may look at sessions.*\(PGSESSIONS_VIEWERS\)\. Nothing was shown\./;

const sessions = sessionTracker();
let clusters: string;
const { db, slack, app } = useTestApp({
  database: 'viewers',
  async prepare(database) {
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-viewers-'));
    clusters = join(dir, 'clusters.yml');
    // Two names for the same server: alpha follows PGSESSIONS_VIEWERS, beta names its own viewers.
    await writeFile(
      clusters,
      [
        'clusters:',
        '  - name: alpha',
        `    url: ${database.url}`,
        '  - name: beta',
        `    url: ${database.url}`,
        `    viewers: [${BETA_VIEWER}]`,
        '',
      ].join('\n'),
    );
  },
  env: (database) => ({
    PGSESSIONS_CLUSTERS: clusters,
    STATE_DATABASE_URL: database.url,
    PGSESSIONS_VIEWERS: `${VIEWER},${APPROVER},UREQ,SVIEWERS`,
    PGSESSIONS_PROTECTED_APPS: PROTECTED_APP,
    DATABASE_URL: undefined,
  }),
  start: { terminateTimeoutMs: 3_000 },
  sessions,
});

test('someone who is not a viewer is refused every look, with one plain sentence and no session in it', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'viewers-secret' }));
  const channel = fresh('C');
  for (const text of [
    'cluster:alpha',
    'blocking cluster:alpha',
    'replication cluster:alpha',
    'status cluster:alpha',
    'status',
    'pending',
    'pending cluster:alpha',
  ]) {
    const { body } = await command(slack, app.port, text, as(STRANGER, channel));
    const shown = textOf(body);
    assert.match(shown, NOT_VIEWER, `${text}: ${shown}`);
    assert.ok(
      !shown.includes(String(s.pid)) && !shown.includes('viewers-secret') && !shown.includes('pg_sleep'),
      `${text} showed a session`,
    );
    assert.equal(buttonsIn(body.blocks).length, 0, `${text} offered buttons`);
  }
  // help still explains the command, but names no cluster's role or version.
  const help = textOf((await command(slack, app.port, 'help', as(STRANGER, channel))).body);
  assert.match(help, /Usage/);
  assert.doesNotMatch(help, /PostgreSQL \d/);
});

test('viewers by user id and by user group may look; a cluster of its own viewers replaces the global list', async () => {
  slack.usergroups.SVIEWERS = [GROUP_VIEWER];
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'viewers-seen' }));
  const channel = fresh('C');
  for (const user of [VIEWER, GROUP_VIEWER]) {
    const shown = textOf((await command(slack, app.port, 'cluster:alpha app:viewers-seen', as(user, channel))).body);
    assert.match(shown, new RegExp(`pid ${s.pid}`), `${user} may look at alpha`);
    assert.match(
      textOf((await command(slack, app.port, 'cluster:beta', as(user, channel))).body),
      NOT_VIEWER,
      `${user} may not look at beta`,
    );
  }
  assert.match(
    textOf((await command(slack, app.port, 'cluster:beta app:viewers-seen', as(BETA_VIEWER, channel))).body),
    new RegExp(`pid ${s.pid}`),
  );
  assert.match(
    textOf((await command(slack, app.port, 'blocking cluster:alpha', as(BETA_VIEWER, channel))).body),
    NOT_VIEWER,
  );
  // status without a cluster: only the clusters one may look at.
  const status = textOf((await command(slack, app.port, 'status', as(BETA_VIEWER, channel))).body);
  assert.match(status, /\*beta\* — PostgreSQL/);
  assert.doesNotMatch(status, /\*alpha\*/);
});

test('a forged Share or row button from someone who is not a viewer shows nothing and opens no form', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'viewers-forged' }));
  const channel = fresh('C');
  const shareId = fresh('share');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: STRANGER,
    channelId: channel,
    actionId: ACTION.share,
    value: 'cluster:alpha app:viewers-forged',
    responseUrl: slack.responseUrl(shareId),
  });
  const shared = await slack.waitFor(() => slack.responsesTo(shareId)[0]);
  assert.equal((shared.body as { response_type?: string }).response_type, 'ephemeral');
  assert.match(textOf(shared.body), NOT_VIEWER);
  assert.ok(!textOf(shared.body).includes(String(s.pid)));

  const rowId = fresh('row');
  const trigger = triggerId();
  const value = encodeTarget({
    cluster: 'alpha',
    pid: s.pid,
    backendStart: s.backendStart,
    queryStart: s.queryStart,
    kind: 'terminate',
  });
  await blockAction(app.port, SIGNING_SECRET, {
    userId: STRANGER,
    channelId: channel,
    actionId: ACTION.terminate,
    value,
    responseUrl: slack.responseUrl(rowId),
    triggerId: trigger,
  });
  assert.match(textOf((await slack.waitFor(() => slack.responsesTo(rowId)[0])).body), NOT_VIEWER);
  assert.equal(
    slack.callsTo('views.open').filter((c) => c.params.trigger_id === trigger).length,
    0,
    'no form was opened',
  );
});

test('asking to kill shows the session, so it is refused to someone who may not look: typed or through a forged form', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'viewers-kill' }));
  const channel = fresh('C');
  const { body } = await command(slack, app.port, `terminate ${s.pid} cluster:alpha curious`, as(STRANGER, channel));
  assert.match(textOf(body), NOT_VIEWER);
  const target = {
    cluster: 'alpha',
    pid: s.pid,
    backendStart: s.backendStart,
    queryStart: s.queryStart,
    kind: 'terminate' as const,
  };
  const submitted = await viewSubmission(app.port, SIGNING_SECRET, {
    userId: STRANGER,
    callbackId: VIEW.request,
    privateMetadata: encodeModalMetadata({ target, channel }),
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'curious' } } },
  });
  const errors = (submitted.json as { errors?: Record<string, string> }).errors ?? {};
  assert.match(errors[INPUT.reasonBlock] ?? '', /not among the people who may look at sessions on cluster alpha/);
  const rows = await stateQuery<{ n: number }>(
    db.url,
    'SELECT count(*)::int AS n FROM pgsessions.requests WHERE channel = $1',
    [channel],
  );
  assert.equal(rows[0]!.n, 0, 'nothing was requested');
});

test('pending shows a request only in the conversation it was made in; elsewhere it is counted, not shown', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'viewers-private' }));
  const privateChannel = fresh('G');
  await typedRequest(
    slack,
    app.port,
    `terminate ${s.pid} cluster:alpha secret-reason-private`,
    as('UREQ', privateChannel),
  );

  const inside = textOf((await command(slack, app.port, 'pending', as(APPROVER, privateChannel))).body);
  assert.match(inside, new RegExp(`pid ${s.pid}`));
  assert.match(inside, /secret-reason-private/);

  for (const elsewhere of [fresh('C'), fresh('D')]) {
    const outside = textOf((await command(slack, app.port, 'pending', as(APPROVER, elsewhere))).body);
    assert.ok(
      !outside.includes('secret-reason-private') &&
        !outside.includes(String(s.pid)) &&
        !outside.includes(privateChannel),
      `pending in ${elsewhere} showed the request: ${outside}`,
    );
    assert.match(outside, /1 more open request was made in other conversations/);
  }
});

test('replication offers no End walsender button for a protected application, and still does for the others', async () => {
  const guarded = sessions.track(await walsender(db.url, { application: PROTECTED_APP }));
  const open = sessions.track(await walsender(db.url, { application: 'plain-standby' }));
  const { body } = await command(slack, app.port, 'replication cluster:alpha', as(VIEWER, fresh('C')));
  const buttons = buttonsIn(body.blocks).filter((b) => b.action_id === ACTION.terminateWalsender);
  const pids = buttons.map((b) => (JSON.parse(b.value) as { p: number }).p);
  assert.ok(textOf(body).includes(PROTECTED_APP), 'the protected walsender is listed');
  assert.ok(pids.includes(open.pid), 'the plain walsender has its button');
  assert.ok(!pids.includes(guarded.pid), 'the protected walsender has no button');
});
