import { test } from 'node:test';
import assert from 'node:assert/strict';
import { slashCommand } from '../helpers/slack-requests.js';
import { sleepSession } from '../helpers/sessions.js';
import { APPROVER, AUDIT_CHANNEL, REQUESTER, SIGNING_SECRET } from '../helpers/app.js';
import { click, stateQuery, typedRequest } from '../helpers/approval-flow.js';
import { waitUntilGone } from '../helpers/sessions.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

// probeCacheMs 0: every scrape reads the state database, so values can be compared with it right away.
const { db, slack, app } = useTestApp({ database: 'metrics', start: { probeCacheMs: 0 } });

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
    await slashCommand(app.port, SIGNING_SECRET, {
      text: `terminate ${victim.pid} stuck`,
      userId: REQUESTER,
      responseUrl: slack.responseUrl('m3'),
    });
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

/** Polls an async check until it gives a value (slack.waitFor takes synchronous checks only). */
async function until<T>(check: () => Promise<T | undefined>, description: string, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = await check();
    if (found !== undefined) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${description}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function outboxCounts(): Promise<{ delivered: number; undelivered: number }> {
  const [row] = await stateQuery<{ delivered: string; undelivered: string }>(
    db.url,
    'SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL) AS delivered, count(*) FILTER (WHERE delivered_at IS NULL) AS undelivered FROM pgsessions.outbox',
  );
  return { delivered: Number(row!.delivered), undelivered: Number(row!.undelivered) };
}

test('after real flows, executions, audit deliveries, delivery failures and the backlog are exact', async () => {
  const victim = await sleepSession(db.url, { seconds: 300, application: 'metrics-victim' });
  const second = await sleepSession(db.url, { seconds: 300, application: 'metrics-second' });
  try {
    // An approved terminate: one execution, terminated.
    const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} metrics by value`, {
      user: REQUESTER,
      channel: 'CMETRICS',
    });
    await click(slack, app.port, ACTION.approve, id, { user: APPROVER, channel: 'CMETRICS' });
    await waitUntilGone(db.url, victim.pid);
    await until(async () => (await outboxCounts()).undelivered === 0 || undefined, 'every audit entry delivered');
    let text = await until(async () => {
      const t = await scrape();
      return value(t, 'pgsessions_request_transitions_total{state="executed"}') === 1 ? t : undefined;
    }, 'the execution counted');
    assert.equal(value(text, 'pgsessions_executions_total{action="terminate",result="terminated"}'), 1);
    assert.equal(value(text, 'pgsessions_request_transitions_total{state="approved"}'), 1);
    // The outbox worker may still be delivering the last entries: wait until the counter and the table agree
    // (a counter that never matched the rows marked delivered would time out here).
    const settled = await until(async () => {
      const counts = await outboxCounts();
      const t = await scrape();
      return counts.undelivered === 0 && value(t, 'pgsessions_audit_delivered_total') === counts.delivered
        ? { t, delivered: counts.delivered }
        : undefined;
    }, 'the delivered counter to equal the outbox rows marked delivered');
    text = settled.t;
    const delivered = settled.delivered;
    assert.ok(delivered >= 4, `requested, approved, executing and executed at least: ${delivered}`);
    assert.equal(
      value(text, 'pgsessions_audit_delivered_total'),
      delivered,
      'delivered = the outbox rows marked delivered',
    );
    assert.equal(value(text, 'pgsessions_audit_outbox_backlog'), 0);

    // Slack refuses the audit channel for a while: each refused attempt is counted, the entry waits.
    let refusals = 0;
    let refusing = true;
    slack.handle('chat.postMessage', (params) => {
      if (!refusing || params.channel !== AUDIT_CHANNEL) return undefined;
      refusals += 1;
      return { ok: false, error: 'channel_not_found' };
    });
    await typedRequest(slack, app.port, `terminate ${second.pid} metrics while Slack refuses`, {
      user: REQUESTER,
      channel: 'CMETRICS',
    });
    await slack.waitFor(() => refusals >= 2 || undefined, { timeoutMs: 10_000, description: 'two refused deliveries' });
    // A refusal reaches the worker a moment after Slack's stand-in sent it: the count must catch up exactly
    // (it would overshoot if a failure were counted twice, and never get there if one were missed).
    text = await until(
      async () => {
        const t = await scrape();
        return value(t, 'pgsessions_audit_delivery_failures_total{reason="channel_not_found"}') === refusals
          ? t
          : undefined;
      },
      'each refused delivery counted once',
      3_000,
    );
    const undelivered = (await outboxCounts()).undelivered;
    assert.ok(undelivered >= 1);
    assert.equal(value(text, 'pgsessions_audit_outbox_backlog'), undelivered, 'backlog = the undelivered outbox rows');
    assert.equal(value(text, 'pgsessions_audit_delivered_total'), delivered, 'nothing more delivered meanwhile');

    // Slack accepts again: the backlog drains, and every delivery is counted once.
    refusing = false;
    const failedAttempts = refusals;
    await until(async () => (await outboxCounts()).undelivered === 0 || undefined, 'backlog delivered', 15_000);
    text = await scrape();
    assert.equal(value(text, 'pgsessions_audit_outbox_backlog'), 0);
    assert.equal(value(text, 'pgsessions_audit_delivered_total'), (await outboxCounts()).delivered);
    assert.equal(value(text, 'pgsessions_audit_delivery_failures_total{reason="channel_not_found"}'), failedAttempts);
  } finally {
    await victim.end();
    await second.end();
  }
});
