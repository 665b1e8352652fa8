// Who may do what: pure decisions over Slack principals (user IDs U…/W…, user-group IDs S…). Group
// membership is resolved by a port, at click time, so a removal from a group takes effect at once.
import type { SignalBlocker } from './types.js';

export interface GroupsPort {
  /** User IDs in a Slack user group; throws GroupsUnavailable when Slack will not say now (rate limited). */
  members(groupId: string): Promise<string[]>;
}

export { GroupsUnavailable } from './errors.js';

export interface AccessRules {
  /** null: everyone may request. */
  requesters: string[] | null;
  approvers: string[];
}

export async function isListed(user: string, principals: string[], groups: GroupsPort): Promise<boolean> {
  if (principals.includes(user)) return true;
  for (const principal of principals) {
    if (principal.startsWith('S') && (await groups.members(principal)).includes(user)) return true;
  }
  return false;
}

export async function mayRequest(user: string, rules: AccessRules, groups: GroupsPort): Promise<boolean> {
  return rules.requesters === null || isListed(user, rules.requesters, groups);
}

export async function mayApprove(user: string, rules: AccessRules, groups: GroupsPort): Promise<boolean> {
  return isListed(user, rules.approvers, groups);
}

export interface Protection {
  protectedRoles: string[];
  protectedApps: string[];
}

/**
 * Roles that managed PostgreSQL services run their own maintenance, monitoring and replication as: never
 * offered for a kill, whatever PGSESSIONS_PROTECTED_ROLES says (it adds to these). Only names confirmed in
 * the providers' own documentation; the README says where each comes from.
 */
export const PROVIDER_ROLES = [
  // Azure Database for PostgreSQL: the superuser only Microsoft holds.
  'azuresu',
  // Google Cloud SQL for PostgreSQL: system users for maintenance, monitoring, import/export, replication.
  'cloudsqladmin',
  'cloudsqlagent',
  'cloudsqlimportexport',
  'cloudsqlreplica',
  // Supabase: the bootstrap superuser the platform configures and monitors projects with.
  'supabase_admin',
  // Neon: the system role of the compute.
  'cloud_admin',
  // Huawei Cloud RDS for PostgreSQL: management, replication, backup and metrics accounts.
  'rdsAdmin',
  'rdsRepl',
  'rdsBackup',
  'rdsMetric',
] as const;

/** The roles never offered for a kill: the providers' own, then the operator's (duplicates dropped). */
export function withProviderRoles(configured: readonly string[]): string[] {
  return [...new Set<string>([...PROVIDER_ROLES, ...configured])];
}

/** Why a backend can never be signalled by the bot's role: one line under a listing row, and the refusal of a typed request. */
export const SIGNAL_BLOCKER_REASONS: Record<SignalBlocker, string> = {
  superuser: 'superuser session: the bot\u2019s role cannot signal it (only a superuser can)',
  no_role: 'a process without a role: only a superuser can signal it',
  autovacuum_worker:
    'autovacuum worker: the bot\u2019s role cannot signal it (it needs pg_signal_autovacuum_worker, PostgreSQL 18+)',
  other_role: 'another role\u2019s session: the bot\u2019s role cannot signal it (it needs pg_signal_backend)',
};

/** What would let the bot signal it, said when the server refused a signal (SQLSTATE 42501). */
export const SIGNAL_BLOCKER_HINTS: Record<SignalBlocker, string> = {
  superuser: 'a superuser\u2019s session can only be signalled by a superuser: end it from psql as one',
  no_role: 'a process without a role can only be signalled by a superuser',
  autovacuum_worker:
    'grant pg_signal_autovacuum_worker to the bot\u2019s role (PostgreSQL 18+), or end it from psql as a superuser',
  other_role: 'grant pg_signal_backend to the bot\u2019s role (or make it a member of the session\u2019s role)',
};

/** A cancel interrupts the running query: a backend that is not running one (idle, idle in transaction, never ran a query) has nothing to cancel. */
export function runsAQuery(session: { state: string | null; queryStart: string | null }): boolean {
  return session.queryStart !== null && (session.state === 'active' || session.state === 'fastpath function call');
}

export function isProtected(
  session: { user: string | null; application: string | null },
  protection: Protection,
): boolean {
  return (
    (session.user !== null && protection.protectedRoles.includes(session.user)) ||
    (session.application !== null && protection.protectedApps.includes(session.application))
  );
}

export const QUERY_TEXT_MODES = ['full', 'truncated', 'none'] as const;
export type QueryTextMode = (typeof QUERY_TEXT_MODES)[number];
export const TRUNCATED_QUERY_CHARS = 200;

/** Query text can hold personal data or secrets: shape it before it is stored, posted or audited. */
export function shapeQueryText(query: string | null, mode: QueryTextMode): string | null {
  if (query === null || mode === 'none') return null;
  if (mode === 'full') return query;
  const chars = Array.from(query);
  return chars.length <= TRUNCATED_QUERY_CHARS ? query : `${chars.slice(0, TRUNCATED_QUERY_CHARS).join('')}…`;
}
