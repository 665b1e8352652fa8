// The incidents of the watcher in the state database: opened, refreshed and cleared by the cluster's one
// watcher; their alert messages claimed before posting so a leader change never posts one twice. Rows are
// checked at this boundary with zod.
import type pg from 'pg';
import { z } from 'zod';
import type { ExecutedOn, IncidentStorePort, RuleExecutedOn, StormRequest, WatchSummaryRow } from '../domain/ports.js';
import {
  INCIDENT_CAUSES,
  REOPEN_WITHIN_SECONDS,
  type ClearReason,
  type Incident,
  type LiveIncident,
} from '../domain/watch.js';
import {
  SQL_CLAIM_POST,
  SQL_CLEAR,
  SQL_EXECUTED_ON,
  SQL_STORM_REQUEST,
  SQL_GET,
  SQL_LIVE,
  SQL_OPEN,
  SQL_POST_FAILED,
  SQL_POSTED,
  SQL_REFRESH,
  SQL_RULE_EXECUTED_ON,
  SQL_SHOWN,
  SQL_SNOOZE,
  SQL_SUMMARY,
  SQL_SUMMARY_FAILED,
  SQL_SUMMARY_SHOWN,
  SQL_UPDATE_FAILED,
} from './incident-sql.js';

const liveRow = z.object({
  id: z.string(),
  key: z.string(),
  cluster: z.string(),
  cause: z.enum(INCIDENT_CAUSES),
  status: z.enum(['open', 'cleared']),
  incident: z.record(z.string(), z.unknown()),
  opened_at: z.string(),
  cleared_at: z.string().nullable(),
  clear_reason: z.record(z.string(), z.unknown()).nullable(),
  channel: z.string(),
  message_ts: z.string().nullable(),
  version: z.number().int(),
  shown_version: z.number().int(),
  shown_status: z.enum(['open', 'cleared']).nullable(),
  snoozed_until: z.string().nullable(),
  snoozed_by: z.string().nullable(),
  snoozed: z.boolean(),
  post_due: z.boolean(),
  update_due: z.boolean(),
});

const ruleExecutedRow = z.object({
  rule_id: z.string(),
  outcome: z.enum(['cancelled', 'terminated']),
  proposer: z.string(),
  approver: z.string().nullable(),
});

function toLive(row: unknown): LiveIncident {
  const r = liveRow.parse(row);
  return {
    id: r.id,
    key: r.key,
    cluster: r.cluster,
    cause: r.cause,
    status: r.status,
    incident: r.incident as unknown as Incident,
    openedAt: r.opened_at,
    clearedAt: r.cleared_at,
    clearReason: r.clear_reason as ClearReason | null,
    channel: r.channel,
    messageTs: r.message_ts,
    version: r.version,
    shownVersion: r.shown_version,
    shownStatus: r.shown_status,
    snoozedUntil: r.snoozed_until,
    snoozedBy: r.snoozed_by,
    snoozed: r.snoozed,
    postDue: r.post_due,
    updateDue: r.update_due,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

async function rowsOf(pool: pg.Pool, text: string, values: unknown[]): Promise<Record<string, unknown>[]> {
  return (await pool.query(text, values)).rows as Record<string, unknown>[];
}

/** The approved request that cancelled or terminated this session (or is signalling it now); null if none. */
async function executedOn(
  pool: pg.Pool,
  cluster: string,
  pid: number,
  backendStart: string,
): Promise<ExecutedOn | null> {
  const [row] = await rowsOf(pool, SQL_EXECUTED_ON, [cluster, pid, backendStart]);
  if (!row) return null;
  const result = row.result as { outcomes?: Array<{ pid: number; outcome: string }> } | null;
  // Still signalling: the outcome is not recorded yet, the action says what it is doing.
  const outcome =
    row.status === 'approved'
      ? String(row.action).startsWith('cancel')
        ? 'cancelled'
        : 'terminated'
      : result?.outcomes?.find((o) => o.pid === pid)?.outcome;
  if (outcome !== 'cancelled' && outcome !== 'terminated') return null;
  const target = (row.targets as Array<{ pid: number; queryStart?: string | null }>).find((t) => t.pid === pid);
  return {
    requestId: String(row.id),
    approver: (row.decided_by as string | null) ?? null,
    outcome,
    queryStart: target?.queryStart ?? null,
  };
}

async function ruleExecutedOn(
  pool: pg.Pool,
  cluster: string,
  pid: number,
  backendStart: string,
  queryStart: string | null,
): Promise<RuleExecutedOn | null> {
  const [row] = await rowsOf(pool, SQL_RULE_EXECUTED_ON, [cluster, pid, backendStart, queryStart]);
  if (!row) return null;
  const r = ruleExecutedRow.parse(row);
  return { ruleId: r.rule_id, outcome: r.outcome, proposer: r.proposer, approver: r.approver };
}

async function stormRequestOn(
  pool: pg.Pool,
  cluster: string,
  members: Incident['members'],
): Promise<StormRequest | null> {
  if (members.length === 0) return null;
  const [row] = await rowsOf(pool, SQL_STORM_REQUEST, [
    cluster,
    JSON.stringify(members.map((m) => ({ pid: m.pid, backendStart: m.backendStart, queryStart: m.queryStart }))),
  ]);
  if (!row) return null;
  if (row.status === 'approved') return { executing: true, requestId: String(row.id) };
  const result = row.result as { outcomes?: Array<{ outcome: string }> } | null;
  return {
    executing: false,
    requestId: String(row.id),
    approver: (row.decided_by as string | null) ?? null,
    cancelled: (result?.outcomes ?? []).filter((o) => o.outcome === 'cancelled').length,
    targets: (row.targets as unknown[]).length,
  };
}

async function summary(pool: pg.Pool, cluster: string, gap: number): Promise<WatchSummaryRow | null> {
  const [row] = await rowsOf(pool, SQL_SUMMARY, [cluster, gap]);
  if (!row) return null;
  return {
    messageTs: (row.message_ts as string | null) ?? null,
    body: String(row.body ?? ''),
    postDue: row.post_due === true,
    updateDue: row.update_due === true,
  };
}

export function createIncidentStore(pool: pg.Pool): IncidentStorePort {
  const run = (text: string, values: unknown[]) => rowsOf(pool, text, values);
  return {
    async live(cluster, gap) {
      return (await run(SQL_LIVE, [cluster, gap])).map(toLive);
    },
    async get(id) {
      if (!UUID.test(id)) return null;
      const [row] = await run(SQL_GET, [id]);
      return row ? toLive(row) : null;
    },
    async open(incident, channel, fence) {
      if (incident.cluster !== fence.cluster) return;
      await run(SQL_OPEN, [
        incident.key,
        incident.cluster,
        incident.cause,
        JSON.stringify(incident),
        channel,
        REOPEN_WITHIN_SECONDS,
        fence.token,
      ]);
    },
    async refresh(id, incident, fence) {
      await run(SQL_REFRESH, [id, JSON.stringify(incident), fence.cluster, fence.token]);
    },
    async clear(id, reason, fence) {
      await run(SQL_CLEAR, [id, JSON.stringify(reason), fence.cluster, fence.token]);
    },
    async claimPost(id, fence) {
      const [row] = await run(SQL_CLAIM_POST, [id, fence.cluster, fence.token]);
      return row ? { version: Number(row.version) } : null;
    },
    async posted(id, ts, version, status) {
      await run(SQL_POSTED, [id, ts, version, status]);
    },
    async postFailed(id, seconds) {
      await run(SQL_POST_FAILED, [id, seconds]);
    },
    async shown(id, version, status) {
      await run(SQL_SHOWN, [id, version, status]);
    },
    async updateFailed(id, seconds) {
      await run(SQL_UPDATE_FAILED, [id, seconds]);
    },
    async snooze(id, minutes, user) {
      if (!UUID.test(id)) return null;
      const [row] = await run(SQL_SNOOZE, [id, minutes, user]);
      return row ? toLive(row) : null;
    },
    executedOn: (cluster, pid, backendStart) => executedOn(pool, cluster, pid, backendStart),
    ruleExecutedOn: (cluster, pid, backendStart, queryStart) =>
      ruleExecutedOn(pool, cluster, pid, backendStart, queryStart),
    stormRequestOn: (cluster, members) => stormRequestOn(pool, cluster, members),
    summary: (cluster, gap) => summary(pool, cluster, gap),
    async summaryShown(cluster, channel, ts, body) {
      await run(SQL_SUMMARY_SHOWN, [cluster, channel, ts, body]);
    },
    async summaryFailed(cluster, channel, seconds) {
      await run(SQL_SUMMARY_FAILED, [cluster, channel, seconds]);
    },
  };
}
