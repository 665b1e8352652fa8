// `npm run bench:escalation`: how close to its deadline an escalation fires (issue 16 goal: deadline ± 2 s).
// Two replicas of the app on an embedded PostgreSQL with PGSESSIONS_ESCALATE_AFTER=10s and a user group as the
// tier; BENCH_ESCALATION_REQUESTS (default 15) requests recorded through the request store at random moments
// over 8 s (so they fall at every phase of the replicas' 2 s look for new requests). Nobody decides them.
// Per request: the claim's lateness by the database's clock (escalated_at − created_at − 10 s) and the first
// tier DM's lateness as the Slack stand-in received it. Prints figures and PASS/MISS; never asserts. ~30 s.
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { startSlackApi } from '../test/helpers/slack-api.js';
import { baseEnv } from '../test/helpers/app.js';
import { startPgsessions } from '../src/pgsessions.js';
import { createLogger } from '../src/logger.js';
import { createAuditStore } from '../src/postgres/audit-store.js';
import { createRequestStore } from '../src/postgres/request-store.js';
import { ms, percentile, sleep, table, verdict } from './stats.js';

const REQUESTS = Number(process.env.BENCH_ESCALATION_REQUESTS ?? 15);
const AFTER_SECONDS = 10;
const TOLERANCE_MS = 2_000;
const log = (message: string) =>
  console.error(`[bench:escalation ${new Date().toISOString().slice(11, 19)}] ${message}`);

const server = await startEmbeddedPostgres({ maxConnections: 100 });
const slack = await startSlackApi();
slack.usergroups.SONCALL = ['UONCALL1', 'UONCALL2'];
try {
  const env = baseEnv(server.url, slack, {
    LOG_LEVEL: 'silent',
    PGSESSIONS_ESCALATE_AFTER: `${AFTER_SECONDS}s`,
    PGSESSIONS_ESCALATE_TO: 'SONCALL',
  });
  const replicas = [
    await startPgsessions(env, { logger: createLogger('silent') }),
    await startPgsessions(env, { logger: createLogger('silent') }),
  ];
  const pool = new pg.Pool({ connectionString: server.url, max: 2 });
  const store = createRequestStore(pool, createAuditStore(pool).appendIn);
  log(`recording ${REQUESTS} requests over 8 s, escalation after ${AFTER_SECONDS} s, 2 replicas`);
  const ids: string[] = [];
  const asks = Array.from({ length: REQUESTS }, async (_, i) => {
    await sleep(Math.random() * 8_000);
    const r = await store.createRequest({
      cluster: 'default',
      action: 'terminate',
      targets: [
        {
          pid: 100_000 + i,
          backendStart: '2026-01-01T00:00:00.000000Z',
          queryStart: null,
          xactStart: null,
          backendType: 'client backend',
          user: 'app',
          database: 'postgres',
          application: 'bench',
          client: null,
          state: 'idle',
          query: null,
        },
      ],
      reason: `bench ${i}`,
      requester: 'UREQ',
      channel: 'CBENCH',
      ttlSeconds: 600,
      escalateAfterSeconds: null,
      scope: null,
    });
    ids.push(r.id);
  });
  await Promise.all(asks);
  // Wait until every request's escalation was claimed (or 30 s past the last deadline).
  const deadline = Date.now() + (AFTER_SECONDS + 30) * 1000;
  let claimed = 0;
  while (Date.now() < deadline) {
    claimed = Number((await pool.query('SELECT count(*) AS n FROM pgsessions.escalations')).rows[0].n);
    if (claimed >= REQUESTS) break;
    await sleep(250);
  }
  await sleep(1_000); // the last DMs on their way
  const { rows } = await pool.query<{ id: string; created_ms: number; late_ms: number | null }>(
    `SELECT r.id::text AS id, extract(epoch FROM r.created_at)::float8 * 1000 AS created_ms,
            extract(epoch FROM e.escalated_at - r.created_at)::float8 * 1000 - $1 * 1000 AS late_ms
     FROM pgsessions.requests r LEFT JOIN pgsessions.escalations e ON e.subject_id = r.id AND e.tier = 1`,
    [AFTER_SECONDS],
  );
  const claimLate = rows.filter((r) => r.late_ms !== null).map((r) => Number(r.late_ms));
  const dmLate: number[] = [];
  let twice = 0;
  for (const r of rows) {
    const dms = slack
      .callsTo('chat.postMessage')
      .filter((c) => c.params.channel === 'DUONCALL1' && JSON.stringify(c.params).includes(r.id));
    if (dms[0]) dmLate.push(dms[0].at - Number(r.created_ms) - AFTER_SECONDS * 1000);
    if (dms.length > 1) twice++;
  }
  await Promise.all(replicas.map((a) => a.stop()));
  await pool.end();
  const worst = (xs: number[]) => Math.max(...xs.map(Math.abs));
  const within = (xs: number[]) => xs.length === REQUESTS && worst(xs) <= TOLERANCE_MS && Math.min(...xs) >= 0;
  console.log(
    `load average at the end: ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  console.log(`\nEscalation after ${AFTER_SECONDS} s, ${REQUESTS} requests, 2 replicas, nobody deciding\n`);
  const row = (what: string, xs: number[]) => [
    what,
    `${ms(percentile(xs, 50))} / ${ms(percentile(xs, 95))} / ${ms(Math.max(...xs))} (min ${ms(Math.min(...xs))})`,
    '0 ≤ late ≤ 2 s',
    verdict(within(xs)),
  ];
  console.log(
    table([
      ['figure', 'p50 / p95 / max', 'goal', 'verdict'],
      row('claim − deadline (database clock)', claimLate),
      row('first tier DM received − deadline', dmLate),
      [
        'requests escalated / told twice',
        `${claimLate.length} of ${REQUESTS} / ${twice}`,
        'all, none twice',
        verdict(claimLate.length === REQUESTS && twice === 0),
      ],
    ]),
  );
} finally {
  await slack.close();
  await server.stop();
}
process.exit(0);
