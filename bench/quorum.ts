// `npm run bench:quorum`: what a request's quorum costs in the state store, against an embedded PostgreSQL
// (keyed binder): a request's whole life — create (sealed), every approval (seal checked; with a quorum each
// approval row written with its MAC and every earlier one verified), markExecuting (binding and approval rows
// checked) — with quorum 1, 2 and 3; and quorum 3 with its three approvals sent at the same moment on three
// connections (the row lock serialises them). Prints figures; asserts nothing.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import type { TargetSnapshot } from '../src/domain/types.js';
import { migrate } from '../src/postgres/migrate.js';
import { createStateStore } from '../src/postgres/state-store.js';
import { ms, summarize, table } from './stats.js';

const SAMPLES = Number(process.env.BENCH_QUORUM_SAMPLES ?? 200);
const APPROVERS = ['UA', 'UB', 'UC'];
const server = await startEmbeddedPostgres();
const pool = new pg.Pool({ connectionString: server.url, max: 4 });

const target: TargetSnapshot = {
  pid: 10_000,
  backendStart: '2026-01-01T00:00:00.000001Z',
  queryStart: '2026-01-01T00:00:01.000001Z',
  xactStart: null,
  backendType: 'client backend',
  user: 'app',
  database: 'prod',
  application: 'puma',
  client: '10.0.0.1',
  state: 'active',
  query: 'SELECT 1',
};

async function timed(n: number, work: (i: number) => Promise<unknown>): Promise<number[]> {
  const samples: number[] = [];
  for (let i = 0; i < n; i++) {
    const start = performance.now();
    await work(i);
    samples.push(performance.now() - start);
  }
  return samples;
}

try {
  await migrate(pool);
  const store = createStateStore(pool, { key: randomBytes(32) });
  await store.startChain();
  const create = (quorum: number, i: number) =>
    store.createRequest({
      cluster: 'main',
      action: 'terminate',
      targets: [target],
      reason: `bench ${i}`,
      requester: 'UREQ',
      channel: 'C1',
      escalateAfterSeconds: null,
      scope: null,
      ttlSeconds: 600,
      quorum,
    });
  const intent = async (id: string) => {
    const marked = await store.markExecuting(id);
    if (!marked.ok) throw new Error(`markExecuting: ${marked.code}`);
  };
  const life = (quorum: number) => async (i: number) => {
    const r = await create(quorum, i);
    for (const approver of APPROVERS.slice(0, quorum)) {
      const approved = await store.approve(r.id, approver);
      if (!approved.ok) throw new Error(`approve: ${approved.code}`);
    }
    await intent(r.id);
  };
  const concurrent = async (i: number) => {
    const r = await create(3, i);
    const start = performance.now();
    const results = await Promise.all(APPROVERS.map((a) => store.approve(r.id, a)));
    const took = performance.now() - start;
    if (results.filter((x) => x.ok && x.request.status === 'approved').length !== 1) throw new Error('not once');
    await intent(r.id);
    return took;
  };
  await timed(20, life(2)); // warm-up
  const q1 = summarize(await timed(SAMPLES, life(1)));
  const q2 = summarize(await timed(SAMPLES, life(2)));
  const q3 = summarize(await timed(SAMPLES, life(3)));
  const racing: number[] = [];
  for (let i = 0; i < SAMPLES; i++) racing.push(await concurrent(i));
  const race = summarize(racing);

  const row = (name: string, s: ReturnType<typeof summarize>) => [name, String(s.n), ms(s.p50), ms(s.p99), ms(s.max)];
  console.log(
    table([
      ['figure', 'n', 'p50', 'p99', 'max'],
      row('create + 1 approval + markExecuting (quorum 1)', q1),
      row('create + 2 approvals + markExecuting (quorum 2)', q2),
      row('create + 3 approvals + markExecuting (quorum 3)', q3),
      row('3 approvals at once on 3 connections (quorum 3)', race),
    ]),
  );
} finally {
  await pool.end();
  await server.stop();
}
