// The sessions the benchmark lists: plain `pg` clients opened in batches with a small pool of concurrent
// connects, in a fixed mix — active pg_sleep, idle, idle in transaction, and queries blocked on a lock held
// by an idle-in-transaction session. Grown in steps (100 → 1000 → 2000) and ended all at once.
import pg from 'pg';

export const MIX = { active: 0.25, idle: 0.45, idleInTransaction: 0.2, blocked: 0.1 } as const;
/** At most this many queries wait on one lock holder. */
const BLOCKED_PER_HOLDER = 50;
const CONNECT_CONCURRENCY = 16;
const SLEEP_SECONDS = 1800;
export const BENCH_APP_PREFIX = 'bench-';

export interface SessionCounts {
  active: number;
  idle: number;
  idleInTransaction: number;
  blocked: number;
  holders: number;
}

export interface SessionMix {
  size(): number;
  counts(): SessionCounts;
  /** Open sessions until there are `total` of them, in the mix above. */
  growTo(total: number): Promise<void>;
  /** One extra sleeping session to be terminated (the approval benchmark). */
  sleeper(): Promise<number>;
  end(): Promise<void>;
}

export function createSessionMix(url: string): SessionMix {
  const clients: pg.Client[] = [];
  const counts: SessionCounts = { active: 0, idle: 0, idleInTransaction: 0, blocked: 0, holders: 0 };
  let tables = 0;
  let admin: pg.Client | undefined;

  const open = async (application: string): Promise<pg.Client> => {
    const client = new pg.Client({ connectionString: url, application_name: `${BENCH_APP_PREFIX}${application}` });
    // Backends are terminated at the end (and the approval benchmark kills some): never crash on that.
    client.on('error', () => undefined);
    await client.connect();
    clients.push(client);
    return client;
  };

  const inBatches = async (n: number, make: () => Promise<void>) => {
    let left = n;
    const worker = async () => {
      while (left > 0) {
        left -= 1;
        await make();
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONNECT_CONCURRENCY, n) }, worker));
  };

  const adminClient = async () => {
    if (!admin) {
      admin = new pg.Client({ connectionString: url, application_name: `${BENCH_APP_PREFIX}admin` });
      admin.on('error', () => undefined);
      await admin.connect();
    }
    return admin;
  };

  const waitFor = async (what: string, sql: string, values: unknown[], want: number) => {
    const c = await adminClient();
    const deadline = Date.now() + 60_000;
    for (;;) {
      const { rows } = await c.query<{ n: number }>(sql, values);
      if (Number(rows[0]?.n) >= want) return;
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${want} ${what} (have ${rows[0]?.n})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };

  return {
    size: () => counts.active + counts.idle + counts.idleInTransaction + counts.blocked,
    counts: () => ({ ...counts }),
    async growTo(total) {
      const add = total - this.size();
      if (add <= 0) return;
      const blocked = Math.round(add * MIX.blocked);
      const holders = blocked > 0 ? Math.ceil(blocked / BLOCKED_PER_HOLDER) : 0;
      const active = Math.round(add * MIX.active);
      const idleInTransaction = Math.max(holders, Math.round(add * MIX.idleInTransaction));
      const idle = add - blocked - active - idleInTransaction;

      const c = await adminClient();
      const myTables: string[] = [];
      for (let i = 0; i < holders; i++) {
        const table = `bench_lock_${++tables}`;
        await c.query(`CREATE TABLE IF NOT EXISTS ${table} (id int)`);
        myTables.push(table);
      }
      // Holders first: each takes an ACCESS EXCLUSIVE lock and stays idle in transaction.
      for (const table of myTables) {
        const holder = await open('holder');
        await holder.query('BEGIN');
        await holder.query(`LOCK TABLE ${table} IN ACCESS EXCLUSIVE MODE`);
      }
      counts.holders += holders;
      counts.idleInTransaction += holders;

      let b = 0;
      await inBatches(blocked, async () => {
        const table = myTables[b++ % myTables.length]!;
        const client = await open('blocked');
        client.query(`SELECT count(*) FROM ${table}`).catch(() => undefined);
        counts.blocked += 1;
      });
      await inBatches(active, async () => {
        const client = await open('active');
        client.query(`SELECT pg_sleep(${SLEEP_SECONDS})`).catch(() => undefined);
        counts.active += 1;
      });
      await inBatches(idleInTransaction - holders, async () => {
        const client = await open('idle-tx');
        await client.query('BEGIN');
        await client.query('SELECT txid_current()');
        counts.idleInTransaction += 1;
      });
      await inBatches(idle, async () => {
        await open('idle');
        counts.idle += 1;
      });
      // Everything is as described before anything is measured.
      await waitFor(
        'blocked sessions',
        `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [`${BENCH_APP_PREFIX}blocked`],
        counts.blocked,
      );
      await waitFor(
        'active sleepers',
        `SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'`,
        [`${BENCH_APP_PREFIX}active`],
        counts.active,
      );
    },
    async sleeper() {
      const client = await open('target');
      const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      const pid = rows[0]!.pid;
      client.query(`SELECT pg_sleep(${SLEEP_SECONDS})`).catch(() => undefined);
      await waitFor(
        'the target to be active',
        `SELECT count(*) AS n FROM pg_stat_activity WHERE pid = $1 AND state = 'active'`,
        [pid],
        1,
      );
      return pid;
    },
    async end() {
      // Terminate from the server side first: a client stuck in pg_sleep or a lock wait cannot end itself.
      try {
        const c = await adminClient();
        await c.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1 AND pid <> pg_backend_pid()`,
          [`${BENCH_APP_PREFIX}%`],
        );
      } catch {
        // the server may already be gone; ending the clients below is still right
      }
      await Promise.all(clients.map((client) => client.end().catch(() => undefined)));
      clients.length = 0;
      await admin?.end().catch(() => undefined);
      admin = undefined;
    },
  };
}
