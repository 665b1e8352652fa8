// The outbox in PostgreSQL: the head entry is posted while its row is locked, so one instance at a time
// delivers, in seq order; a failure is recorded and retried, never dropped.
import type pg from 'pg';
import type { DeliverResult, OutboxPort } from '../domain/state-ports.js';
import {
  OUTBOX_LOCK_KEY,
  SQL_OUTBOX_BACKLOG,
  SQL_OUTBOX_DELIVERED,
  SQL_OUTBOX_FAILED,
  SQL_OUTBOX_HEAD,
  SQL_OUTBOX_STATUS,
  SQL_OUTBOX_TRY_LOCK,
} from './outbox-sql.js';
import { toAuditEntry } from './state-rows.js';
import { inTransaction } from './transaction.js';

const MAX_ERROR_TEXT = 1000;

/** 1s, 2s, 4s … capped at 5 minutes. */
export function defaultRetryDelaySeconds(_error: unknown, attempts: number): number {
  return Math.min(300, 2 ** Math.max(0, attempts - 1));
}

export function describeError(error: unknown): string {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : undefined;
  const message = error instanceof Error ? error.message : String(error);
  const text = typeof code === 'string' && !message.includes(code) ? `${code}: ${message}` : message;
  return text.length > MAX_ERROR_TEXT ? `${text.slice(0, MAX_ERROR_TEXT - 1)}…` : text;
}

/** What the outbox says about one entry's delivery. */
export interface DeliveryStatus {
  seq: number;
  deliveredAt: string | null;
  attempts: number;
  lastError: string | null;
}

export function createOutboxStore(pool: pg.Pool) {
  const port = {
    async deliverNext(post, options = {}) {
      const retryDelaySeconds = options.retryDelaySeconds ?? defaultRetryDelaySeconds;
      return inTransaction(
        pool,
        async (client): Promise<DeliverResult> => {
          const lock = await client.query<{ locked: boolean }>(SQL_OUTBOX_TRY_LOCK, [OUTBOX_LOCK_KEY]);
          if (lock.rows[0]?.locked !== true) return { status: 'busy' };
          const { rows } = await client.query(SQL_OUTBOX_HEAD);
          const row = rows[0] as Record<string, unknown> | undefined;
          if (!row) return { status: 'idle' };
          const entry = toAuditEntry(row);
          if (row.due !== true)
            return { status: 'waiting', seq: entry.seq, nextAttemptAt: String(row.next_attempt_at) };
          try {
            await post(entry);
          } catch (error) {
            const attempts = Number(row.attempts) + 1;
            const retryAfterSeconds = Math.max(0, retryDelaySeconds(error, attempts));
            await client.query(SQL_OUTBOX_FAILED, [entry.seq, describeError(error), retryAfterSeconds]);
            return { status: 'failed', seq: entry.seq, attempts, error, retryAfterSeconds };
          }
          const done = await client.query<{ attempts: number }>(SQL_OUTBOX_DELIVERED, [entry.seq]);
          return { status: 'delivered', seq: entry.seq, attempts: done.rows[0]?.attempts ?? Number(row.attempts) + 1 };
          // The post to Slack happens inside: never on the reserved connection (delivery can wait; requests cannot).
        },
        { lifeline: false },
      );
    },

    async outboxBacklog() {
      const { rows } = await pool.query<{ backlog: number }>(SQL_OUTBOX_BACKLOG);
      return rows[0]?.backlog ?? 0;
    },
  } satisfies OutboxPort;

  return {
    ...port,
    /** Delivery state of the entries with afterSeq < seq <= upToSeq. */
    async deliveryStatus(afterSeq: number, upToSeq: number): Promise<Map<number, DeliveryStatus>> {
      const { rows } = await pool.query<{
        seq: string;
        delivered_at: string | null;
        attempts: number;
        last_error: string | null;
      }>(SQL_OUTBOX_STATUS, [afterSeq, upToSeq]);
      return new Map(
        rows.map((r) => [
          Number(r.seq),
          { seq: Number(r.seq), deliveredAt: r.delivered_at, attempts: r.attempts, lastError: r.last_error },
        ]),
      );
    },
  };
}

export type OutboxStore = ReturnType<typeof createOutboxStore>;
