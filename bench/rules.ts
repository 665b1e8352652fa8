// `npm run bench:rules`: standing approvals on the demo incident at 2000 real sessions (the benchmark's
// session mix) on its own embedded PostgreSQL, watch interval 2 s. Prints figures and PASS/MISS against the
// issue's goal; never asserts a timing. About two minutes. BENCH_RULES_SESSIONS / _SAMPLES to change it.
//   - time to relief: from the moment the rule's thresholds are all met (the DDL has waited 1 s and 3
//     readers queue behind it) to the DDL's statement cancelled, as its own client sees it
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { baseEnv } from '../test/helpers/app.js';
import { blockedQuery, longRead } from '../test/helpers/sessions.js';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { createAuditStore } from '../src/postgres/audit-store.js';
import { createRuleStore } from '../src/postgres/rule-store.js';
import { createSessionMix } from './sessions.js';
import { ms, percentile, sleep, table, verdict } from './stats.js';

const SESSIONS = Number(process.env.BENCH_RULES_SESSIONS ?? 2000);
const SAMPLES = Number(process.env.BENCH_RULES_SAMPLES ?? 10);
const log = (message: string) => console.error(`[bench:rules ${new Date().toISOString().slice(11, 19)}] ${message}`);

const server = await startEmbeddedPostgres({ maxConnections: SESSIONS + 300 });
const slack = await startSlackApi();
const mix = createSessionMix(server.url);
try {
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  await admin.query('CREATE TABLE IF NOT EXISTS probe (id int)');
  await admin.end();
  log(`opening ${SESSIONS} sessions`);
  await mix.growTo(SESSIONS);
  const app = await startPgsessions(
    baseEnv(server.url, slack, {
      LOG_LEVEL: 'silent',
      PGSESSIONS_APPROVERS: 'UAPP,UAPP2',
      PGSESSIONS_WATCH_CHANNEL: 'CWATCHBENCH',
      PGSESSIONS_WATCH_INTERVAL: '2s',
      PGSESSIONS_WATCH_LOCK_WAIT: '1s',
      PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: 'off',
      PGSESSIONS_WATCH_ACTIVE: 'off',
    }),
    { logger: createLogger('silent'), watchUpdateGapSeconds: 30, watchMaxOpenMessages: 1000 },
  );
  // The rule, agreed by two people (written through the store: the Slack path is covered by the tests).
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  const store = createRuleStore(pool, createAuditStore(pool).appendIn);
  const rule = await store.create({
    cluster: 'default',
    proposer: 'UAPP2',
    channel: 'COPS',
    proposalTtlSeconds: 600,
    spec: {
      action: 'cancel',
      cause: 'lock-queue-head',
      filters: { application: 'rails-migrate' },
      thresholds: { waitingSeconds: 1, blocking: 3 },
      lifetimeSeconds: 3600,
      maxExecutions: 1000,
      dryRun: false,
      reason: 'bench',
    },
  });
  await store.approve(rule.id, 'UAPP');
  await sleep(4_000); // the mix's own incidents posted first

  const latencies: number[] = [];
  let missed = 0;
  let setupFailed = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const read = await longRead(server.url, 'probe', { seconds: 60, application: 'reporting' });
    const ddl = await blockedQuery(server.url, 'probe', {
      statement: 'ALTER TABLE probe ADD COLUMN IF NOT EXISTS x int',
      application: 'rails-migrate',
    });
    const ddlWaiting = Date.now(); // blockedQuery returns once pg_blocking_pids shows the wait
    let cancelledAt = 0;
    const cancelled = ddl.finished.then((e) => {
      cancelledAt = Date.now();
      return e;
    });
    const readers = [];
    try {
      for (let n = 0; n < 3; n++) readers.push(await blockedQuery(server.url, 'probe', { application: 'puma' }));
    } catch (error) {
      // A machine too loaded to see the queue form in time: not a sample.
      log(`sample ${i} not set up: ${(error as Error).message}`);
      setupFailed++;
      for (const r of readers) await r.end();
      await ddl.end();
      await read.end();
      continue;
    }
    const metAt = Math.max(ddlWaiting + 1_000, Date.now());
    const outcome = await Promise.race([cancelled, sleep(20_000).then(() => 'timeout' as const)]);
    if (outcome === 'timeout' || !/canceling statement/.test(String((outcome as Error | null)?.message))) missed++;
    else latencies.push(cancelledAt - metAt);
    for (const r of readers) await r.end();
    await ddl.end();
    await read.end();
    await sleep(Math.random() * 2_000); // sample across the phase of the interval
  }
  await app.stop();
  await pool.end();
  const p95 = percentile(latencies, 95);
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  console.log(
    `\nStanding approvals at ${SESSIONS} sessions, watch interval 2 s (mix ${JSON.stringify(mix.counts())})\n`,
  );
  console.log(
    table([
      ['figure', 'value', 'goal', 'verdict'],
      [
        'thresholds met → DDL cancelled, p50 / p95 / max',
        `${ms(percentile(latencies, 50))} / ${ms(p95)} / ${ms(Math.max(...latencies))}`,
        '≤ 2.5 s p95',
        verdict(p95 <= 2_500),
      ],
      [
        'samples cancelled / missed / not set up (load)',
        `${latencies.length} / ${missed} / ${setupFailed}`,
        'no miss',
        verdict(missed === 0),
      ],
    ]),
  );
} finally {
  await mix.end().catch(() => undefined);
  await slack.close();
  await server.stop();
}
process.exit(0);
