// Start-up with many clusters, one of them stalled (a TCP listener that accepts and never answers): the app
// is up and answering (/healthz, a listing of a healthy cluster) while the stalled cluster's check is still
// running; every healthy cluster's role was checked before start-up went on; and the stalled one is said as
// unreachable when its own check gives up, later, in the background. The checks run a few at a time.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';

const HEALTHY = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, '0')}`);

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let stalled: Server;
const held = new Set<Socket>();
/** Log lines as they stood when start-up resolved. */
let atStart: Array<Record<string, unknown>> = [];

const parsed = (lines: string[]) => lines.map((l) => JSON.parse(l) as Record<string, unknown>);
const unreachableSaid = (lines: Array<Record<string, unknown>>) =>
  lines.filter((l) => /unreachable at start-up/.test(String(l.msg))).map((l) => l.cluster);

before(async () => {
  [db, slack] = await Promise.all([createTestDatabase('fleet_startup'), startSlackApi()]);
  stalled = createServer((socket) => {
    held.add(socket);
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => stalled.listen(0, '127.0.0.1', resolve));
  const stalledUrl = new URL(db.url);
  stalledUrl.port = String((stalled.address() as AddressInfo).port);
  const dir = await mkdtemp(join(tmpdir(), 'pgsessions-fleet-startup-'));
  const file = join(dir, 'clusters.yml');
  // The stalled cluster first: checked in the first batch, it must not hold the others back.
  const entries = [['stalled', stalledUrl.toString()], ...HEALTHY.map((name) => [name, db.url])];
  await writeFile(
    file,
    ['clusters:', ...entries.flatMap(([name, url]) => [`  - name: ${name}`, `    url: ${url}`]), ''].join('\n'),
  );
  app = await startTestApp(
    {
      ...baseEnv(db.url, slack, { PGSESSIONS_CLUSTERS: file, STATE_DATABASE_URL: db.url }),
      DATABASE_URL: undefined,
    },
    // Four at a time, so that the healthy clusters are checked in several rounds beside the stalled one;
    // the stalled check gives up (before its connection's own 5 s timeout) after start-up stopped waiting.
    { clusterChecks: { concurrency: 4, perClusterMs: 4_500, waitMs: 2_500 } },
  );
  atStart = parsed(app.logs);
});

after(async () => {
  await app?.stop();
  for (const socket of held) socket.destroy();
  await new Promise<void>((resolve) => stalled.close(() => resolve()));
  await slack.close();
  await db.drop();
});

test('start-up goes on while a stalled cluster is still being checked, and every healthy one was checked', async () => {
  const checked = atStart.filter((l) => l.msg === 'cluster role checked').map((l) => l.cluster);
  assert.deepEqual([...checked].sort(), HEALTHY, 'every healthy cluster was checked before start-up went on');
  assert.deepEqual(unreachableSaid(atStart), [], 'the stalled cluster had not been given up on yet');
  assert.ok(
    atStart.some((l) => /clusters not checked yet are checked in the background/.test(String(l.msg))),
    'start-up says it went on without the rest',
  );
  const health = await fetch(`http://127.0.0.1:${app.port}/healthz`);
  assert.equal(health.status, 200, 'ready while the stalled cluster is still being checked');
});

test('the stalled cluster is said as unreachable once its own check gives up, in the background', async () => {
  const deadline = Date.now() + 30_000;
  while (unreachableSaid(parsed(app.logs)).length === 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  const logs = parsed(app.logs);
  assert.deepEqual(unreachableSaid(logs), ['stalled']);
  const done = logs.find((l) => l.msg === 'start-up check of every cluster done');
  assert.ok(done, 'the end of the checks is said');
  assert.equal(done.clusters, HEALTHY.length + 1);
  assert.equal(done.unreachable, 1);
});
