// Drains in the state database (migration 010): recorded before a database is closed, claimed once by
// whichever replica ends them (a conditional UPDATE … RETURNING; a claim a dead replica left is taken over
// after a minute), and ended with their audit entry in the same transaction.
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { AuditEntry, AuditEntryInput } from '../domain/audit.js';
import type { Drain, DrainEnd, DrainEndWhy, DrainMethod } from '../domain/drain.js';
import { inTransaction } from './transaction.js';

const COLUMNS = `id::text, request_id::text AS request_id, cluster, database, method, prev_allow_connections,
  prev_connection_limit, to_char(ends_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ends_at,
  requester, approver, channel, message_ts, state,
  to_char(ended_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ended_at, ended_by, end_why, outcome, binding,
  end_binding`;

const SQL_LIVE = `SELECT ${COLUMNS} FROM pgsessions.drains WHERE state IN ('active', 'ending')
  AND ($1::text IS NULL OR cluster = $1) ORDER BY ends_at`;
const SQL_LIVE_DB = `SELECT ${COLUMNS} FROM pgsessions.drains WHERE state IN ('active', 'ending') AND cluster = $1 AND database = $2`;
const SQL_BY_REQUEST = `SELECT ${COLUMNS} FROM pgsessions.drains WHERE request_id = $1`;
const SQL_GET = `SELECT ${COLUMNS} FROM pgsessions.drains WHERE id = $1`;
const SQL_INSERT = `INSERT INTO pgsessions.drains (id, request_id, cluster, database, method, prev_allow_connections,
  prev_connection_limit, ends_at, requester, approver, channel, binding)
  VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING ${COLUMNS}`;
/** The ends_at of a drain: the state database's clock decides, like every other expiry. */
const SQL_ENDS_AT = `SELECT to_char((now() + make_interval(secs => $1)) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ends_at`;
// Exactly one replica gets the row: active, or a claim older than a minute (its replica died mid-way).
const SQL_CLAIM = `UPDATE pgsessions.drains SET state = 'ending', claimed_by = $2, claimed_at = now()
  WHERE id = $1 AND (state = 'active' OR (state = 'ending' AND claimed_at < now() - interval '60 seconds'))
  RETURNING ${COLUMNS}`;
const SQL_DUE = `SELECT id::text FROM pgsessions.drains WHERE state IN ('active', 'ending') AND ends_at <= now()
  AND (state = 'active' OR claimed_at < now() - interval '60 seconds') ORDER BY ends_at LIMIT 20`;
const SQL_FINISH = `UPDATE pgsessions.drains SET state = $2, ended_at = now(), ended_by = $3, end_why = $4, outcome = $5,
  end_binding = $7 WHERE id = $1 AND state = 'ending' AND claimed_by = $6 RETURNING ${COLUMNS}`;
// Every end whose window is over, sealed or not: only the app can tell (the seal is a MAC). Drains are rare.
const SQL_FINISHED_DUE = `SELECT ${COLUMNS} FROM pgsessions.drains WHERE state IN ('ended', 'refused') AND ends_at <= now()
  ORDER BY ends_at`;
const SQL_RECOVERIES = `SELECT details->>'recovered' AS recovered FROM pgsessions.audit_log
  WHERE event = 'drain_ended' AND details->>'drain' = $1 AND details ? 'recovered'`;
const SQL_RELEASE = `UPDATE pgsessions.drains SET state = 'ending', claimed_at = now() - interval '61 seconds'
  WHERE id = $1 AND state = 'ending' AND claimed_by = $2`;
const SQL_SET_TS = 'UPDATE pgsessions.drains SET message_ts = $2 WHERE id = $1';

interface DrainRow {
  id: string;
  request_id: string;
  cluster: string;
  database: string;
  method: DrainMethod;
  prev_allow_connections: boolean;
  prev_connection_limit: number;
  ends_at: string;
  requester: string;
  approver: string;
  channel: string;
  message_ts: string | null;
  state: Drain['state'];
  ended_at: string | null;
  ended_by: string | null;
  end_why: DrainEndWhy | null;
  outcome: string | null;
  binding: string;
  end_binding: string | null;
}

function toDrain(r: DrainRow): Drain {
  return {
    id: r.id,
    requestId: r.request_id,
    cluster: r.cluster,
    database: r.database,
    method: r.method,
    prevAllowConnections: r.prev_allow_connections,
    prevConnectionLimit: r.prev_connection_limit,
    endsAt: r.ends_at,
    requester: r.requester,
    approver: r.approver,
    channel: r.channel,
    messageTs: r.message_ts,
    state: r.state,
    endedAt: r.ended_at,
    endedBy: r.ended_by,
    endWhy: r.end_why,
    outcome: r.outcome,
    binding: r.binding,
    endBinding: r.end_binding,
  };
}

export type RecordInput = Omit<
  Drain,
  'id' | 'endsAt' | 'state' | 'endedAt' | 'endedBy' | 'endWhy' | 'outcome' | 'binding' | 'endBinding' | 'messageTs'
> & { windowSeconds: number };

async function recordDrain(pool: pg.Pool, input: RecordInput, bind: (d: Drain) => string): Promise<Drain | null> {
  return inTransaction(pool, async (client) => {
    const endsAt = (await client.query<{ ends_at: string }>(SQL_ENDS_AT, [input.windowSeconds])).rows[0]!.ends_at;
    const draft: Drain = {
      ...input,
      id: randomUUID(),
      endsAt,
      state: 'active',
      endedAt: null,
      endedBy: null,
      endWhy: null,
      outcome: null,
      binding: '',
      endBinding: null,
      messageTs: null,
    };
    const binding = bind(draft);
    try {
      await client.query('SAVEPOINT record_drain');
      const row = (
        await client.query<DrainRow>(SQL_INSERT, [
          draft.id,
          draft.requestId,
          draft.cluster,
          draft.database,
          draft.method,
          draft.prevAllowConnections,
          draft.prevConnectionLimit,
          endsAt,
          draft.requester,
          draft.approver,
          draft.channel,
          binding,
        ])
      ).rows[0]!;
      return toDrain(row);
    } catch (error) {
      if ((error as { code?: string }).code !== '23505') throw error;
      await client.query('ROLLBACK TO SAVEPOINT record_drain');
      return null;
    }
  });
}

type Append = (client: pg.PoolClient, entry: AuditEntryInput) => Promise<AuditEntry>;

export function createDrainStore(pool: pg.Pool, appendIn: Append) {
  const one = async (sql: string, params: unknown[]) => {
    const row = (await pool.query<DrainRow>(sql, params)).rows[0];
    return row ? toDrain(row) : null;
  };
  return {
    live: async (cluster?: string): Promise<Drain[]> =>
      (await pool.query<DrainRow>(SQL_LIVE, [cluster ?? null])).rows.map(toDrain),
    liveFor: (cluster: string, database: string) => one(SQL_LIVE_DB, [cluster, database]),
    byRequest: (requestId: string) => one(SQL_BY_REQUEST, [requestId]),
    get: (id: string) => one(SQL_GET, [id]),
    setMessageTs: async (id: string, ts: string) => {
      await pool.query(SQL_SET_TS, [id, ts]);
    },
    /**
     * Records the drain (its previous settings, its end, its binding) before anything is changed on the cluster.
     * null: another drain of that database is live (the unique index decides, across replicas).
     */
    record: (input: RecordInput, bind: (d: Drain) => string) => recordDrain(pool, input, bind),
    /** Ids of drains past their end (by the state database's clock) that nobody is ending now. */
    due: async (): Promise<string[]> => (await pool.query<{ id: string }>(SQL_DUE)).rows.map((r) => r.id),
    /** The recovery marks the audit log holds for a drain (anyone can write one; only the app's verify). */
    recoveries: async (id: string): Promise<string[]> =>
      (await pool.query<{ recovered: string }>(SQL_RECOVERIES, [id])).rows.map((r) => r.recovered),
    finishedDue: async (): Promise<Drain[]> => (await pool.query<DrainRow>(SQL_FINISHED_DUE)).rows.map(toDrain),
    /** Takes the drain to end it; null when another replica has it (or it has ended). */
    claim: (id: string, holder: string) => one(SQL_CLAIM, [id, holder]),
    /** Lets another try again at once (a restore that failed for a reason worth retrying). */
    release: async (id: string, holder: string) => {
      await pool.query(SQL_RELEASE, [id, holder]);
    },
    /** Ends a claimed drain and writes its audit entry, in one transaction. */
    finish(
      id: string,
      holder: string,
      end: DrainEnd & { seal: string },
      audit: (d: Drain) => AuditEntryInput,
    ): Promise<Drain | null> {
      return inTransaction(pool, async (client) => {
        const row = (
          await client.query<DrainRow>(SQL_FINISH, [id, end.state, end.by, end.why, end.outcome, holder, end.seal])
        ).rows[0];
        if (!row) return null;
        const drain = toDrain(row);
        await appendIn(client, audit(drain));
        return drain;
      });
    },
    appendAudit: (entry: AuditEntryInput) => inTransaction(pool, (client) => appendIn(client, entry)),
  };
}

export type DrainStore = ReturnType<typeof createDrainStore>;
