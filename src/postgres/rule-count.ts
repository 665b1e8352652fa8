// What counts against a rule's cap (migration 009): each of its executions, less those whose outcome gave the
// slot back (nothing was signalled) and carries the app's MAC. Never rules.used, which the runtime role may
// write: an outcome that role wrote, a row it deleted (refused while the rule lives) or a reset used lowers
// nothing.
import type pg from 'pg';
import { z } from 'zod';
import { sameBinding, type Binder } from '../domain/binding.js';
import { givesSlotBack, type RuleExecutionOutcome } from '../domain/rules.js';
import { SQL_RULE_EXECUTION_OUTCOMES } from './rule-sql.js';

const outcomeRow = z.object({ id: z.string(), outcome: z.string().nullable(), outcome_binding: z.string().nullable() });
export type ExecutionOutcomeRow = z.infer<typeof outcomeRow>;

/** A slot given back: an outcome that signalled nothing, recorded by the app (its MAC matches). */
export function givenBack(binder: Binder, e: ExecutionOutcomeRow): boolean {
  if (e.outcome === null || !givesSlotBack(e.outcome as RuleExecutionOutcome)) return false;
  return sameBinding(e.outcome_binding, binder.outcome({ executionId: e.id, outcome: e.outcome }));
}

/**
 * The rule's count now. Call it after taking the rule's row lock (SQL_LOCK_RULE_ROW), as a statement of its
 * own: its snapshot then sees every other claim and outcome of the rule committed.
 */
export async function countedIn(client: pg.PoolClient, binder: Binder, ruleId: string): Promise<number> {
  const { rows } = await client.query(SQL_RULE_EXECUTION_OUTCOMES, [ruleId]);
  return rows.map((row) => outcomeRow.parse(row)).filter((e) => !givenBack(binder, e)).length;
}
