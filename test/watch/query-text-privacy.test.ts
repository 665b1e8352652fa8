// PGSESSIONS_QUERY_TEXT reaches every surface the watcher writes: with `none`, no alert, snooze audit entry,
// audit channel post, incident key or log line carries any part of a query (identifiers, comments, values);
// with `truncated`, nothing past the first 200 characters. The attacker is the database user who writes
// personal data into a query (a comment, a literal) that an operator chose not to show.
import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { AUDIT_CHANNEL, REQUESTER, SIGNING_SECRET, baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { fresh, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { blockAction } from '../helpers/slack-requests.js';
import { incidents, snoozeButton, waitForIncident, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

let app: TestApp | undefined;
const sessions = sessionTracker();
// Each test starts its own app.
const { db, slack } = useTestApp({ database: 'querytext', app: false, sessions });
// After the fixture has ended the test's sessions.
afterEach(async () => {
  await app?.stop();
  app = undefined;
  await stateQuery(db.url, 'DELETE FROM pgsessions.incidents').catch(() => undefined);
  slack.reset();
});

/** `count` sessions running `sql`, each returned once pg_stat_activity shows it active. */
async function storm(sql: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    const client = new pg.Client({ connectionString: db.url, application_name: 'privacy-app' });
    await client.connect();
    client.on('error', () => undefined);
    const pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    const finished = client.query(sql).then(
      () => null,
      (e: Error) => e,
    );
    sessions.track({
      async end() {
        await stateQuery(db.url, 'SELECT pg_terminate_backend($1)', [pid]).catch(() => undefined);
        await finished;
        await client.end().catch(() => undefined);
      },
    });
    for (let n = 0; ; n++) {
      const [row] = await stateQuery<{ state: string }>(db.url, 'SELECT state FROM pg_stat_activity WHERE pid = $1', [
        pid,
      ]);
      if (row?.state === 'active') break;
      if (n > 200) throw new Error('the storm session never became active');
      await sleep(50);
    }
  }
}

/** Every message the app sent to Slack: posts, updates, responses, modals. */
function everything(): string {
  return textOf([...slack.calls.map((c) => c.params), ...slack.responses.map((r) => r.body)]);
}

const alertPayloads = () =>
  slack.calls.filter(
    (c) =>
      (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.params.channel === WATCH_CHANNEL && !c.fault,
  );

/** Every mrkdwn text object in a payload. */
function mrkdwnObjects(value: unknown, out: Array<Record<string, unknown>> = []): Array<Record<string, unknown>> {
  if (Array.isArray(value)) for (const item of value) mrkdwnObjects(item, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (o.type === 'mrkdwn' && typeof o.text === 'string') out.push(o);
    for (const item of Object.values(o)) mrkdwnObjects(item, out);
  }
  return out;
}

async function watching(mode: 'none' | 'truncated'): Promise<TestApp> {
  return startTestApp(
    baseEnv(db.url, slack, watchEnv({ PGSESSIONS_QUERY_TEXT: mode, PGSESSIONS_WATCH_ACTIVE: '1s' })),
    {
      watchUpdateGapSeconds: 1,
      watchStorm: { sessions: 3, seconds: 0 },
    },
  );
}

test('QUERY_TEXT=none: storm and long-query alerts, the snooze audit entry, the audit channel, the incident keys and the logs carry no query text', async () => {
  app = await watching('none');
  await storm('SELECT pg_sleep(120) AS secret_column_q7 /* customer jane.q7@example.com */', 3);
  await storm('SELECT pg_sleep(121) AS secret_column_q7_alone /* customer jane.q7@example.com */', 1);
  const row = await waitForIncident(
    db.url,
    (i) => i.status === 'open' && i.cause === 'query-storm',
    20_000,
    'the storm',
  );
  await waitForIncident(db.url, (i) => i.status === 'open' && i.cause === 'active', 20_000, 'a long-query alert');
  const alert = await slack.waitFor(
    () => alertPayloads().find((c) => snoozeButton(c, 30) && /storm/i.test(textOf(c.params))),
    { timeoutMs: 15_000, description: 'the storm alert' },
  );
  const snoozeId = fresh('snooze');
  await blockAction(app.port, SIGNING_SECRET, {
    userId: REQUESTER,
    channelId: WATCH_CHANNEL,
    actionId: ACTION.watchSnooze,
    value: snoozeButton(alert, 30)!.value,
    responseUrl: slack.responseUrl(snoozeId),
  });
  await slack.waitFor(() => slack.responsesTo(snoozeId)[0], { description: 'the snooze answer' });
  const [snoozed] = await stateQuery<{ details: { incident: string } }>(
    db.url,
    `SELECT details FROM pgsessions.audit_log WHERE event = 'snoozed'`,
  );
  assert.equal(snoozed?.details.incident, row.id, 'the audit entry names the incident by id');
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => c.params.channel === AUDIT_CHANNEL && /snoozed/.test(textOf(c.params))),
    { description: 'the snooze in the audit channel' },
  );
  await sleep(1_500); // a few more looks: updates of the alerts

  assert.ok(alertPayloads().length >= 2, 'alerts were posted');
  // Names (application, user, database) appear in alerts: no link, #channel or @here in them may turn live.
  for (const call of alertPayloads()) {
    for (const object of mrkdwnObjects(call.params.blocks))
      assert.equal(object.verbatim, true, `an alert's mrkdwn is not verbatim: ${String(object.text).slice(0, 120)}`);
  }
  for (const secret of ['secret_column_q7', 'jane.q7', 'pg_sleep', 'customer']) {
    assert.ok(!everything().includes(secret), `${secret} reached Slack`);
    assert.ok(!app.logs.join('').includes(secret), `${secret} reached the logs`);
    const keys = (await incidents(db.url)).map((i) => i.key).join(' ');
    assert.ok(!keys.includes(secret), `${secret} is in an incident key: ${keys}`);
    const audit = await stateQuery<{ d: string }>(db.url, 'SELECT details::text AS d FROM pgsessions.audit_log');
    assert.ok(!audit.some((a) => a.d.includes(secret)), `${secret} is in the audit log`);
  }
});

test('QUERY_TEXT=truncated: alerts show the start of the query and nothing past 200 characters', async () => {
  app = await watching('truncated');
  await storm(`SELECT pg_sleep(120) AS head_marker_t3, '${'y'.repeat(220)}' AS tail_marker_t3`, 3);
  await storm(`SELECT pg_sleep(121) AS head_marker_t3_alone, '${'z'.repeat(220)}' AS tail_marker_t3`, 1);
  await waitForIncident(db.url, (i) => i.status === 'open' && i.cause === 'query-storm', 20_000, 'the storm');
  await waitForIncident(db.url, (i) => i.status === 'open' && i.cause === 'active', 20_000, 'a long-query alert');
  await slack.waitFor(
    () => alertPayloads().find((c) => /head_marker_t3/.test(textOf(c.params)) && /storm/i.test(textOf(c.params))),
    { timeoutMs: 15_000, description: 'the storm alert' },
  );
  await sleep(1_500);
  assert.ok(
    alertPayloads().some((c) => /head_marker_t3/.test(textOf(c.params))),
    'the start of the query is shown',
  );
  for (const call of alertPayloads())
    assert.ok(
      !textOf(call.params).includes('tail_marker_t3'),
      `an alert showed the tail: ${textOf(call.params).slice(0, 300)}`,
    );
  assert.ok(!app.logs.join('').includes('tail_marker_t3'));
  assert.ok(
    !(await incidents(db.url)).some((i) => i.key.includes('head_marker_t3')),
    'the storm key carries no query text',
  );
});
