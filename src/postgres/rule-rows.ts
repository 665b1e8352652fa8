// Rule rows of the state database as pgsessions reads them: parsed (zod, never trusted), checked against the
// binding of their approval (src/domain/binding.ts), and what a tampered row leaves in the audit.
import type pg from 'pg';
import { z } from 'zod';
import { mismatchReason, ruleTampering, sameBinding, type Binder } from '../domain/binding.js';
import { RULE_STATUSES, type Rule, type RuleSpec } from '../domain/rules.js';
import type { StaleExecution } from '../domain/rule-service.js';
import type { AppendAuditIn } from './request-store.js';
import { quorumOf } from './rule-approvals-rows.js';
import { SQL_GET_RULE } from './rule-sql.js';
import { inTransaction } from './transaction.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * What every rule operation works with. reported: the tampering already audited by this process (row
 * content and stage), so that every look does not audit it again.
 */
export interface RuleDb {
  pool: pg.Pool;
  appendAuditIn: AppendAuditIn;
  binder: Binder;
  reported: Set<string>;
}

const specSchema = z.object({
  action: z.enum(['cancel', 'terminate']),
  cause: z.enum(['lock-queue-head', 'root-blocker', 'idle-in-transaction', 'active']),
  filters: z.object({
    application: z.string().optional(),
    user: z.string().optional(),
    database: z.string().optional(),
    queryId: z.string().optional(),
  }),
  thresholds: z.object({
    waitingSeconds: z.number().optional(),
    blocking: z.number().optional(),
    idleSeconds: z.number().optional(),
    runningSeconds: z.number().optional(),
  }),
  lifetimeSeconds: z.number(),
  maxExecutions: z.number(),
  dryRun: z.boolean(),
  reason: z.string(),
  alertFloorSeconds: z.number().optional(),
  advisoryLocks: z.boolean().optional(),
});
export const inFlightSchema = z.object({ id: z.string(), pid: z.number(), outcome: z.string().nullable() });
const lastSchema = z
  .object({ at: z.string(), pid: z.number(), query: z.string().nullable(), outcome: z.string() })
  .nullable();
const rowSchema = z.object({
  id: z.string(),
  cluster: z.string(),
  spec: specSchema,
  status: z.enum(RULE_STATUSES as [Rule['status'], ...Rule['status'][]]),
  proposer: z.string(),
  approver: z.string().nullable(),
  ended_by: z.string().nullable(),
  channel: z.string(),
  message_ts: z.string().nullable(),
  created_at: z.string(),
  proposal_expires_at: z.string(),
  expires_at: z.string().nullable(),
  used: z.number(),
  last_execution: lastSchema,
});

/** binder: which approval rows are genuine (only those are the rule's approvers). */
export function toRule(row: unknown, binder: Binder): Rule {
  const r = rowSchema.parse(row);
  return {
    ...quorumOf(binder, r.id, row as Record<string, unknown>),
    id: r.id,
    cluster: r.cluster,
    spec: r.spec as RuleSpec,
    status: r.status,
    proposer: r.proposer,
    approver: r.approver,
    endedBy: r.ended_by,
    channel: r.channel,
    messageTs: r.message_ts,
    createdAt: r.created_at,
    proposalExpiresAt: r.proposal_expires_at,
    expiresAt: r.expires_at,
    used: r.used,
    last: r.last_execution,
  };
}

/** The binding and approval time as stored with the row (src/domain/binding.ts). */
export const boundOf = (row: Record<string, unknown>) => ({
  binding: typeof row.binding === 'string' ? row.binding : null,
  approvedAt: typeof row.approved_at === 'string' ? row.approved_at : null,
});

/** Why an approved rule's row may not act: its binding does not match, or its count is past its sealed cap. Null when it may. */
export function whyNotBound(binder: Binder, rule: Rule, row: Record<string, unknown>): string | null {
  const { binding, approvedAt } = boundOf(row);
  const expected = binder.rule(rule, {
    approver: rule.approver ?? '',
    approvedAt: approvedAt ?? '',
    expiresAt: rule.expiresAt,
    approvers: rule.approvers,
  });
  if (!sameBinding(binding, expected)) return mismatchReason(binding, binder);
  if (rule.used > rule.spec.maxExecutions)
    return `used ${rule.used} is past the approved max:${rule.spec.maxExecutions}: the count was changed without the key`;
  return null;
}

/** Audits a rule that does not match its binding, once per row content, stage and process. */
export async function reportTampering(
  db: RuleDb,
  rule: Rule,
  stage: 'approval' | 'rule_claim',
  reason: string,
  row: Record<string, unknown>,
): Promise<void> {
  const seen = `${rule.id}|${stage}|${JSON.stringify(row)}`;
  if (db.reported.has(seen)) return;
  await inTransaction(db.pool, (client) => db.appendAuditIn(client, ruleTampering(rule, stage, reason)));
  db.reported.add(seen);
}

/** One rule, on the pool or inside a transaction. */
export async function getIn(client: pg.Pool | pg.PoolClient, binder: Binder, id: string): Promise<Rule | null> {
  const { rows } = await client.query(SQL_GET_RULE, [id]);
  return rows[0] ? toRule(rows[0], binder) : null;
}

const staleRow = z.object({
  id: z.string(),
  rule_id: z.string(),
  dry_run: z.boolean(),
  pid: z.number().int(),
  backend_start: z.string(),
  query_start: z.string().nullable(),
  target: z.unknown(),
  claimed_at: z.string(),
  cluster: z.string(),
  action: z.enum(['cancel', 'terminate']),
});

/** What the claim recorded of the session, for the audit; anything that is not a string reads as unknown. */
const described = z
  .object({
    xactStart: z.string().nullable().catch(null),
    user: z.string().nullable().catch(null),
    database: z.string().nullable().catch(null),
    application: z.string().nullable().catch(null),
    client: z.string().nullable().catch(null),
    state: z.string().nullable().catch(null),
    query: z.string().nullable().catch(null),
    incident: z.string().catch(''),
  })
  .catch({
    xactStart: null,
    user: null,
    database: null,
    application: null,
    client: null,
    state: null,
    query: null,
    incident: '',
  });

export function toStale(row: unknown): StaleExecution {
  const r = staleRow.parse(row);
  const { incident, ...about } = described.parse(r.target);
  return {
    executionId: r.id,
    ruleId: r.rule_id,
    cluster: r.cluster,
    action: r.action,
    dryRun: r.dry_run,
    claimedAt: r.claimed_at,
    // The identity from the typed columns the claim's unique key is made of, never from the jsonb.
    target: {
      pid: r.pid,
      backendStart: r.backend_start,
      queryStart: r.query_start,
      backendType: 'client backend',
      ...about,
    },
    incident,
  };
}
