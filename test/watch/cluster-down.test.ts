// A cluster that cannot be read is one incident — one message, not one per interval and not a crash loop —
// cleared when it answers again.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { sleep, textOf } from '../helpers/approval-flow.js';
import { alertPostsAbout, updatesOfMessage, waitForIncident, watchEnv } from '../helpers/watch.js';
import { useTestApp } from '../helpers/use-test-app.js';

let proxy: SlowProxy;
let clusters: string;
const { db, slack } = useTestApp({
  database: 'down',
  async prepare(database) {
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
    const via = new URL(database.url);
    via.port = String(proxy.port);
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-down-'));
    clusters = join(dir, 'clusters.yml');
    await writeFile(clusters, `clusters:\n  - name: flaky\n    url: ${via.toString()}\n`);
  },
  env: (database) => ({
    ...watchEnv(),
    PGSESSIONS_CLUSTERS: clusters,
    STATE_DATABASE_URL: database.url,
    DATABASE_URL: undefined,
  }),
  start: { watchUpdateGapSeconds: 1 },
});
after(async () => {
  await proxy?.close();
});

test('a cluster that goes down is one incident, cleared when it is back', async () => {
  const port = proxy.port;
  await proxy.close();
  const alert = await slack.waitFor(() => alertPostsAbout(slack, /does not answer/)[0], {
    timeoutMs: 15_000,
    description: 'the cluster-down alert',
  });
  assert.match(textOf(alert.params), /flaky/);
  // The alert says what kind of failure, not where the server is: no host:port (the log keeps the detail).
  assert.match(textOf(alert.params), /could not be reached/);
  assert.ok(
    !textOf(alert.params).includes(`:${port}`) && !textOf(alert.params).includes('127.0.0.1'),
    `the alert names the address: ${textOf(alert.params)}`,
  );
  await sleep(4_000);
  assert.equal(alertPostsAbout(slack, /does not answer/).length, 1, 'one message, not one per interval');
  const row = await waitForIncident(db.url, (i) => i.cause === 'cluster-down' && i.status === 'open');

  proxy = await startSlowProxy(Number(new URL(db.url).port), 0, port);
  const cleared = await waitForIncident(db.url, (i) => i.id === row.id && i.status === 'cleared', 15_000, 'the clear');
  assert.equal(cleared.clear_reason?.kind, 'back');
  await slack.waitFor(
    () => updatesOfMessage(slack, row.message_ts!).find((u) => /cluster answers again/.test(textOf(u.params))),
    { timeoutMs: 10_000 },
  );
  assert.equal(alertPostsAbout(slack, /does not answer/).length, 1);
});
