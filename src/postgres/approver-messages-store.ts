// The record of direct messages to approvers (migration 017): claimed before sending, so that two replicas
// never tell one person twice about the same request or rule; then where each message went, for updates.
import type pg from 'pg';
import type { ApproverMessage, ApproverMessagesStore } from '../domain/approver-notices.js';
import { queryRows } from './pools.js';

const SQL_CLAIM = `
  INSERT INTO pgsessions.approver_messages (subject_kind, subject_id, user_id, tier)
  VALUES ($1, $2, $3, $4)
  ON CONFLICT (subject_kind, subject_id, user_id) DO NOTHING
  RETURNING user_id`;

const SQL_SENT = `
  UPDATE pgsessions.approver_messages SET channel = $4, ts = $5
  WHERE subject_kind = $1 AND subject_id = $2 AND user_id = $3 AND channel IS NULL`;

const SQL_RELEASE = `
  DELETE FROM pgsessions.approver_messages
  WHERE subject_kind = $1 AND subject_id = $2 AND user_id = $3 AND channel IS NULL`;

const SQL_LIST = `
  SELECT user_id, channel, ts, tier FROM pgsessions.approver_messages
  WHERE subject_kind = $1 AND subject_id = $2 AND channel IS NOT NULL
  ORDER BY sent_at, user_id`;

export function createApproverMessagesStore(pool: pg.Pool): ApproverMessagesStore {
  return {
    async claim(subject, user, tier) {
      const rows = await queryRows(pool, SQL_CLAIM, [subject.kind, subject.id, user, tier]);
      return rows.length === 1;
    },
    async sent(subject, user, channel, ts) {
      await queryRows(pool, SQL_SENT, [subject.kind, subject.id, user, channel, ts]);
    },
    async release(subject, user) {
      await queryRows(pool, SQL_RELEASE, [subject.kind, subject.id, user]);
    },
    async list(subject) {
      const rows = await queryRows(pool, SQL_LIST, [subject.kind, subject.id]);
      return rows.map(
        (row): ApproverMessage => ({
          user: String(row.user_id),
          channel: String(row.channel),
          ts: String(row.ts),
          tier: Number(row.tier),
        }),
      );
    },
  };
}
