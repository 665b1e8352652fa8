// The playground's demo database and its live incident, made of real PostgreSQL sessions: a migration
// holding ACCESS EXCLUSIVE from an idle transaction with web queries queued behind it, a DDL waiting at the
// head of a lock queue behind a long report, a query storm, idle sessions and a logical walsender. They
// stay until ended; reset() ends what is left and builds it all again.
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const DEMO_DATABASE = 'shop';
export const STATE_DATABASE = 'pgsessions_state';
export const BOT_ROLE = 'pgsessions';
const SLOT = 'analytics_cdc';
const WAIT_MS = 15_000;
/** Long enough to outlast any demo; the sessions are ended by the app, by reset() or by stop(). */
const FOREVER_SECONDS = 86_400;

export const DEMO_ROLES = {
  migrator: 'migrator',
  web: 'web',
  reporting: 'reporting',
  replicator: 'replicator',
} as const;

// ---- SQL ------------------------------------------------------------------------------------------------

// Role and database DDL takes no parameters: format() quotes the values, so they are still never spliced in.
const CREATE_ROLE_SQL = `SELECT format('CREATE ROLE %I LOGIN PASSWORD %L' || $3, $1::text, $2::text) AS sql`;
const CREATE_DATABASE_SQL = `SELECT format('CREATE DATABASE %I OWNER %I', $1::text, $2::text) AS sql`;
const GRANT_BOT_SQL = `SELECT format('GRANT pg_monitor, pg_signal_backend TO %I', $1::text) AS sql`;

const SCHEMA_SQL = `
CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, region text NOT NULL);
CREATE TABLE orders (id serial PRIMARY KEY, customer_id int NOT NULL, status text NOT NULL, total numeric(10, 2) NOT NULL);
CREATE TABLE events (id bigserial PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now());
INSERT INTO customers (name, region) SELECT 'customer ' || i, (ARRAY['eu', 'us', 'apac'])[1 + i % 3] FROM generate_series(1, 500) i;
INSERT INTO orders (customer_id, status, total) SELECT 1 + i % 500, (ARRAY['new', 'paid', 'shipped'])[1 + i % 3], (i % 200) + 0.99 FROM generate_series(1, 5000) i;
INSERT INTO events (kind) SELECT (ARRAY['checkout', 'page_view', 'login'])[1 + i % 3] FROM generate_series(1, 5000) i;
GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO web, reporting;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO web;`;

const CREATE_SLOT_SQL = `SELECT pg_create_logical_replication_slot($1, 'test_decoding')`;
const DROP_SLOT_SQL = `SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = $1 AND NOT active`;
const SLOT_ACTIVE_SQL = `SELECT active FROM pg_replication_slots WHERE slot_name = $1`;
const STATE_SQL = `SELECT state, wait_event, cardinality(pg_blocking_pids(pid)) AS blockers FROM pg_stat_activity WHERE pid = $1`;
const TERMINATE_SQL = `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid = ANY($1::int[])`;
const ALIVE_SQL = `SELECT pid FROM pg_stat_activity WHERE pid = ANY($1::int[])`;

// What the sessions run: literals, not $n, so pg_stat_activity shows each as an operator would see it.
export const INCIDENT_SQL = {
  migration: 'ALTER TABLE orders ADD COLUMN note text',
  ordersBehindMigration: [
    'SELECT * FROM orders WHERE customer_id = 42',
    "UPDATE orders SET status = 'shipped' WHERE id = 1001",
    "INSERT INTO orders (customer_id, status, total) VALUES (7, 'new', 19.90)",
    "SELECT count(*) FROM orders WHERE status = 'new'",
  ],
  report: `SELECT region, count(*) AS customers FROM customers, pg_sleep(${FOREVER_SECONDS}) GROUP BY region`,
  ddlAtHeadOfQueue: 'ALTER TABLE customers ADD COLUMN loyalty_tier int',
  customersBehindDdl: [
    'SELECT id, name FROM customers WHERE id = 42',
    "SELECT count(*) FROM customers WHERE region = 'eu'",
  ],
  storm: `SELECT count(*) FROM events, pg_sleep(${FOREVER_SECONDS}) WHERE events.kind = 'checkout'`,
  idle: 'SELECT 1',
} as const;
export const STORM_SIZE = 12;
const IDLE_SESSIONS = 4;

// ---- the demo database ------------------------------------------------------------------------------------

export interface DemoDatabase {
  /** The bot's role on the demo database: pg_monitor + pg_signal_backend, no superuser. */
  clusterUrl: string;
  /** The bot's own database for requests and the audit log. */
  stateUrl: string;
  /** Each demo role's connection string to the demo database. */
  roleUrl(role: string, database?: string): string;
  adminUrl: string;
}

function urlFor(base: string, user: string, password: string, database: string): string {
  const u = new URL(base);
  u.username = user;
  u.password = password;
  u.pathname = `/${database}`;
  return u.toString();
}

function onDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

async function withClient<T>(url: string, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, application_name: 'playground-setup' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runFormatted(c: pg.Client, sql: string, params: unknown[]): Promise<void> {
  const { rows } = await c.query<{ sql: string }>(sql, params);
  await c.query(rows[0]!.sql);
}

/** Roles, the demo database with a little data, and the bot's state database, on a fresh server. */
export async function createDemoDatabase(adminUrl: string): Promise<DemoDatabase> {
  const password = randomBytes(12).toString('hex');
  await withClient(adminUrl, async (c) => {
    await runFormatted(c, CREATE_ROLE_SQL, [BOT_ROLE, password, '']);
    await runFormatted(c, GRANT_BOT_SQL, [BOT_ROLE]);
    for (const role of [DEMO_ROLES.migrator, DEMO_ROLES.web, DEMO_ROLES.reporting])
      await runFormatted(c, CREATE_ROLE_SQL, [role, password, '']);
    await runFormatted(c, CREATE_ROLE_SQL, [DEMO_ROLES.replicator, password, ' REPLICATION']);
    await runFormatted(c, CREATE_DATABASE_SQL, [DEMO_DATABASE, DEMO_ROLES.migrator]);
    await runFormatted(c, CREATE_DATABASE_SQL, [STATE_DATABASE, BOT_ROLE]);
  });
  const roleUrl = (role: string, database: string = DEMO_DATABASE) => urlFor(adminUrl, role, password, database);
  await withClient(roleUrl(DEMO_ROLES.migrator), (c) => c.query(SCHEMA_SQL));
  return { clusterUrl: roleUrl(BOT_ROLE), stateUrl: roleUrl(BOT_ROLE, STATE_DATABASE), roleUrl, adminUrl };
}

// ---- the incident ----------------------------------------------------------------------------------------

export interface IncidentSession {
  role: keyof typeof DEMO_ROLES | 'idle';
  pid: number;
  client: pg.Client;
}

export interface Incident {
  /** The sessions the incident started (some may have been ended since). */
  sessions(): IncidentSession[];
  /** The migration's pid: the root blocker. */
  migrationPid(): number;
  /** Ends what is left of the incident and starts it again. */
  reset(): Promise<void>;
  stop(): Promise<void>;
}

interface Observed {
  state: string | null;
  wait_event: string | null;
  blockers: number;
}

async function poll(admin: pg.Pool, pid: number, what: string, ok: (row: Observed) => boolean): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const row = (await admin.query<Observed>(STATE_SQL, [pid])).rows[0];
    if (row && ok(row)) return;
    if (Date.now() > deadline)
      throw new Error(`the demo incident did not start: ${what} (pid ${pid}) after ${WAIT_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 15));
  }
}

/** The incident's sessions while it lasts, and the migration's pid (the culprit). */
interface Live {
  sessions: IncidentSession[];
  migration: number;
}
type Open = (role: IncidentSession['role'], application: string, extra?: pg.ClientConfig) => Promise<IncidentSession>;

/** Opens a demo session as the role's user, remembered in `live` so that `end` can terminate it. */
function opener(demo: DemoDatabase, live: Live): Open {
  return async (role, application, extra = {}) => {
    const user = role === 'idle' ? DEMO_ROLES.web : DEMO_ROLES[role];
    const client = new pg.Client({ connectionString: demo.roleUrl(user), application_name: application, ...extra });
    client.on('error', () => undefined);
    await client.connect();
    const pid = (client as unknown as { processID: number | null }).processID;
    if (!pid) throw new Error('no backend pid for a demo session');
    const session = { role, pid, client };
    live.sessions.push(session);
    return session;
  };
}

// The query never settles while the incident lasts; its end (a kill) is expected, never an error to report.
const runForever = (session: IncidentSession, sql: string) => void session.client.query(sql).catch(() => undefined);

/** Web queries queued behind the migration's lock. */
function webBehindMigration(open: Open, admin: pg.Pool): Promise<unknown> {
  return Promise.all(
    INCIDENT_SQL.ordersBehindMigration.map(async (sql) => {
      const s = await open('web', 'puma');
      runForever(s, sql);
      await poll(admin, s.pid, 'a web query queued behind the migration', (r) => r.blockers > 0);
    }),
  );
}

/** A long report, a DDL waiting for its lock behind it, and web queries queued behind the DDL. */
async function ddlBehindReport(open: Open, admin: pg.Pool): Promise<void> {
  const report = await open('reporting', 'metabase');
  runForever(report, INCIDENT_SQL.report);
  await poll(admin, report.pid, 'the report', (r) => r.wait_event === 'PgSleep');
  const ddl = await open('migrator', 'flyway');
  runForever(ddl, INCIDENT_SQL.ddlAtHeadOfQueue);
  await poll(admin, ddl.pid, 'the DDL waiting for its lock', (r) => r.blockers > 0);
  await Promise.all(
    INCIDENT_SQL.customersBehindDdl.map(async (sql) => {
      const s = await open('web', 'puma');
      runForever(s, sql);
      await poll(admin, s.pid, 'a query queued behind the DDL', (r) => r.blockers > 0);
    }),
  );
}

/** A logical replication client streaming from the slot. */
async function replicator(open: Open): Promise<void> {
  const s = await open('replicator', 'analytics-cdc', {
    replication: 'database',
    options: '-c wal_sender_timeout=0',
  } as pg.ClientConfig);
  runForever(s, `START_REPLICATION SLOT ${SLOT} LOGICAL 0/0`);
}

/** Idle-in-transaction sessions and a storm of one statement. */
function idleAndStorm(open: Open, admin: pg.Pool): Promise<unknown>[] {
  const started: Promise<unknown>[] = [];
  for (let i = 0; i < IDLE_SESSIONS; i++) {
    started.push(open('idle', 'puma').then((s) => s.client.query(INCIDENT_SQL.idle)));
  }
  for (let i = 0; i < STORM_SIZE; i++) {
    started.push(
      open('web', 'sidekiq').then(async (s) => {
        runForever(s, INCIDENT_SQL.storm);
        await poll(admin, s.pid, 'a storm query', (r) => r.state === 'active');
      }),
    );
  }
  return started;
}

async function build(demo: DemoDatabase, live: Live): Promise<void> {
  // A pool: the sessions are watched in parallel, and one client runs one query at a time.
  const admin = new pg.Pool({
    connectionString: onDatabase(demo.adminUrl, DEMO_DATABASE),
    application_name: 'playground-setup',
    max: 4,
  });
  admin.on('error', () => undefined);
  const open = opener(demo, live);
  try {
    // A logical slot waits for transactions holding an xid: make it before the migration takes its lock.
    await admin.query(DROP_SLOT_SQL, [SLOT]);
    await admin.query(CREATE_SLOT_SQL, [SLOT]);
    // The migration first: in an incident the culprit is the oldest, and listings show longest first.
    const m = await open('migrator', 'rails-migrate');
    await m.client.query('BEGIN');
    await m.client.query(INCIDENT_SQL.migration);
    live.migration = m.pid;
    await Promise.all([
      webBehindMigration(open, admin),
      ddlBehindReport(open, admin),
      replicator(open),
      ...idleAndStorm(open, admin),
    ]);
  } finally {
    await admin.end().catch(() => undefined);
  }
}

async function end(demo: DemoDatabase, live: Live): Promise<void> {
  const pids = live.sessions.map((s) => s.pid);
  await withClient(demo.adminUrl, async (c) => {
    await c.query(TERMINATE_SQL, [pids]);
    const deadline = Date.now() + WAIT_MS;
    while ((await c.query(ALIVE_SQL, [pids])).rows.length > 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
  });
  await Promise.all(live.sessions.map((s) => s.client.end().catch(() => undefined)));
  live.sessions = [];
  await withClient(onDatabase(demo.adminUrl, DEMO_DATABASE), async (c) => {
    const deadline = Date.now() + WAIT_MS;
    while ((await c.query<{ active: boolean }>(SLOT_ACTIVE_SQL, [SLOT])).rows[0]?.active && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    await c.query(DROP_SLOT_SQL, [SLOT]);
  });
}

export async function startIncident(demo: DemoDatabase): Promise<Incident> {
  const live: Live = { sessions: [], migration: 0 };
  let busy: Promise<void> = Promise.resolve();
  await build(demo, live);
  // One reset at a time: a second click waits for the first instead of racing it.
  const serial = (fn: () => Promise<void>) => (busy = busy.then(fn, fn));
  return {
    sessions: () => [...live.sessions],
    migrationPid: () => live.migration,
    reset: () =>
      serial(async () => {
        await end(demo, live);
        await build(demo, live);
      }),
    stop: () => serial(() => end(demo, live)),
  };
}
