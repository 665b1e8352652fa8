// Escalation in the state database (migration 018): the waiting subjects, and the claim of one step, written
// with its `escalated` audit entry in one transaction that re-checks, on the locked row, that the subject
// still waits and that its seal holds (as an approval does, request-store.ts approveIn): a row the runtime
// role wrote without the key makes pgsessions message nobody.
import type pg from 'pg';
import { z } from 'zod';
import type { NoticeSubject } from '../domain/approver-notices.js';
import { type Binder, sameBinding } from '../domain/binding.js';
import type { ClaimResult, Due, EscalationStorePort, Waiting } from '../domain/escalation.js';
import type { AppendAuditIn } from './request-store.js';
import { SQL_CLAIM, SQL_LOCK_WAITING_REQUEST, SQL_LOCK_WAITING_RULE, SQL_WAITING } from './escalation-sql.js';
import { toRule } from './rule-rows.js';
import { toRequest } from './state-rows.js';
import { inTransaction } from './transaction.js';

const waitingRow = z.object({
  kind: z.enum(['request', 'rule']),
  id: z.string(),
  cluster: z.string(),
  age_seconds: z.number(),
});

const storedBinding = (row: Record<string, unknown>): string | null =>
  typeof row.binding === 'string' ? row.binding : null;

/** The locked row as a subject, when its seal (the binding made when it was asked) holds; null otherwise. */
function sealedSubject(kind: Waiting['kind'], row: Record<string, unknown>, binder: Binder): NoticeSubject | null {
  try {
    if (kind === 'request') {
      const request = toRequest(row);
      return sameBinding(storedBinding(row), binder.request(request, null)) ? { kind, request } : null;
    }
    const rule = toRule(row);
    return sameBinding(storedBinding(row), binder.rule(rule, null)) ? { kind, rule } : null;
  } catch {
    // A row that does not even parse was not written by pgsessions.
    return null;
  }
}

export function createEscalationStore(
  pool: pg.Pool,
  appendAuditIn: AppendAuditIn,
  binder: Binder,
): EscalationStorePort {
  return {
    async waiting(tier) {
      const { rows } = await pool.query(SQL_WAITING, [tier]);
      return rows.map((row) => {
        const r = waitingRow.parse(row);
        return { kind: r.kind, id: r.id, cluster: r.cluster, ageSeconds: r.age_seconds };
      });
    },
    async claim(due: Due, replica, entry): Promise<ClaimResult> {
      const { kind, id } = due.waiting;
      return inTransaction(pool, async (client) => {
        const lock = kind === 'request' ? SQL_LOCK_WAITING_REQUEST : SQL_LOCK_WAITING_RULE;
        const { rows } = await client.query(lock, [id, due.escalation.afterSeconds]);
        const row = rows[0] as Record<string, unknown> | undefined;
        if (!row) return { skipped: 'decided' };
        const subject = sealedSubject(kind, row, binder);
        if (!subject) return { skipped: 'unsealed' };
        const claimed = await client.query(SQL_CLAIM, [kind, id, due.tier, replica]);
        if (claimed.rows.length === 0) return { skipped: 'taken' };
        await appendAuditIn(client, entry(subject));
        return { claimed: subject };
      });
    },
  };
}
