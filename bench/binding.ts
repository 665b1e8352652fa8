// `npm run bench:binding`: what the binding and the verified chain head cost, against an embedded PostgreSQL.
// Figures: one audit append (keyed) when the newest entry holds (the usual case) and when a junk row sits at
// the head (the window is read); a request's whole life in the store — create (sealed), approve (seal
// checked, binding written), markExecuting (binding checked) — with 1 and with 200 targets; and the pure
// MAC of a 200-target request. Prints figures; asserts nothing.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { createBinder } from '../src/domain/binding.js';
import type { TargetSnapshot } from '../src/domain/types.js';
import { migrate } from '../src/postgres/migrate.js';
import { createStateStore } from '../src/postgres/state-store.js';
import { ms, summarize, table } from './stats.js';

const SAMPLES = Number(process.env.BENCH_BINDING_SAMPLES ?? 300);
const key = randomBytes(32);
const server = await startEmbeddedPostgres();
const pool = new pg.Pool({ connectionString: server.url, max: 4 });

const target = (pid: number): TargetSnapshot => ({
  pid,
  backendStart: '2026-01-01T00:00:00.000001Z',
  queryStart: '2026-01-01T00:00:01.000001Z',
  xactStart: null,
  backendType: 'client backend',
  user: 'app',
  database: 'prod',
  application: 'puma',
  client: '10.0.0.1',
  state: 'active',
  query: 'SELECT * FROM orders WHERE id = $1'.padEnd(200, ' '),
});

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
  const store = createStateStore(pool, { key });
  await store.startChain();
  const append = (i: number) => store.appendAudit({ event: 'refused', actor: 'U1', details: { why: `bench ${i}` } });
  await timed(20, append); // warm-up
  const clean = summarize(await timed(SAMPLES, append));
  const junk = () =>
    pool.query(
      `INSERT INTO pgsessions.audit_log (seq, event, details, prev_hash, hash, hash_alg)
       VALUES (nextval(pg_get_serial_sequence('pgsessions.audit_log', 'seq')), 'refused', '{"why":"junk"}', repeat('0', 64), repeat('1', 64), 'hmac-sha256')`,
    );
  await junk();
  // The junk row is the newest by seq only until the next append: put one at the head before every sample.
  const junkedSamples: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    junkedSamples.push(...(await timed(1, append)));
    await junk();
  }
  const junked = summarize(junkedSamples);

  const life = (targets: number) => async (i: number) => {
    const r = await store.createRequest({
      cluster: 'main',
      action: 'terminate_all',
      targets: Array.from({ length: targets }, (_, t) => target(10_000 + t)),
      reason: `bench ${i}`,
      requester: 'UREQ',
      channel: 'C1',
      escalateAfterSeconds: null,
      scope: null,
      ttlSeconds: 600,
    });
    const approved = await store.approve(r.id, 'UAPP');
    if (!approved.ok) throw new Error(`approve: ${approved.code}`);
    const intent = await store.markExecuting(r.id);
    if (!intent.ok) throw new Error(`markExecuting: ${intent.code}`);
  };
  const one = summarize(await timed(Math.min(SAMPLES, 200), life(1)));
  const many = summarize(await timed(Math.min(SAMPLES, 100), life(200)));

  const binder = createBinder(key);
  const bulk = {
    id: 'x',
    cluster: 'main',
    action: 'terminate_all' as const,
    requester: 'U',
    targets: Array.from({ length: 200 }, (_, t) => target(t)),
    escalateAfterSeconds: null,
    createdAt: 'a',
    expiresAt: 'b',
  };
  const mac = summarize(
    await timed(2_000, async () => binder.request(bulk, { approver: 'U2', approvedAt: 'c', expiresAt: null })),
  );

  const row = (name: string, s: ReturnType<typeof summarize>) => [name, String(s.n), ms(s.p50), ms(s.p99), ms(s.max)];
  console.log(
    table([
      ['figure', 'n', 'p50', 'p99', 'max'],
      row('audit append, keyed, newest entry holds', clean),
      row('audit append, keyed, junk row at the head', junked),
      row('request create+approve+markExecuting, 1 target', one),
      row('request create+approve+markExecuting, 200 targets', many),
      row('binding MAC of a 200-target request (pure)', mac),
    ]),
  );
} finally {
  await pool.end();
  await server.stop();
}
