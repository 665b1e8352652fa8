// `/pgsessions cluster:*` against real clusters: alpha and beta (two names for the suite's server, beta with
// its own viewers) and `stalled`, a TCP listener that accepts and never says a word. The answer comes within
// PGSESSIONS_FLEET_TIMEOUT and a little, names `stalled` as not answering, shows each row's cluster, and
// offers buttons that lead to an approved terminate on the cluster the row named. A viewer of one cluster
// sees that cluster only; a forged cluster name in a button is refused.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockAction, triggerId, viewSubmission } from '../helpers/slack-requests.js';
import { sleepSession } from '../helpers/sessions.js';
import { baseEnv, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';
import {
  approvalPosts,
  as,
  buttonsIn,
  click,
  command,
  fresh,
  requestIdOf,
  sessionTracker,
  stateQuery,
  textOf,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { ACTION, decodeTarget, encodeTarget, INPUT, VIEW } from '../../src/slack/blocks/ids.js';

const VIEWER = 'UFLEETVIEW';
const BETA_VIEWER = 'UFLEETBETA';
const STRANGER = 'UFLEETSTRANGER';
const APPROVER = 'UAPP';
const TIMEOUT_S = 2;

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let stalled: Server;
const held = new Set<Socket>();
const sessions = sessionTracker();

before(async () => {
  [db, slack] = await Promise.all([createTestDatabase('fleet'), startSlackApi()]);
  // Accepts every connection and never answers: not refused, not slow, silent.
  stalled = createServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  const stalledUrl = new URL(db.url);
  stalledUrl.port = String((stalled.address() as AddressInfo).port);
  const dir = await mkdtemp(join(tmpdir(), 'pgsessions-fleet-'));
  const file = join(dir, 'clusters.yml');
  await writeFile(
    file,
    [
      'clusters:',
      '  - name: alpha',
      `    url: ${db.url}`,
      '  - name: beta',
      `    url: ${db.url}`,
      `    viewers: [${BETA_VIEWER}, ${VIEWER}, ${APPROVER}]`,
      '  - name: stalled',
      `    url: ${stalledUrl.toString()}`,
      '',
    ].join('\n'),
  );
  app = await startTestApp(
    {
      ...baseEnv(db.url, slack, {
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: db.url,
        PGSESSIONS_VIEWERS: `${VIEWER},${APPROVER}`,
        PGSESSIONS_FLEET_TIMEOUT: `${TIMEOUT_S}s`,
      }),
      DATABASE_URL: undefined,
    },
    { terminateTimeoutMs: 3_000 },
  );
});
afterEach(async () => {
  await sessions.endAll();
});
after(async () => {
  await app?.stop();
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => (stalled ? stalled.close(() => resolve()) : resolve()));
  await slack?.close();
  await db?.drop();
});

/** Runs the command and measures from the request to the reply Slack received. */
async function timed(text: string, user: string, channel: string) {
  const started = Date.now();
  const reply = await command(slack, app.port, text, as(user, channel));
  return { ...reply, ms: Date.now() - started };
}

test('cluster:* answers within the timeout and a little, names the cluster that did not answer, and each row its cluster', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-row' }));
  const { body, ms } = await timed('cluster:* app:fleet-row', VIEWER, fresh('C'));
  const shown = textOf(body);
  assert.ok(ms < TIMEOUT_S * 1000 + 1_500, `the answer took ${ms} ms with a stalled cluster`);
  assert.match(shown, new RegExp(`not answered in ${TIMEOUT_S} s: \`stalled\``));
  // The same session, once under each cluster that answered, and the row's text says which.
  const sections = (body.blocks as { type: string; text?: { text: string } }[])
    .filter((b) => b.type === 'section')
    .map((b) => b.text?.text ?? '');
  const rows = sections.filter((t) => t.includes(`pid ${s.pid}`));
  assert.deepEqual(rows.map((t) => /^`([a-z]+)`/.exec(t)?.[1]).sort(), ['alpha', 'beta']);
  assert.match(shown, /Sessions on every cluster — 2 matches on 2 of 3/);
  // Buttons name their row's cluster.
  const clusters = buttonsIn(body.blocks)
    .filter((b) => b.action_id === ACTION.terminate)
    .map((b) => decodeTarget(b.value)?.cluster)
    .sort();
  assert.deepEqual(clusters, ['alpha', 'beta']);
});

test('filters span clusters; a view that cannot is refused in one sentence and nothing is read', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-filter' }));
  sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-other' }));
  const filtered = textOf((await timed('cluster:* app:fleet-filter min:0s', VIEWER, fresh('C'))).body);
  assert.ok(filtered.includes(`pid ${s.pid}`));
  assert.ok(!filtered.includes('fleet-other'), 'app: filtered every cluster');
  const idle = textOf((await timed('cluster:* state:idle app:fleet-filter', VIEWER, fresh('C'))).body);
  assert.ok(!idle.includes(`pid ${s.pid}`), 'state:idle spans clusters too (the sleeper is active)');
  for (const text of ['blocking cluster:*', 'replication cluster:*', `terminate ${s.pid} cluster:* oops`]) {
    const answer = textOf((await command(slack, app.port, text, as(VIEWER, fresh('C')))).body);
    assert.match(answer, /cluster:\* works with a listing only: \w+ needs one cluster, cluster:NAME\./, text);
  }
  const requests = await stateQuery<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM pgsessions.requests');
  assert.equal(requests[0]!.n, 0, 'nothing was requested');
});

test('attacker: a viewer of one cluster sees only its rows, and never the names of the others', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-rights' }));
  const { body, ms } = await timed('cluster:* app:fleet-rights', BETA_VIEWER, fresh('C'));
  const shown = textOf(body);
  assert.ok(shown.includes(`pid ${s.pid}`), 'beta is listed');
  assert.match(shown, /on 1 of 1/);
  assert.ok(!shown.includes('alpha') && !shown.includes('stalled'), `another cluster was named: ${shown}`);
  const clusters = buttonsIn(body.blocks)
    .filter((b) => b.action_id !== ACTION.share)
    .map((b) => decodeTarget(b.value)?.cluster);
  assert.ok(
    clusters.length > 0 && clusters.every((c) => c === 'beta'),
    `buttons for other clusters: ${clusters.join(',')}`,
  );
  assert.ok(ms < TIMEOUT_S * 1000, 'a cluster the person may not view is not even waited for');

  const refused = textOf((await command(slack, app.port, 'cluster:*', as(STRANGER, fresh('C')))).body);
  assert.match(refused, /You are not among the people who may look at sessions here/);
  assert.ok(!refused.includes(`pid ${s.pid}`));
});

test('a Terminate button from cluster:* leads to an approved terminate on the cluster its row named', async () => {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-victim' }));
  const channel = fresh('C');
  const { body } = await command(slack, app.port, 'cluster:* app:fleet-victim', as(VIEWER, channel));
  const button = buttonsIn(body.blocks).find(
    (b) => b.action_id === ACTION.terminate && decodeTarget(b.value)?.cluster === 'beta',
  );
  assert.ok(button, 'the beta row offers Terminate');
  const trigger = triggerId();
  await blockAction(app.port, SIGNING_SECRET, {
    userId: VIEWER,
    channelId: channel,
    actionId: ACTION.terminate,
    value: button.value,
    responseUrl: slack.responseUrl(fresh('row')),
    isEphemeral: true,
    triggerId: trigger,
  });
  const opened = await slack.waitFor(() => slack.callsTo('views.open').find((c) => c.params.trigger_id === trigger));
  const modal = opened.params.view as { private_metadata: string };
  const submitted = await viewSubmission(app.port, SIGNING_SECRET, {
    userId: VIEWER,
    callbackId: VIEW.request,
    privateMetadata: modal.private_metadata,
    values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'fleet runaway' } } },
  });
  assert.equal(submitted.body, '', 'a valid submission closes the modal');
  const post = await slack.waitFor(() => approvalPosts(slack, channel)[0], { description: 'approval message' });
  const id = requestIdOf(post);
  await click(slack, app.port, ACTION.approve, id, as(APPROVER, channel));
  const row = await waitForStatus(db.url, id, ['executed', 'failed']);
  assert.equal(row.status, 'executed');
  assert.deepEqual(row.result?.outcomes, [{ pid: victim.pid, outcome: 'terminated' }]);
  const stored = await stateQuery<{ cluster: string }>(
    db.url,
    'SELECT cluster FROM pgsessions.requests WHERE id = $1',
    [id],
  );
  assert.equal(stored[0]!.cluster, 'beta', 'the request names the cluster of the row pressed');
  const audited = await stateQuery<{ cluster: string }>(
    db.url,
    'SELECT DISTINCT cluster FROM pgsessions.audit_log WHERE request_id = $1',
    [id],
  );
  assert.deepEqual(
    audited.map((a) => a.cluster),
    ['beta'],
  );
});

test('attacker: a button whose value names a cluster that does not exist (or `*`) is refused and opens nothing', async () => {
  const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'fleet-forged' }));
  for (const cluster of ['*', 'gamma']) {
    const channel = fresh('C');
    const rowId = fresh('row');
    const trigger = triggerId();
    const value = encodeTarget({
      cluster,
      pid: s.pid,
      backendStart: s.backendStart,
      queryStart: s.queryStart,
      kind: 'terminate',
    });
    await blockAction(app.port, SIGNING_SECRET, {
      userId: VIEWER,
      channelId: channel,
      actionId: ACTION.terminate,
      value,
      responseUrl: slack.responseUrl(rowId),
      triggerId: trigger,
    });
    const reply = textOf((await slack.waitFor(() => slack.responsesTo(rowId)[0])).body);
    assert.doesNotMatch(reply, /Request posted/);
    assert.equal(slack.callsTo('views.open').filter((c) => c.params.trigger_id === trigger).length, 0, cluster);
  }
  const requests = await stateQuery<{ n: number }>(
    db.url,
    "SELECT count(*)::int AS n FROM pgsessions.requests WHERE cluster IN ('*', 'gamma')",
  );
  assert.equal(requests[0]!.n, 0);
});
