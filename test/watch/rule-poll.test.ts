// Noticing a rule approved elsewhere costs the state database one read per replica every 2 s, whatever the
// number of clusters: the watcher used to ask for each cluster it watches (led or not), which for 200 clusters
// on 3 replicas was 300 statements a second. Counted on the real rules table (pg_stat_user_tables: every read
// of it is at least one scan), between the watcher's looks (a 60 s interval), with 30 clusters on one replica.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import { sleep, stateQuery } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';

const CLUSTERS = 30;
let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
let dir: string;

before(async () => {
  db = await createTestDatabase('rule_poll');
  slack = await startSlackApi();
  dir = await mkdtemp(join(tmpdir(), 'pgsessions-rule-poll-'));
  const names = Array.from({ length: CLUSTERS }, (_, i) => `c${i}`);
  await writeFile(
    join(dir, 'clusters.yml'),
    `clusters:\n${names.map((n) => `  - name: ${n}\n    url: ${db.url}\n`).join('')}`,
  );
  const env = baseEnv(
    db.url,
    slack,
    watchEnv({ PGSESSIONS_WATCH_INTERVAL: '60s', PGSESSIONS_CLUSTERS: join(dir, 'clusters.yml') }),
  );
  env.STATE_DATABASE_URL = db.url;
  delete env.DATABASE_URL;
  // The sweeps (which end expired rules, reading the table) every minute, not every 200 ms as in the suite.
  app = await startTestApp(env, { sweepIntervalMs: 60_000 });
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
  await rm(dir, { recursive: true, force: true });
});

async function rulesReads(): Promise<number> {
  const [row] = await stateQuery<{ n: string }>(
    db.url,
    `SELECT coalesce(seq_scan, 0) + coalesce(idx_scan, 0) AS n FROM pg_stat_user_tables
      WHERE schemaname = 'pgsessions' AND relname = 'rules'`,
  );
  return Number(row?.n);
}

test('with 30 clusters watched, the rules table is read about once per 2 s, not once per cluster', async () => {
  // Every cluster led and looked at once: each first look reads its own cluster's rules (30 reads at least).
  const start = await rulesReads();
  for (let i = 0; i < 150 && (await rulesReads()) - start < CLUSTERS; i++) await sleep(200);
  await sleep(3_000);
  const before = await rulesReads();
  await sleep(8_000);
  await stateQuery(db.url, 'SELECT pg_sleep(1.5)'); // backends flush their table statistics at most every second
  const reads = (await rulesReads()) - before;
  // One poll every 2 s: about 5 in 9.5 s. Asking per cluster would be 30 every 2 s (about 140).
  assert.ok(reads >= 2, `the replica still polls for rules approved elsewhere (${reads} reads)`);
  assert.ok(reads <= 12, `${reads} reads of the rules table in 9.5 s with ${CLUSTERS} clusters`);
});
