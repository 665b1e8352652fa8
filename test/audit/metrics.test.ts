// The audit delivery metrics, asserted by value: entries delivered, failed attempts by reason, and the
// backlog, while Slack refuses the audit channel and after it accepts it again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sleepSession } from '../helpers/sessions.js';
import { AUDIT_CHANNEL, REQUESTER } from '../helpers/app.js';
import { as, fresh, stateQuery, typedRequest } from '../helpers/approval-flow.js';
import { useTestApp } from '../helpers/use-test-app.js';

const { db, slack, app } = useTestApp({ database: 'auditmetrics' });

function value(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

/** Scrapes until `check` holds (a gauge may be sampled at most every few seconds), or fails with the last scrape. */
async function metricsUntil(check: (text: string) => boolean, description: string): Promise<string> {
  const deadline = Date.now() + 15_000;
  let text = '';
  while (Date.now() < deadline) {
    text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
    if (check(text)) return text;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  assert.fail(
    `${description}; last scrape:\n${text
      .split('\n')
      .filter((l) => l.startsWith('pgsessions_audit'))
      .join('\n')}`,
  );
}

test('audit metrics by value: failures by reason and the backlog while Slack refuses, every entry delivered after', async () => {
  slack.handle('chat.postMessage', (params) =>
    params.channel === AUDIT_CHANNEL ? { ok: false, error: 'channel_not_found' } : undefined,
  );
  const victim = await sleepSession(db.url, { seconds: 60 });
  try {
    await typedRequest(slack, app.port, `terminate ${victim.pid} metrics check`, as(REQUESTER, fresh('C')));
    const failing = await metricsUntil(
      (t) =>
        value(t, 'pgsessions_audit_delivery_failures_total{reason="channel_not_found"}') >= 1 &&
        value(t, 'pgsessions_audit_outbox_backlog') === 1,
      'a refused delivery counted by reason, one entry waiting',
    );
    assert.equal(value(failing, 'pgsessions_audit_delivered_total'), 0);

    slack.handle('chat.postMessage', () => undefined);
    const entries = (await stateQuery<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM pgsessions.audit_log'))[0]!
      .n;
    assert.equal(entries, 1, 'one entry: requested');
    const done = await metricsUntil(
      (t) =>
        value(t, 'pgsessions_audit_delivered_total') === entries && value(t, 'pgsessions_audit_outbox_backlog') === 0,
      'every entry delivered, nothing waiting',
    );
    const refused =
      slack.callsTo('chat.postMessage').filter((c) => c.params.channel === AUDIT_CHANNEL).length - entries;
    assert.equal(
      value(done, 'pgsessions_audit_delivery_failures_total{reason="channel_not_found"}'),
      refused,
      'each refused attempt counted once',
    );
  } finally {
    await victim.end();
  }
});
