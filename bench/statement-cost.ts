// `npm run bench:statement`: what running each statement in its own transaction with SET LOCAL costs,
// against the old way (timeouts as start-up parameters, one round trip). Same server, same connection
// kind, the two ways interleaved sample by sample so that a neighbour's load hits both alike. Directly
// on PostgreSQL and, where PgBouncer is installed, through it in transaction pooling (where the old way
// cannot run at all: PgBouncer refuses the start-up parameters). Prints figures; never asserts.
// BENCH_STATEMENT_SAMPLES=N (default 2000) per way and statement.
import { cpus, loadavg } from 'node:os';
import pg from 'pg';
import { startEmbeddedPostgres } from '../test/helpers/embedded.js';
import { pgbouncerBinary, startPgBouncer, type PgBouncer } from '../test/helpers/pgbouncer.js';
import { listSessionsQuery } from '../src/postgres/session-sql.js';
import { DEFAULT_LIMITS, runStatement, type Lease } from '../src/postgres/statement.js';
import { ms, percentile, table } from './stats.js';

const SAMPLES = Number(process.env.BENCH_STATEMENT_SAMPLES ?? 2_000);

type Way = (text: string, values: unknown[]) => Promise<unknown>;

async function connect(url: string, startupTimeouts: boolean): Promise<pg.Client> {
  const client = new pg.Client({
    connectionString: url,
    application_name: 'pgsessions',
    ...(startupTimeouts
      ? {
          statement_timeout: 10_000,
          lock_timeout: 2_000,
          idle_in_transaction_session_timeout: 60_000,
          options: '-c TimeZone=UTC -c DateStyle=ISO,YMD -c IntervalStyle=postgres',
        }
      : {}),
  });
  await client.connect();
  return client;
}

const single =
  (client: pg.Client): Way =>
  (text, values) =>
    client.query(text, values);
const local = (client: pg.Client): Way => {
  const lease: Lease = { client, via: 'pool', release: () => undefined };
  return (text, values) => runStatement(lease, DEFAULT_LIMITS, text, values);
};

async function measure(ways: Record<string, Way>, text: string, values: unknown[]): Promise<Record<string, number[]>> {
  const samples: Record<string, number[]> = Object.fromEntries(Object.keys(ways).map((k) => [k, []]));
  for (const way of Object.values(ways)) for (let i = 0; i < 50; i++) await way(text, values); // warm-up
  const entries = Object.entries(ways);
  for (let i = 0; i < SAMPLES; i++) {
    // Alternate which way goes first, so that neither always runs right after the other.
    for (const [name, way] of i % 2 === 0 ? entries : [...entries].reverse()) {
      const start = performance.now();
      await way(text, values);
      samples[name]!.push(performance.now() - start);
    }
  }
  return samples;
}

const row = (label: string, s: number[]) => [
  label,
  String(s.length),
  ms(percentile(s, 50)),
  ms(percentile(s, 95)),
  ms(percentile(s, 99)),
];

const server = await startEmbeddedPostgres({ reuseInitdb: true });
let bouncer: PgBouncer | null = null;
const clients: pg.Client[] = [];
try {
  console.log(
    `# statement cost, ${SAMPLES} samples per way, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)} at start`,
  );
  const listing = listSessionsQuery(180_000, { limit: 20 });
  const statements: Array<[string, string, unknown[]]> = [
    ['SELECT 1', 'SELECT 1', []],
    ['the listing query', listing.text, listing.values],
  ];
  const rows: string[][] = [['way / statement', 'n', 'p50', 'p95', 'p99']];
  const old = await connect(server.url, true);
  const now = await connect(server.url, false);
  clients.push(old, now);
  for (const [label, text, values] of statements) {
    const s = await measure({ old: single(old), now: local(now) }, text, values);
    rows.push(
      row(`direct, start-up parameters (before): ${label}`, s.old!),
      row(`direct, BEGIN+SET LOCAL; statement; COMMIT: ${label}`, s.now!),
    );
    rows.push([`  extra per statement (p50)`, '', ms(percentile(s.now!, 50) - percentile(s.old!, 50)), '', '']);
  }
  if (pgbouncerBinary()) {
    bouncer = await startPgBouncer({ serverUrl: server.url, poolMode: 'transaction' });
    const plain = await connect(bouncer.url(), false);
    const viaBouncer = await connect(bouncer.url(), false);
    clients.push(plain, viaBouncer);
    for (const [label, text, values] of statements) {
      const s = await measure({ plain: single(plain), now: local(viaBouncer) }, text, values);
      rows.push(
        row(`PgBouncer, no timeouts at all: ${label}`, s.plain!),
        row(`PgBouncer, BEGIN+SET LOCAL; statement; COMMIT: ${label}`, s.now!),
      );
    }
  } else {
    console.log('# PgBouncer is not installed: the pooled figures are skipped');
  }
  console.log(table(rows));
  console.log(`# load average ${loadavg()[0]!.toFixed(1)} at the end`);
} finally {
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  await bouncer?.stop();
  await server.stop();
}
