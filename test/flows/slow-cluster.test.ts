// A slow cluster is not a down cluster: when every connection pgsessions keeps is stuck on earlier queries,
// the on-call engineer is told the database is slow — not that it cannot be reached — and the ack still
// comes at once.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSlowProxy, type SlowProxy } from '../helpers/slow-proxy.js';
import { allText, ask } from '../helpers/replies.js';
import { useTestApp } from '../helpers/use-test-app.js';

let proxy: SlowProxy;
let clusters: string;
const { slack, app } = useTestApp({
  database: 'slow',
  async prepare(database) {
    proxy = await startSlowProxy(Number(new URL(database.url).port), 0);
    const viaProxy = new URL(database.url);
    viaProxy.port = String(proxy.port);
    const dir = await mkdtemp(join(tmpdir(), 'pgsessions-slow-'));
    clusters = join(dir, 'clusters.yml');
    await writeFile(
      clusters,
      `clusters:\n  - name: default\n    url: ${database.url}\n  - name: slow\n    url: ${viaProxy.toString()}\n`,
    );
  },
  env: (database) => ({ PGSESSIONS_CLUSTERS: clusters, STATE_DATABASE_URL: database.url, DATABASE_URL: undefined }),
});
after(async () => {
  await proxy?.close();
});

test('when every connection to a cluster is stuck on slow answers, commands say it is slow, not unreachable', async () => {
  // Open the pool's connections while the network is fast, then make every round trip take 2 × 3 s.
  await Promise.all([1, 2, 3, 4].map(() => ask(app, slack, 'cluster:slow')));
  proxy.delayMs = 3_000;
  const asked = await Promise.all([1, 2, 3, 4, 5, 6].map(() => ask(app, slack, 'cluster:slow', { timeoutMs: 20_000 })));
  const texts = asked.map((a) => allText(a.reply));
  const slow = texts.filter((t) => /Cluster `slow` is slow: all 4 of pgsessions' connections to it are busy/.test(t));
  assert.ok(slow.length >= 1, `no "slow" answer among:\n${texts.join('\n---\n')}`);
  assert.ok(
    !texts.some((t) => /Cannot reach cluster/.test(t)),
    `a slow cluster was called unreachable:\n${texts.join('\n---\n')}`,
  );
  // The ones that got a connection still answered with the listing, late.
  assert.ok(texts.some((t) => /^Sessions on slow/.test(t)));
  // Every command was acknowledged before its answer was posted.
  for (const a of asked) assert.ok(a.ackAt <= a.postedAt);
  proxy.delayMs = 0;
});
