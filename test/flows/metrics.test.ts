import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { slashCommand } from '../helpers/slack-requests.js';
import { sleepSession } from '../helpers/sessions.js';
import { baseEnv, REQUESTER, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;

before(async () => {
  db = await createTestDatabase('metrics');
  slack = await startSlackApi();
  app = await startTestApp(baseEnv(db.url, slack));
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
});

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${app.port}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('GET /metrics counts commands by kind and outcome, requests by status, and the audit backlog', async () => {
  const victim = await sleepSession(db.url, { seconds: 60 });
  try {
    await slashCommand(app.port, SIGNING_SECRET, { text: '', responseUrl: slack.responseUrl('m1') });
    await slack.waitFor(() => slack.responsesTo('m1')[0]);
    await slashCommand(app.port, SIGNING_SECRET, { text: 'limit:zero', responseUrl: slack.responseUrl('m2') });
    await slack.waitFor(() => slack.responsesTo('m2')[0]);
    await slashCommand(app.port, SIGNING_SECRET, { text: `terminate ${victim.pid} stuck`, userId: REQUESTER, responseUrl: slack.responseUrl('m3') });
    await slack.waitFor(() => slack.responsesTo('m3')[0]);

    const text = await scrape();
    assert.equal(value(text, 'pgsessions_commands_total{kind="top",outcome="ok"}'), 1);
    assert.equal(value(text, 'pgsessions_commands_total{kind="invalid",outcome="invalid"}'), 1);
    assert.equal(value(text, 'pgsessions_commands_total{kind="terminate",outcome="ok"}'), 1);
    assert.equal(value(text, 'pgsessions_requests{status="pending"}'), 1);
    assert.equal(value(text, 'pgsessions_request_transitions_total{state="requested"}'), 1);
    assert.notEqual(value(text, 'pgsessions_audit_outbox_backlog'), undefined);
    assert.match(text, /pgsessions_cluster_query_seconds_count\{cluster="default",query="list",outcome="ok"\} 1/);
    assert.match(text, /pgsessions_process_resident_memory_bytes \d+/);
  } finally {
    await victim.end();
  }
});
