// `npx tsx bench/standby-listing.ts`: what the standby header costs the listing statement. On a primary
// with sleeping and idle sessions, the listing statement as it was before the header row (read from git at
// BENCH_BASE, default f6ffab1) against the current one, interleaved sample by sample so that a neighbour's
// load hits both alike; then the current one on a real streaming standby, where the recovery part is
// computed. Server execution time from EXPLAIN ANALYZE, round trips from the client. Prints figures; never
// asserts. BENCH_STANDBY_SAMPLES=N (default 500) per statement, BENCH_STANDBY_SESSIONS=N (default 100).
import { execFileSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import pg from 'pg';
import { listSessionsQuery, type SqlQuery } from '../src/postgres/session-sql.js';
import { startStandby } from '../test/helpers/standby.js';
import { ms, percentile, table } from './stats.js';

const SAMPLES = Number(process.env.BENCH_STANDBY_SAMPLES ?? 500);
const SESSIONS = Number(process.env.BENCH_STANDBY_SESSIONS ?? 100);
const BASE = process.env.BENCH_BASE ?? 'f6ffab1';

type Build = (versionNum: number, filters: { limit: number }) => SqlQuery;

/** The listing statement of BASE, loaded from git next to the current module so its imports resolve. */
async function baseListing(): Promise<{ build: Build; cleanup: () => Promise<void> }> {
  const source = execFileSync('git', ['show', `${BASE}:src/postgres/session-sql.ts`], { encoding: 'utf8' });
  const dir = await mkdtemp(join(process.cwd(), 'src', 'postgres', '.bench-base-'));
  const file = join(dir, 'session-sql.ts');
  await writeFile(file, source.replaceAll("from '../", "from '../../"));
  const module = (await import(pathToFileURL(file).href)) as { listSessionsQuery: Build };
  return { build: module.listSessionsQuery, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

async function sessions(url: string, n: number): Promise<pg.Client[]> {
  const clients: pg.Client[] = [];
  for (let i = 0; i < n; i++) {
    const c = new pg.Client({ connectionString: url, application_name: `bench-${i % 5}` });
    c.on('error', () => undefined);
    await c.connect();
    if (i % 2 === 0) void c.query('SELECT pg_sleep(600)').catch(() => undefined);
    clients.push(c);
  }
  return clients;
}

async function execMs(client: pg.Client, q: SqlQuery): Promise<number> {
  const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${q.text}`, q.values);
  return Number((rows[0] as { 'QUERY PLAN': [{ 'Execution Time': number }] })['QUERY PLAN'][0]['Execution Time']);
}

async function sample(client: pg.Client, ways: Record<string, SqlQuery>): Promise<Array<[string, number[], number[]]>> {
  const out = Object.fromEntries(Object.keys(ways).map((k) => [k, { rtt: [] as number[], exec: [] as number[] }]));
  for (const q of Object.values(ways)) for (let i = 0; i < 20; i++) await client.query(q.text, q.values);
  for (let i = 0; i < SAMPLES; i++) {
    for (const [name, q] of Object.entries(ways)) {
      const started = performance.now();
      await client.query(q.text, q.values);
      out[name]!.rtt.push(performance.now() - started);
      if (i % 10 === 0) out[name]!.exec.push(await execMs(client, q));
    }
  }
  return Object.entries(out).map(([name, s]) => [name, s.rtt, s.exec]);
}

const row = (label: string, rtt: number[], exec: number[]) => [
  label,
  String(rtt.length),
  ms(percentile(rtt, 50)),
  ms(percentile(rtt, 99)),
  String(exec.length),
  ms(percentile(exec, 50)),
];

async function main(): Promise<void> {
  const standby = await startStandby();
  const base = await baseListing();
  const held: pg.Client[] = [];
  try {
    held.push(
      ...(await sessions(standby.primaryUrl, SESSIONS)),
      ...(await sessions(standby.url, Math.floor(SESSIONS / 2))),
    );
    const filters = { limit: 20 };
    const rows: string[][] = [];
    const primary = new pg.Client({ connectionString: standby.primaryUrl });
    const replica = new pg.Client({ connectionString: standby.url });
    await Promise.all([primary.connect(), replica.connect()]);
    const versionNum = Number((await primary.query('SHOW server_version_num')).rows[0].server_version_num);
    try {
      for (const [name, rtt, exec] of await sample(primary, {
        [`primary, before (${BASE})`]: base.build(versionNum, filters),
        'primary, now': listSessionsQuery(versionNum, filters),
      }))
        rows.push(row(name, rtt, exec));
      for (const [name, rtt, exec] of await sample(replica, { 'standby, now': listSessionsQuery(versionNum, filters) }))
        rows.push(row(name, rtt, exec));
    } finally {
      await Promise.all([primary.end(), replica.end()]);
    }
    console.log(
      `PostgreSQL ${versionNum}; ${SESSIONS} sessions on the primary, ${Math.floor(SESSIONS / 2)} on the standby (half running pg_sleep)`,
    );
    console.log(
      table([['statement', 'samples', 'round trip p50', 'p99', 'EXPLAIN samples', 'server exec p50'], ...rows]),
    );
  } finally {
    await Promise.all(held.map((c) => c.end().catch(() => undefined)));
    await base.cleanup();
    await standby.stop();
  }
}

await main();
