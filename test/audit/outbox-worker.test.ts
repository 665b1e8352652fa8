import { afterEach, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { pino } from 'pino';
import {
  deliveryFailureKind,
  retryDelaySeconds,
  startOutboxWorker,
  type OutboxWorker,
} from '../../src/audit/outbox-worker.js';
import { SLACK_RATE_LIMITED_CODE } from '../../src/slack/adapters/slack-errors.js';
import type { AuditEntry } from '../../src/domain/audit.js';
import { migrate } from '../../src/postgres/migrate.js';
import { createStateStore, type StateStore } from '../../src/postgres/state-store.js';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';

const logger = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const fastBackoff = { baseSeconds: 0.05, maxSeconds: 0.2 };

let cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  // Workers stop first (tracked with unshift), then pools end and the database goes.
  for (const cleanup of cleanups) await cleanup();
  cleanups = [];
});

function openPool(url: string): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  return pool;
}

async function setup(): Promise<{ db: TestDatabase; pool: pg.Pool; store: StateStore }> {
  const db = await createTestDatabase('outbox');
  const pool = openPool(db.url);
  await migrate(pool);
  const store = createStateStore(pool);
  cleanups.push(async () => {
    await pool.end();
    await db.drop();
  });
  return { db, pool, store };
}

function track(worker: OutboxWorker): OutboxWorker {
  cleanups.unshift(() => worker.stop());
  return worker;
}

async function appendEntries(store: StateStore, n: number): Promise<number[]> {
  const seqs: number[] = [];
  for (let i = 0; i < n; i++)
    seqs.push((await store.appendAudit({ event: 'refused', actor: 'U1', details: { why: `entry ${i}` } })).seq);
  return seqs;
}

async function until(condition: () => Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await sleep(20);
  }
}

const http500 = () =>
  Object.assign(new Error('An HTTP protocol error occurred: statusCode = 500'), {
    code: 'slack_webapi_http_error',
    statusCode: 500,
  });

test('retry delays double from one second up to five minutes, and a rate limit says its own delay', () => {
  assert.deepEqual(
    [1, 2, 3, 4, 9, 10, 20].map((n) => retryDelaySeconds(http500(), n)),
    [1, 2, 4, 8, 256, 300, 300],
  );
  const limited = Object.assign(new Error('rate limited'), { code: 'slack_webapi_rate_limited_error', retryAfter: 42 });
  assert.equal(retryDelaySeconds(limited, 7), 42);
});

test('an entry Slack refuses twice with a 500 is delivered once, and the rest follow in order', async () => {
  const { pool, store } = await setup();
  const seqs = await appendEntries(store, 3);
  const posted: number[] = [];
  let failures = 0;
  const worker = track(
    startOutboxWorker({
      store,
      logger,
      intervalMs: 60_000,
      backoff: fastBackoff,
      post: async (entry) => {
        if (entry.seq === seqs[0] && failures < 2) {
          failures++;
          throw http500();
        }
        posted.push(entry.seq);
      },
    }),
  );
  await worker.drain();
  assert.deepEqual(posted, [], 'the failing head holds back the entries after it');
  await until(async () => {
    await worker.drain();
    return (await store.outboxBacklog()) === 0;
  });
  assert.equal(failures, 2);
  assert.deepEqual(posted, seqs);
  const { rows } = await pool.query<{ attempts: number; last_error: string | null }>(
    'SELECT attempts, last_error FROM pgsessions.outbox WHERE audit_seq = $1',
    [seqs[0]],
  );
  assert.equal(rows[0]?.attempts, 3);
  assert.match(rows[0]?.last_error ?? '', /500/);
});

test('a rate-limited post is retried only after the retryAfter Slack gave', async () => {
  const { store } = await setup();
  const [seq] = await appendEntries(store, 1);
  const posted: Array<{ seq: number; at: number }> = [];
  let limited = false;
  const startedAt = Date.now();
  const worker = track(
    startOutboxWorker({
      store,
      logger,
      intervalMs: 60_000,
      backoff: fastBackoff,
      post: async (entry) => {
        if (!limited) {
          limited = true;
          throw Object.assign(new Error('A rate limit was exceeded'), {
            code: 'slack_webapi_rate_limited_error',
            retryAfter: 1,
          });
        }
        posted.push({ seq: entry.seq, at: Date.now() });
      },
    }),
  );
  await worker.drain();
  await sleep(300);
  await worker.drain();
  assert.equal(posted.length, 0, 'not retried before retryAfter, although the backoff would have allowed it');
  await until(async () => {
    await worker.drain();
    return posted.length > 0;
  });
  assert.equal(posted.length, 1);
  assert.equal(posted[0]!.seq, seq);
  assert.ok(posted[0]!.at - startedAt >= 950, `retried after ${posted[0]!.at - startedAt} ms`);
});

test('the worker polls by itself and delivers new entries', async () => {
  const { store } = await setup();
  const posted: number[] = [];
  track(startOutboxWorker({ store, logger, intervalMs: 20, post: async (entry) => void posted.push(entry.seq) }));
  const seqs = await appendEntries(store, 2);
  await until(async () => posted.length === 2);
  assert.deepEqual(posted, seqs);
});

test('after a restart mid-failure a new worker delivers the rest: nothing lost, nothing posted twice', async () => {
  const { db, store } = await setup();
  const seqs = await appendEntries(store, 5);
  const delivered: number[] = [];
  let attemptsOnThird = 0;
  const first = startOutboxWorker({
    store,
    logger,
    intervalMs: 10,
    backoff: fastBackoff,
    post: async (entry) => {
      if (entry.seq === seqs[2]) {
        attemptsOnThird++;
        throw Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
      }
      delivered.push(entry.seq);
    },
  });
  await until(async () => attemptsOnThird >= 2);
  await first.stop();
  assert.deepEqual(delivered, seqs.slice(0, 2));

  // The restart: a new pool, a new store, a new worker.
  const pool2 = openPool(db.url);
  cleanups.unshift(() => pool2.end());
  const store2 = createStateStore(pool2);
  const second = track(
    startOutboxWorker({
      store: store2,
      logger,
      intervalMs: 60_000,
      post: async (entry) => void delivered.push(entry.seq),
    }),
  );
  await until(async () => {
    await second.drain();
    return (await store2.outboxBacklog()) === 0;
  });
  assert.deepEqual(delivered, seqs);
});

test('two workers running at once never post the same entry, and post in seq order', async () => {
  const { db, store } = await setup();
  const seqs = await appendEntries(store, 25);
  const posted: number[] = [];
  let inFlight = 0;
  let overlap = false;
  const post = async (entry: AuditEntry) => {
    inFlight++;
    if (inFlight > 1) overlap = true;
    await sleep(3);
    posted.push(entry.seq);
    inFlight--;
  };
  const pool2 = openPool(db.url);
  cleanups.unshift(() => pool2.end());
  const a = track(startOutboxWorker({ store, logger, intervalMs: 5, post }));
  const b = track(startOutboxWorker({ store: createStateStore(pool2), logger, intervalMs: 5, post }));
  await Promise.all([a.drain(), b.drain()]);
  await until(async () => (await store.outboxBacklog()) === 0);
  assert.deepEqual(posted, seqs);
  assert.equal(overlap, false);
});

test('a post that hangs times out and is retried', async () => {
  const { store } = await setup();
  const [seq] = await appendEntries(store, 1);
  const posted: number[] = [];
  let hung = false;
  const worker = track(
    startOutboxWorker({
      store,
      logger,
      intervalMs: 60_000,
      postTimeoutMs: 100,
      backoff: fastBackoff,
      post: async (entry) => {
        if (!hung) {
          hung = true;
          await sleep(1_000);
          return;
        }
        posted.push(entry.seq);
      },
    }),
  );
  await worker.drain();
  assert.deepEqual(posted, []);
  await until(async () => {
    await worker.drain();
    return posted.length === 1;
  });
  assert.deepEqual(posted, [seq]);
});

test('a state connection lost while posting neither crashes the process nor loses the entry', async () => {
  const { db, store } = await setup();
  const [seq] = await appendEntries(store, 1);
  const posts: number[] = [];
  let killed = false;
  const worker = track(
    startOutboxWorker({
      store,
      logger,
      intervalMs: 60_000,
      post: async (entry) => {
        posts.push(entry.seq);
        if (!killed) {
          killed = true;
          const admin = new pg.Client({ connectionString: db.url });
          await admin.connect();
          await admin.query(
            'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()',
            [db.name],
          );
          await admin.end();
          await sleep(50);
        }
      },
    }),
  );
  await assert.rejects(worker.drain());
  assert.equal(await store.outboxBacklog(), 1, 'not marked delivered: the transaction never committed');
  await worker.drain();
  assert.equal(await store.outboxBacklog(), 0);
  // At least once: the post whose acknowledgement was lost is repeated.
  assert.deepEqual(posts, [seq, seq]);
});

test('a failed post is named for the metric by what Slack said', () => {
  assert.equal(deliveryFailureKind({ code: SLACK_RATE_LIMITED_CODE, retryAfter: 3 }), 'rate_limited');
  assert.equal(deliveryFailureKind({ code: 'slack_webapi_http_error', statusCode: 503 }), 'http_503');
  assert.equal(
    deliveryFailureKind({ code: 'slack_webapi_platform_error', data: { error: 'channel_not_found' } }),
    'channel_not_found',
  );
  assert.equal(deliveryFailureKind({ code: 'slack_webapi_request_error' }), 'network');
  assert.equal(deliveryFailureKind(new Error('boom')), 'other');
});
