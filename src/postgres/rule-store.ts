// Standing approvals in the state database: each decision is one conditional UPDATE written with its audit
// entry in one transaction (rule-sql.ts); each execution is claimed and counted before its signal.
import type pg from 'pg';
import { z } from 'zod';
import type { AuditEntryInput } from '../domain/audit.js';
import { createBinder, mismatchReason, ruleTampering, sameBinding, type Binder } from '../domain/binding.js';
import { ruleSummary, RULE_STATUSES, type Rule, type RuleLastExecution, type RuleSpec } from '../domain/rules.js';
import type { RuleDecision, RuleStorePort, StaleExecution } from '../domain/rule-service.js';
import { NotReserved } from '../domain/errors.js';
import type { AppendAuditIn } from './request-store.js';
import {
  SQL_ACTIVE_RULES,
  SQL_ANY_ACTIVE_RULE,
  SQL_APPROVE_RULE,
  SQL_CLAIM_EXECUTION,
  SQL_END_PROPOSAL,
  SQL_EXECUTION_RULE,
  SQL_EXHAUST_RULE,
  SQL_EXECUTIONS_IN_FLIGHT_AT_END,
  SQL_EXPIRE_RULES,
  SQL_FINISH_EXECUTION,
  SQL_GET_RULE,
  SQL_INSERT_RULE,
  SQL_INTERRUPT_EXECUTION,
  SQL_LIVE_RULES,
  SQL_LOCK_RULE,
  SQL_LOCK_RULE_ROW,
  SQL_RESERVE_EXECUTION,
  SQL_REVOKE_RULE,
  SQL_SEAL_RULE,
  SQL_SET_RULE_MESSAGE,
  SQL_SETTLE_EXECUTION,
  SQL_STALE_EXECUTIONS,
} from './rule-sql.js';
import { countedIn } from './rule-count.js';
import { inTransaction } from './transaction.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

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
const inFlightSchema = z.object({ id: z.string(), pid: z.number(), outcome: z.string().nullable() });
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

export function toRule(row: unknown): Rule {
  const r = rowSchema.parse(row);
  return {
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
const boundOf = (row: Record<string, unknown>) => ({
  binding: typeof row.binding === 'string' ? row.binding : null,
  approvedAt: typeof row.approved_at === 'string' ? row.approved_at : null,
});

/** Why an approved rule's row may not act: its binding does not match, or its count is past its sealed cap. Null when it may. */
function whyNotBound(binder: Binder, rule: Rule, row: Record<string, unknown>): string | null {
  const { binding, approvedAt } = boundOf(row);
  const expected = binder.rule(rule, {
    approver: rule.approver ?? '',
    approvedAt: approvedAt ?? '',
    expiresAt: rule.expiresAt,
  });
  if (!sameBinding(binding, expected)) return mismatchReason(binding, binder);
  if (rule.used > rule.spec.maxExecutions)
    return `used ${rule.used} is past the approved max:${rule.spec.maxExecutions}: the count was changed without the key`;
  return null;
}

/**
 * binder: seals each proposal, binds each approval, and checks the binding of every rule the watcher is about
 * to act under (active) and of the row every claim reserves a slot on (claim). A rule that does not match is
 * never acted on, and audited as `tampering_detected` (once per row content and process: every look sees it).
 */
export function createRuleStore(
  pool: pg.Pool,
  appendAuditIn: AppendAuditIn,
  binder: Binder = createBinder(null),
): RuleStorePort {
  const reported = new Set<string>();
  async function reportTampering(
    rule: Rule,
    stage: 'approval' | 'rule_claim',
    reason: string,
    row: Record<string, unknown>,
  ): Promise<void> {
    const seen = `${rule.id}|${stage}|${JSON.stringify(row)}`;
    if (reported.has(seen)) return;
    await inTransaction(pool, (client) => appendAuditIn(client, ruleTampering(rule, stage, reason)));
    reported.add(seen);
  }

  async function get(id: string): Promise<Rule | null> {
    return UUID.test(id) ? getIn(pool, id) : null;
  }

  async function decide(sql: string, params: unknown[], audit: (rule: Rule) => AuditEntryInput): Promise<Rule | null> {
    if (!UUID.test(String(params[0]))) return null;
    return inTransaction(pool, async (client) => {
      const { rows } = await client.query(sql, params);
      if (rows.length === 0) return null;
      const rule = toRule(rows[0]);
      await appendAuditIn(client, audit(rule));
      return rule;
    });
  }

  /** Why a decision did not apply, read after the fact. */
  async function whyNot(id: string, user: string): Promise<RuleDecision> {
    const rule = await get(id);
    if (!rule) return { ok: false, code: 'not_found' };
    if (rule.status === 'expired' || (rule.status === 'proposed' && Date.parse(rule.proposalExpiresAt) <= Date.now()))
      return { ok: false, code: 'expired', rule };
    if (rule.status === 'proposed' && rule.proposer === user) return { ok: false, code: 'self_approval', rule };
    return { ok: false, code: 'already_decided', rule };
  }

  const ended = (rule: Rule | null): RuleDecision =>
    rule ? { ok: true, rule } : { ok: false, code: 'already_decided' };

  return {
    get,
    async create(input) {
      return inTransaction(pool, async (client) => {
        const s = input.spec;
        const { rows } = await client.query(SQL_INSERT_RULE, [
          input.cluster,
          JSON.stringify(s),
          s.action,
          s.cause,
          s.dryRun,
          s.reason,
          input.proposer,
          input.channel,
          input.proposalTtlSeconds,
          s.lifetimeSeconds,
          s.maxExecutions,
        ]);
        const rule = toRule(rows[0]);
        await client.query(SQL_SEAL_RULE, [rule.id, binder.rule(rule, null)]);
        await appendAuditIn(client, {
          event: 'rule_proposed',
          actor: rule.proposer,
          cluster: rule.cluster,
          details: ruleSummary(rule),
        });
        return rule;
      });
    },
    async setMessageTs(id, ts) {
      await pool.query(SQL_SET_RULE_MESSAGE, [id, ts]);
    },
    async approve(id, approver) {
      const decided = UUID.test(id) ? await approveIn(id, approver) : null;
      if (decided?.tampered) return { ok: false, code: 'tampered', rule: decided.tampered };
      return decided?.approved ? { ok: true, rule: decided.approved } : whyNot(id, approver);
    },
    async deny(id, user) {
      const rule = await decide(SQL_END_PROPOSAL, [id, user, 'denied'], (r) => ({
        event: 'rule_denied',
        actor: user,
        cluster: r.cluster,
        details: { ...ruleSummary(r), deniedBy: user },
      }));
      return rule ? { ok: true, rule } : whyNot(id, '');
    },
    async withdraw(id, user) {
      const rule = await decide(SQL_END_PROPOSAL, [id, user, 'withdrawn'], (r) => ({
        event: 'rule_withdrawn',
        actor: user,
        cluster: r.cluster,
        details: { ...ruleSummary(r), withdrawnBy: user },
      }));
      return ended(rule);
    },
    async revoke(id, user) {
      const rule = await decide(SQL_REVOKE_RULE, [id, user], (r) => ({
        event: 'rule_revoked',
        actor: user,
        cluster: r.cluster,
        details: { ...ruleSummary(r), revokedBy: user },
      }));
      return rule
        ? { ok: true, rule }
        : (await get(id))
          ? { ok: false, code: 'already_decided' }
          : { ok: false, code: 'not_found' };
    },
    async expireDue() {
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query(SQL_EXPIRE_RULES);
        const rules = rows.map(toRule);
        for (const r of rules)
          await appendAuditIn(client, {
            event: 'rule_ended',
            cluster: r.cluster,
            details: { ...ruleSummary(r), why: 'expired' },
          });
        return rules;
      });
    },
    async live(cluster) {
      const { rows } = await pool.query(SQL_LIVE_RULES, [cluster ?? null]);
      return rows.map(toRule);
    },
    async active(cluster) {
      const { rows } = await pool.query(SQL_ACTIVE_RULES, [cluster]);
      const bound: Rule[] = [];
      for (const row of rows as Array<Record<string, unknown>>) {
        const rule = toRule(row);
        const why = whyNotBound(binder, rule, row);
        if (why === null) bound.push(rule);
        else await reportTampering(rule, 'rule_claim', why, row);
      }
      return bound;
    },
    async anyActive(cluster) {
      const { rows } = await pool.query<{ active: boolean }>(SQL_ANY_ACTIVE_RULE, [cluster]);
      return rows[0]?.active === true;
    },
    async inFlightAtEnd(id) {
      if (!UUID.test(id)) return [];
      const { rows } = await pool.query(SQL_EXECUTIONS_IN_FLIGHT_AT_END, [id]);
      return rows.map((row) => inFlightSchema.parse(row));
    },
    async claim(rule, target, last, incident = '', fence) {
      if (fence && fence.cluster !== rule.cluster) return null;
      return inTransaction(pool, async (client) => {
        await client.query(SQL_LOCK_RULE_ROW, [rule.id]);
        const claimed = await client.query<{ id: string }>(SQL_CLAIM_EXECUTION, [
          rule.id,
          target.pid,
          target.backendStart,
          rule.spec.action === 'cancel' ? target.queryStart : '-infinity',
          rule.spec.dryRun,
          // The incident key rides along so that a reconciliation after a crash can name it in the audit.
          JSON.stringify({ ...target, incident }),
          rule.cluster,
          fence?.token ?? null,
        ]);
        const executionId = claimed.rows[0]?.id;
        if (!executionId) return null;
        const reserved = await client.query(SQL_RESERVE_EXECUTION, [
          rule.id,
          JSON.stringify(last),
          await countedIn(client, binder, rule.id),
        ]);
        // Revoked, expired or every slot taken since it was read: nothing is claimed (the INSERT rolls back too).
        if (reserved.rows.length === 0) throw new NotReserved();
        // The row the slot was taken on must still be the rule that was approved (and matched), else no claim.
        const now = toRule(reserved.rows[0]);
        const why =
          whyNotBound(binder, now, reserved.rows[0]) ??
          (sameDefinition(now, rule) ? null : 'the rule changed between its read and its claim');
        if (why !== null) throw new NotReserved({ rule: now, why, row: reserved.rows[0] });
        return { executionId, rule: now };
      }).catch(async (error: unknown) => {
        if (!(error instanceof NotReserved)) throw error;
        if (error.tampered)
          await reportTampering(error.tampered.rule, 'rule_claim', error.tampered.why, error.tampered.row);
        return null;
      });
    },
    async finish(executionId, outcome, last, audit) {
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ rule_id: string }>(SQL_FINISH_EXECUTION, [
          executionId,
          outcome,
          binder.outcome({ executionId, outcome }),
        ]);
        const ruleId = rows[0]?.rule_id;
        if (!ruleId) {
          const { rows: known } = await client.query<{
            rule_id: string;
            outcome: string | null;
            outcome_binding: string | null;
          }>(SQL_EXECUTION_RULE, [executionId]);
          const rule = known[0] ? await getIn(client, known[0].rule_id) : null;
          if (!rule) throw new Error(`rule execution ${executionId} does not exist`);
          // Reconciled as interrupted while its signal was still out (a stall longer than interruptedAfter):
          // the cap was settled then, and stays so; what really happened is still added to the audit trail.
          if (known[0]?.outcome === 'interrupted') await appendAuditIn(client, audit(rule));
          // No MAC: someone else wrote it while the signal was out (a forged give-back still counts, rule-count.ts):
          // said, and what really happened audited. With the MAC it is a late replica's second finish.
          else if (
            known[0]?.outcome &&
            !sameBinding(known[0].outcome_binding, binder.outcome({ executionId, outcome: known[0].outcome }))
          ) {
            await appendAuditIn(
              client,
              ruleTampering(
                rule,
                'rule_claim',
                `execution ${executionId} had an outcome before pgsessions recorded ${outcome}: written without the app`,
              ),
            );
            await appendAuditIn(client, audit(rule));
          }
          return rule;
        }
        return settle(client, ruleId, last, audit);
      });
    },
    async stale(olderThanSeconds) {
      const { rows } = await pool.query(SQL_STALE_EXECUTIONS, [olderThanSeconds]);
      return rows.map(toStale);
    },
    async interrupt(executionId, olderThanSeconds, last, audit) {
      return inTransaction(pool, async (client) => {
        const { rows } = await client.query<{ rule_id: string }>(SQL_INTERRUPT_EXECUTION, [
          executionId,
          olderThanSeconds,
        ]);
        const ruleId = rows[0]?.rule_id;
        // Another replica reconciled it first, or its replica finished it after all.
        if (!ruleId) return null;
        return settle(client, ruleId, last, audit);
      });
    },
  };

  /**
   * The approval, in one transaction: the proposal locked, its seal checked against what it says now (its
   * full definition, proposer), then the conditional UPDATE that writes the approval and its binding. The
   * lifetime comes from the sealed definition, not from a column.
   */
  async function approveIn(id: string, approver: string): Promise<{ approved?: Rule; tampered?: Rule } | null> {
    const current = await get(id);
    if (current?.status !== 'proposed') return null;
    return inTransaction(pool, async (client) => {
      const { rows } = await client.query(SQL_LOCK_RULE, [id, current.spec.lifetimeSeconds]);
      const row = rows[0] as Record<string, unknown> | undefined;
      if (!row) return null;
      const asked = toRule(row);
      // Not approvable anyway (decided, expired, self-approval): whyNot says why; only an approval is checked.
      if (
        asked.status !== 'proposed' ||
        Date.parse(asked.proposalExpiresAt) <= Date.now() ||
        asked.proposer === approver
      )
        return null;
      if (
        !sameBinding(boundOf(row).binding, binder.rule(asked, null)) ||
        JSON.stringify(asked.spec) !== JSON.stringify(current.spec)
      ) {
        await appendAuditIn(client, ruleTampering(asked, 'approval', mismatchReason(boundOf(row).binding, binder)));
        return { tampered: asked };
      }
      const binding = binder.rule(asked, {
        approver,
        approvedAt: String(row.now_at),
        expiresAt: String(row.expires_if_approved),
      });
      const updated = await client.query(SQL_APPROVE_RULE, [id, approver, asked.spec.lifetimeSeconds, binding]);
      if (updated.rows.length === 0) return null;
      const r = toRule(updated.rows[0]);
      await appendAuditIn(client, {
        event: 'rule_approved',
        actor: approver,
        cluster: r.cluster,
        details: { ...ruleSummary(r), approver, expiresAt: r.expiresAt ?? '', binding },
      });
      return { approved: r };
    });
  }

  /** One rule, on the pool or inside a transaction. */
  async function getIn(client: pg.Pool | pg.PoolClient, id: string): Promise<Rule | null> {
    const { rows } = await client.query(SQL_GET_RULE, [id]);
    return rows[0] ? toRule(rows[0]) : null;
  }

  /**
   * An execution's outcome settles its rule: the last execution shown, its count read again (a slot given
   * back when nothing was signalled), the execution audited, and the rule ended at its cap once nothing of it
   * is in flight — its row lock taken first, so two replicas finishing at once cannot both miss the end.
   */
  async function settle(
    client: pg.PoolClient,
    ruleId: string,
    last: RuleLastExecution,
    audit: (rule: Rule) => AuditEntryInput,
  ): Promise<Rule> {
    await client.query(SQL_LOCK_RULE_ROW, [ruleId]);
    const counted = await countedIn(client, binder, ruleId);
    const { rows } = await client.query(SQL_SETTLE_EXECUTION, [ruleId, JSON.stringify(last), counted]);
    const settled = toRule(rows[0]);
    await appendAuditIn(client, audit(settled));
    const { rows: ended } = await client.query(SQL_EXHAUST_RULE, [ruleId, counted]);
    if (ended.length === 0) return settled;
    const rule = toRule(ended[0]);
    await appendAuditIn(client, {
      event: 'rule_ended',
      cluster: rule.cluster,
      details: { ...ruleSummary(rule), why: 'exhausted' },
    });
    return rule;
  }
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

function toStale(row: unknown): StaleExecution {
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

/** The same rule, as approved: its definition, cluster, proposer, approver and expiry. */
function sameDefinition(a: Rule, b: Rule): boolean {
  return (
    a.id === b.id &&
    a.cluster === b.cluster &&
    a.proposer === b.proposer &&
    a.approver === b.approver &&
    a.expiresAt === b.expiresAt &&
    JSON.stringify(a.spec) === JSON.stringify(b.spec)
  );
}
