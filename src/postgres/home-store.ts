// What the App Home reads of the state database besides requests and rules: the open incidents, and a cheap
// marker that moves whenever anything a Home shows may have changed — the audit log's head (every change of a
// request, a rule or a break-glass use writes an audit entry in the same transaction) and the set of open
// incidents (opened and cleared by the watcher, not audited). Polled every ~2 s by every replica.
import type pg from 'pg';
import { z } from 'zod';
import type { HomeIncident } from '../domain/home.js';
import { INCIDENT_CAUSES } from '../domain/watch.js';

const ts = (column: string): string => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`;

export const SQL_HOME_MARKER = `
  SELECT (SELECT coalesce(max(seq), 0) FROM pgsessions.audit_log)::text AS audit,
         (SELECT coalesce(md5(string_agg(id::text || ':' || ${ts('opened_at')}, ',' ORDER BY id)), '')
            FROM pgsessions.incidents WHERE status = 'open') AS incidents`;

/** $1 the most rows: open incidents, newest first. */
export const SQL_HOME_INCIDENTS = `
  SELECT id::text AS id, cluster, cause, ${ts('opened_at')} AS opened_at, incident, channel, message_ts
  FROM pgsessions.incidents WHERE status = 'open'
  ORDER BY opened_at DESC, id LIMIT $1`;

const rootFields = z
  .object({
    pid: z.number().int(),
    user: z.string().nullable().catch(null),
    database: z.string().nullable().catch(null),
    application: z.string().nullable().catch(null),
  })
  .nullable()
  .catch(null);

const incidentRow = z.object({
  id: z.string(),
  cluster: z.string(),
  cause: z.enum(INCIDENT_CAUSES),
  opened_at: z.string(),
  incident: z
    .object({ root: rootFields.optional(), error: z.string().nullable().optional().catch(null) })
    .passthrough(),
  channel: z.string(),
  message_ts: z.string().nullable(),
});

export const HOME_INCIDENTS_MAX = 50;

export function createHomeStore(pool: pg.Pool) {
  return {
    async marker(): Promise<string> {
      const { rows } = await pool.query<{ audit: string; incidents: string }>(SQL_HOME_MARKER);
      const row = rows[0]!;
      return `${row.audit}/${row.incidents}`;
    },
    async incidents(): Promise<HomeIncident[]> {
      const { rows } = await pool.query(SQL_HOME_INCIDENTS, [HOME_INCIDENTS_MAX]);
      return rows.map((raw) => {
        const r = incidentRow.parse(raw);
        return {
          id: r.id,
          cluster: r.cluster,
          cause: r.cause,
          openedAt: r.opened_at,
          root: r.incident.root ?? null,
          error: r.incident.error ?? null,
          channel: r.channel,
          messageTs: r.message_ts,
        };
      });
    },
  };
}

export type HomeStore = ReturnType<typeof createHomeStore>;
