// Real PostgreSQL sessions for tests to list, cancel and terminate: a sleeping query, an idle-in-transaction
// lock holder and the query it blocks, a logical walsender. Each helper returns once pg_stat_activity (or
// pg_stat_replication) shows the session, and end() is safe when the backend was already killed.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

/** Timestamps are read as text in UTC, so `backendStart` is exact and stable (e.g. `2024-01-01 10:00:00.123456+00`). */
const UTC_OPTIONS = '-c TimeZone=UTC';
const DEFAULT_WAIT_MS = 10_000;
const STREAMING_GRACE_MS = 3_000;

export interface ActivityRow {
  pid: number;
  datname: string | null;
  usename: string | null;
  application_name: string;
  client_addr: string | null;
  backend_type: string;
  state: string | null;
  wait_event_type: string | null;
  wait_event: string | null;
  backend_start: string;
  xact_start: string | null;
  query_start: string | null;
  state_change: string | null;
  backend_xid: string | null;
  query: string;
  blocked_by: number[];
}

export interface ReplicationRow {
  pid: number;
  usename: string | null;
  application_name: string;
  client_addr: string | null;
  backend_start: string;
  state: string | null;
  sent_lsn: string | null;
  write_lsn: string | null;
  flush_lsn: string | null;
  replay_lsn: string | null;
  sync_state: string | null;
}

const ACTIVITY_SQL = `
SELECT pid, datname, usename, application_name, host(client_addr) AS client_addr, backend_type, state,
       wait_event_type, wait_event, backend_start::text AS backend_start, xact_start::text AS xact_start,
       query_start::text AS query_start, state_change::text AS state_change, backend_xid::text AS backend_xid,
       query, pg_blocking_pids(pid) AS blocked_by
  FROM pg_stat_activity
 WHERE pid = $1`;

const REPLICATION_SQL = `
SELECT pid, usename, application_name, host(client_addr) AS client_addr, backend_start::text AS backend_start,
       state, sent_lsn::text AS sent_lsn, write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn,
       replay_lsn::text AS replay_lsn, sync_state
  FROM pg_stat_replication
 WHERE pid = $1`;

/** A connected client whose 'error' events are swallowed: a killed backend must not crash the test process. */
async function connect(url: string, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, options: UTC_OPTIONS, ...extra });
  client.on('error', () => undefined);
  await client.connect();
  return client;
}

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = await connect(url, { application_name: 'test-observer' });
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function endQuietly(client: pg.Client): Promise<void> {
  await client.end().catch(() => undefined);
}

async function fetchActivity(client: pg.Client, pid: number): Promise<ActivityRow | undefined> {
  const { rows } = await client.query<ActivityRow>(ACTIVITY_SQL, [pid]);
  return rows[0];
}

export async function activityRow(url: string, pid: number): Promise<ActivityRow | undefined> {
  return withClient(url, (c) => fetchActivity(c, pid));
}

export async function replicationRow(url: string, pid: number): Promise<ReplicationRow | undefined> {
  return withClient(url, async (c) => (await c.query<ReplicationRow>(REPLICATION_SQL, [pid])).rows[0]);
}

/** Whether the backend `pid` exists (and, given `backendStart`, is still the same session). */
export async function sessionAlive(url: string, pid: number, backendStart?: string): Promise<boolean> {
  return withClient(url, async (c) => {
    const { rows } = await c.query(
      'SELECT 1 FROM pg_stat_activity WHERE pid = $1 AND ($2::timestamptz IS NULL OR backend_start = $2::timestamptz)',
      [pid, backendStart ?? null],
    );
    return rows.length > 0;
  });
}

/** Waits until the backend has left pg_stat_activity; throws after timeoutMs. */
export async function waitUntilGone(url: string, pid: number, timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
  await withClient(url, (c) =>
    poll(`backend ${pid} to exit`, timeoutMs, async () => ((await fetchActivity(c, pid)) ? undefined : true)),
  );
}

/** Ends a backend from outside (the helper's own client may be stuck in a query) and waits until it is gone. */
async function terminate(url: string, pid: number): Promise<void> {
  await withClient(url, async (c) => {
    await c.query('SELECT pg_terminate_backend($1)', [pid]);
    await poll(`backend ${pid} to exit`, DEFAULT_WAIT_MS, async () =>
      (await fetchActivity(c, pid)) ? undefined : true,
    );
  });
}

function settle(query: Promise<unknown>): Promise<Error | null> {
  return query.then(
    () => null,
    (error: unknown) => (error instanceof Error ? error : new Error(String(error))),
  );
}

function once(fn: () => Promise<void>): () => Promise<void> {
  let running: Promise<void> | undefined;
  return () => (running ??= fn());
}

export function quoteTable(table: string): string {
  return table
    .split('.')
    .map((part) => `"${part.replace(/"/g, '""')}"`)
    .join('.');
}

// --- a sleeping query ---------------------------------------------------------------------------------

export interface SleepSession {
  pid: number;
  backendStart: string;
  queryStart: string;
  client: pg.Client;
  /** Resolves when the query ends: null if it completed, the error if it was cancelled or the backend terminated. */
  finished: Promise<Error | null>;
  end(): Promise<void>;
}

/** A session running `SELECT pg_sleep(seconds)`, returned once pg_stat_activity shows it active. */
export async function sleepSession(
  url: string,
  options: { seconds?: number; application?: string } = {},
): Promise<SleepSession> {
  const seconds = options.seconds ?? 300;
  if (!Number.isFinite(seconds) || seconds < 0) throw new Error(`sleepSession: bad seconds ${seconds}`);
  const client = await connect(url, { application_name: options.application ?? 'test-sleeper' });
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const { pid, backend_start: backendStart } = rows[0]!;
  // A literal (not $1) so pg_stat_activity shows the query as an operator would see it.
  const finished = settle(client.query(`SELECT pg_sleep(${seconds})`));
  const row = await withClient(url, (c) =>
    poll(`pg_sleep in backend ${pid} to be active`, DEFAULT_WAIT_MS, async () => {
      const r = await fetchActivity(c, pid);
      return r?.state === 'active' && r.query.includes('pg_sleep') ? r : undefined;
    }),
  );
  const end = once(async () => {
    if (await sessionAlive(url, pid, backendStart)) await terminate(url, pid);
    await finished;
    await endQuietly(client);
  });
  return { pid, backendStart, queryStart: row.query_start!, client, finished, end };
}

// --- locks --------------------------------------------------------------------------------------------

export interface LockHolder {
  pid: number;
  backendStart: string;
  xactStart: string;
  client: pg.Client;
  end(): Promise<void>;
}

/**
 * A session idle in transaction holding a lock on `table`: by default `LOCK TABLE … IN ACCESS EXCLUSIVE MODE`;
 * `statement` replaces it (e.g. an UPDATE, to hold a row lock and an xid).
 */
export async function idleInTransactionLockHolder(
  url: string,
  table: string,
  options: { statement?: string; application?: string } = {},
): Promise<LockHolder> {
  const client = await connect(url, { application_name: options.application ?? 'test-lock-holder' });
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const { pid, backend_start: backendStart } = rows[0]!;
  await client.query('BEGIN');
  await client.query(options.statement ?? `LOCK TABLE ${quoteTable(table)} IN ACCESS EXCLUSIVE MODE`);
  const row = await withClient(url, (c) =>
    poll(`backend ${pid} to be idle in transaction`, DEFAULT_WAIT_MS, async () => {
      const r = await fetchActivity(c, pid);
      return r?.state === 'idle in transaction' ? r : undefined;
    }),
  );
  const end = once(async () => {
    if (await sessionAlive(url, pid, backendStart)) await terminate(url, pid);
    await endQuietly(client);
  });
  return { pid, backendStart, xactStart: row.xact_start!, client, end };
}

export interface BlockedQuery {
  pid: number;
  backendStart: string;
  queryStart: string;
  blockedBy: number[];
  client: pg.Client;
  finished: Promise<Error | null>;
  end(): Promise<void>;
}

/** A query waiting for a lock on `table` (by default `SELECT count(*) FROM table`), returned once pg_blocking_pids shows it. */
export async function blockedQuery(
  url: string,
  table: string,
  options: { statement?: string; application?: string } = {},
): Promise<BlockedQuery> {
  const client = await connect(url, { application_name: options.application ?? 'test-blocked' });
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const { pid, backend_start: backendStart } = rows[0]!;
  const finished = settle(client.query(options.statement ?? `SELECT count(*) FROM ${quoteTable(table)}`));
  const row = await withClient(url, (c) =>
    poll(`backend ${pid} to be blocked`, DEFAULT_WAIT_MS, async () => {
      const r = await fetchActivity(c, pid);
      return r && r.blocked_by.length > 0 ? r : undefined;
    }),
  );
  const end = once(async () => {
    if (await sessionAlive(url, pid, backendStart)) await terminate(url, pid);
    await finished;
    await endQuietly(client);
  });
  return { pid, backendStart, queryStart: row.query_start!, blockedBy: row.blocked_by, client, finished, end };
}

// --- a walsender --------------------------------------------------------------------------------------

export interface Walsender {
  pid: number;
  backendStart: string;
  applicationName: string;
  slot: string;
  /** pg_stat_replication.state when returned: 'streaming', or 'startup'/'catchup' on a slow server. */
  state: string;
  client: pg.Client;
  /** Settles when the replication stream ends (the walsender was terminated or end() was called). */
  finished: Promise<Error | null>;
  /** Ends the walsender and drops its slot. */
  end(): Promise<void>;
}

/**
 * A logical replication connection streaming from a new `test_decoding` slot, returned once it shows in
 * pg_stat_replication. Create it before any transaction that holds an xid is open: creating a logical slot
 * waits for those transactions to finish.
 */
export async function walsender(
  url: string,
  options: { application?: string; slot?: string } = {},
): Promise<Walsender> {
  const applicationName = options.application ?? 'test-standby';
  const slot = options.slot ?? `test_slot_${randomBytes(4).toString('hex')}`;
  await withClient(url, (c) => c.query("SELECT pg_create_logical_replication_slot($1, 'test_decoding')", [slot]));
  let client: pg.Client | undefined;
  try {
    client = await connect(url, {
      application_name: applicationName,
      replication: 'database',
      // We never send standby status updates: without this the walsender hangs up after wal_sender_timeout (60 s).
      options: `${UTC_OPTIONS} -c wal_sender_timeout=0`,
    } as pg.ClientConfig);
    // The replication protocol has no pg_backend_pid(); the pid comes from the BackendKeyData message.
    const pid = (client as unknown as { processID: number | null }).processID;
    if (!pid) throw new Error('walsender: no backend pid from the replication connection');
    // pg sees CopyBothResponse and then only CopyData, so this query never settles until the stream ends.
    const finished = settle(client.query(`START_REPLICATION SLOT ${slot} LOGICAL 0/0`));
    // It passes through 'startup' and 'catchup'; give it a moment to reach 'streaming', but a slow server may
    // return an earlier state (it is in pg_stat_replication either way).
    const row = await withClient(url, async (c) => {
      const read = async () => (await c.query<ReplicationRow>(REPLICATION_SQL, [pid])).rows[0];
      const first = await poll(`walsender ${pid} in pg_stat_replication`, DEFAULT_WAIT_MS, read);
      if (first.state === 'streaming') return first;
      return poll(`walsender ${pid} to stream`, STREAMING_GRACE_MS, async () => {
        const r = await read();
        return r?.state === 'streaming' ? r : undefined;
      }).catch(async () => (await read()) ?? first);
    });
    const connected = client;
    const end = once(async () => {
      if (await sessionAlive(url, pid, row.backend_start)) await terminate(url, pid);
      await Promise.race([finished, new Promise((resolve) => setTimeout(resolve, 1000))]);
      await endQuietly(connected);
      await dropSlot(url, slot);
    });
    return {
      pid,
      backendStart: row.backend_start,
      applicationName,
      slot,
      state: row.state ?? '',
      client: connected,
      finished,
      end,
    };
  } catch (error) {
    if (client) await endQuietly(client);
    await dropSlot(url, slot).catch(() => undefined);
    throw error;
  }
}

/** Drops a replication slot, waiting for a just-terminated walsender to release it. */
export async function dropSlot(url: string, slot: string): Promise<void> {
  await withClient(url, (c) =>
    poll(`slot ${slot} to be dropped`, DEFAULT_WAIT_MS, async () => {
      const { rows } = await c.query<{ active: boolean }>(
        'SELECT active FROM pg_replication_slots WHERE slot_name = $1',
        [slot],
      );
      if (rows.length === 0) return true;
      if (rows[0]!.active) return undefined;
      try {
        await c.query('SELECT pg_drop_replication_slot($1)', [slot]);
        return true;
      } catch {
        return undefined; // became active again, or dropped concurrently: look again
      }
    }),
  );
}

// --- a long read ----------------------------------------------------------------------------------------

/**
 * A running `SELECT count(*), pg_sleep(n) FROM table`: it holds AccessShareLock on the table while it runs,
 * so a DDL queues behind it and every later reader queues behind the DDL. Returned once the lock is granted.
 */
export async function longRead(
  url: string,
  table: string,
  options: { seconds?: number; application?: string } = {},
): Promise<SleepSession> {
  const seconds = options.seconds ?? 300;
  const client = await connect(url, { application_name: options.application ?? 'test-long-read' });
  const { rows } = await client.query<{ pid: number; backend_start: string }>(
    'SELECT pid, backend_start::text AS backend_start FROM pg_stat_activity WHERE pid = pg_backend_pid()',
  );
  const { pid, backend_start: backendStart } = rows[0]!;
  const finished = settle(client.query(`SELECT count(*), pg_sleep(${Number(seconds)}) FROM ${quoteTable(table)}`));
  const queryStart = await withClient(url, (c) =>
    poll(`backend ${pid} to hold its read lock`, DEFAULT_WAIT_MS, async () => {
      const r = await c.query<{ query_start: string }>(
        `SELECT a.query_start::text AS query_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
          WHERE l.pid = $1 AND l.mode = 'AccessShareLock' AND l.granted AND l.relation = $2::regclass`,
        [pid, quoteTable(table)],
      );
      return r.rows[0]?.query_start;
    }),
  );
  const end = once(async () => {
    if (await sessionAlive(url, pid, backendStart)) await terminate(url, pid);
    await finished;
    await endQuietly(client);
  });
  return { pid, backendStart, queryStart, client, finished, end };
}
