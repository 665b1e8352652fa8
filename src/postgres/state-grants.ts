// What the runtime role (the one in STATE_DATABASE_URL) may do in the state schema, in one list: `npm run
// migrate` grants exactly this and revokes anything else. No ownership, and on the audit log only INSERT and
// SELECT: a runtime role cannot disable its triggers, update, delete or truncate it. On requests and rules only the
// columns a decision writes are updatable (what was asked never is; migration 007 fences the transitions). A new
// table adds a line.
import type pg from 'pg';

export interface StateGrant {
  /** The object, as GRANT names it. */
  on: string;
  /** The privileges, as GRANT lists them (column lists allowed). */
  privileges: string;
  /** Why the app needs them. */
  why: string;
}

export const RUNTIME_GRANTS: readonly StateGrant[] = [
  { on: 'SCHEMA pgsessions', privileges: 'USAGE', why: 'reach the tables' },
  {
    on: 'TABLE pgsessions.schema_migrations',
    privileges: 'SELECT',
    why: 'check at start-up that the schema is current',
  },
  {
    on: 'TABLE pgsessions.requests',
    privileges:
      'SELECT, INSERT (cluster, action, targets, reason, requester, channel, expires_at, escalate_after_seconds, scope, quorum), ' +
      'UPDATE (message_ts, status, decided_by, decided_at, result, executing_at, executed_at, binding)',
    why: 'requests and their decisions (never deleted); what was asked cannot be changed afterwards',
  },
  {
    on: 'TABLE pgsessions.request_approvals',
    privileges: 'SELECT, INSERT',
    why: 'each approval counted towards a request’s quorum (migration 015): added, never changed',
  },
  { on: 'TABLE pgsessions.audit_log', privileges: 'SELECT, INSERT', why: 'append-only: append and read, nothing else' },
  { on: 'SEQUENCE pgsessions.audit_log_seq_seq', privileges: 'USAGE', why: 'number new audit entries' },
  {
    on: 'TABLE pgsessions.outbox',
    privileges: 'SELECT, INSERT, UPDATE (attempts, next_attempt_at, delivered_at, last_error)',
    why: 'queue audit entries and record their delivery',
  },
  {
    on: 'TABLE pgsessions.incidents',
    privileges: 'SELECT, INSERT, UPDATE, DELETE',
    why: 'watch alerts: one row per incident, updated in place, pruned after PGSESSIONS_RETENTION',
  },
  {
    on: 'TABLE pgsessions.watch_summaries',
    privileges: 'SELECT, INSERT, UPDATE',
    why: 'the one summary message per cluster beyond the open-alert cap',
  },
  {
    on: 'TABLE pgsessions.rules',
    privileges:
      'SELECT, INSERT (cluster, spec, action, cause, dry_run, reason, proposer, channel, proposal_expires_at, lifetime_seconds, max_executions), ' +
      'UPDATE (status, approver, approved_at, expires_at, ended_by, ended_at, message_ts, used, last_execution, binding)',
    why: 'standing approvals and their decisions (never deleted); a rule’s definition cannot be changed afterwards',
  },
  {
    on: 'TABLE pgsessions.watch_leases',
    privileges: 'SELECT, INSERT, UPDATE (holder, token, expires_at, acquired_at, renewed_at)',
    why: 'watcher leadership: take, renew and give back a lease per cluster',
  },
  {
    on: 'TABLE pgsessions.watch_replicas',
    privileges: 'SELECT, INSERT, UPDATE (clusters, seen_at, expires_at), DELETE',
    why: 'watching spread over replicas: a heartbeat per replica (migration 012), removed when it stops or long dead',
  },
  {
    on: 'TABLE pgsessions.rule_executions',
    privileges: 'SELECT, INSERT, UPDATE (outcome, finished_at, outcome_binding), DELETE',
    why: 'claim each rule execution before its signal, record its outcome once (migration 009); an ended rule’s executions pruned after PGSESSIONS_RETENTION',
  },
  {
    on: 'TABLE pgsessions.rate_buckets',
    privileges: 'SELECT, INSERT, UPDATE (tokens, at), DELETE',
    why: 'per-person rate limits shared by the replicas (migration 011): take and refund tokens, forget full buckets',
  },
  {
    on: 'TABLE pgsessions.drains',
    privileges:
      'SELECT, INSERT (id, request_id, cluster, database, method, prev_allow_connections, prev_connection_limit, ends_at, requester, approver, channel, binding), ' +
      'UPDATE (message_ts, state, claimed_by, claimed_at, ended_at, ended_by, end_why, outcome, end_binding)',
    why: 'maintenance drains (migration 010): what was recorded before closing a database cannot be changed afterwards',
  },
  {
    on: 'TABLE pgsessions.approver_messages',
    privileges: 'SELECT, INSERT (subject_kind, subject_id, user_id, tier), UPDATE (channel, ts), DELETE',
    why: 'direct messages to approvers (migration 017): claim before sending, record where it went, give back a refused claim',
  },
  {
    on: 'TABLE pgsessions.escalations',
    privileges: 'SELECT, INSERT (subject_kind, subject_id, tier, replica)',
    why: 'escalation (migration 018): each tier of a waiting request or proposal claimed once across replicas',
  },
];

const SQL_REVOKE_ALL = (role: string) => [
  `REVOKE ALL ON ALL TABLES IN SCHEMA pgsessions FROM ${role}`,
  `REVOKE ALL ON ALL SEQUENCES IN SCHEMA pgsessions FROM ${role}`,
  `REVOKE ALL ON ALL FUNCTIONS IN SCHEMA pgsessions FROM ${role}`,
  `REVOKE ALL ON SCHEMA pgsessions FROM ${role}`,
];

const SQL_OWNED_BY = `
  SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'pgsessions' AND pg_has_role($1, c.relowner, 'MEMBER')
  UNION ALL
  SELECT p.proname || '()' FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
  WHERE n.nspname = 'pgsessions' AND pg_has_role($1, p.proowner, 'MEMBER')
  UNION ALL
  SELECT 'schema pgsessions' FROM pg_namespace WHERE nspname = 'pgsessions' AND pg_has_role($1, nspowner, 'MEMBER')`;

const SQL_ROLE_EXISTS = 'SELECT 1 FROM pg_roles WHERE rolname = $1';

export type GrantResult =
  | { ok: true; statements: string[] }
  | { ok: false; code: 'no_such_role' | 'runtime_owns'; message: string };

/**
 * Revokes everything the role has in the state schema, then grants RUNTIME_GRANTS, in one transaction.
 * Identifiers cannot be $n parameters: the role name is quoted with escapeIdentifier.
 */
export async function grantRuntimeRole(client: pg.ClientBase, role: string): Promise<GrantResult> {
  if ((await client.query(SQL_ROLE_EXISTS, [role])).rowCount === 0) {
    return {
      ok: false,
      code: 'no_such_role',
      message: `role ${role} does not exist: CREATE ROLE ${role} LOGIN PASSWORD '…' first`,
    };
  }
  const owned = (await client.query<{ name: string }>(SQL_OWNED_BY, [role])).rows.map((r) => r.name);
  if (owned.length > 0) {
    return {
      ok: false,
      code: 'runtime_owns',
      message: `the runtime role ${role} owns (or is a member of the owner of) ${owned.join(', ')}: it could rewrite the audit log whatever it is granted. Transfer ownership to the owner role first (README: "Owner and runtime roles").`,
    };
  }
  const quoted = client.escapeIdentifier(role);
  const statements = [
    ...SQL_REVOKE_ALL(quoted),
    ...RUNTIME_GRANTS.map((g) => `GRANT ${g.privileges} ON ${g.on} TO ${quoted}`),
  ];
  await client.query('BEGIN');
  try {
    for (const sql of statements) await client.query(sql);
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
  return { ok: true, statements };
}
