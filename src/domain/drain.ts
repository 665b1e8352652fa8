// A maintenance drain (docs/drain.md), the pure part: what may be drained and how, the binding of a recorded
// drain, and the sentences a person reads. No Slack, no pg here.
import { canonicalJson, type DrainSummary } from './audit.js';
import type { Binder } from './binding.js';
import type { SessionRow } from './types.js';
import { readOnlySentence } from './messages.js';

export type DrainMethod = 'allow_connections' | 'connection_limit';
export type DrainState = 'active' | 'ending' | 'ended' | 'refused';
export type DrainEndWhy = 'expired' | 'ended' | 'undrain';

/** A database as the bot's role sees it on one cluster, read when a drain is asked for and again on approval. */
export interface DatabaseFacts {
  name: string;
  allowConnections: boolean;
  connectionLimit: number;
  isTemplate: boolean;
  owner: string;
  /** The bot's own connections to the cluster go to this database (ALLOW_CONNECTIONS false is refused for it). */
  isCurrent: boolean;
  superuser: boolean;
  /** The bot's role has the owner's rights (inherited membership). */
  inheritsOwner: boolean;
  /** The bot's role may SET ROLE to the owner (PostgreSQL 16+: SET TRUE; older: plain membership). */
  maySetOwner: boolean;
}

/** A drain as the state database keeps it (migration 010). */
export interface Drain {
  id: string;
  requestId: string;
  cluster: string;
  database: string;
  method: DrainMethod;
  prevAllowConnections: boolean;
  prevConnectionLimit: number;
  endsAt: string;
  requester: string;
  approver: string;
  channel: string;
  messageTs: string | null;
  state: DrainState;
  endedAt: string | null;
  endedBy: string | null;
  endWhy: DrainEndWhy | null;
  outcome: string | null;
  binding: string;
  /** The end's seal (drainEndSeal), written with the end; null while live, or when the end was not the app's. */
  endBinding: string | null;
}

export const DRAIN_REFUSALS = {
  read_only: readOnlySentence('nothing can be drained. Nothing was done.'),
  no_database: 'There is no such database on this cluster. Nothing was done.',
  template:
    'template0 and template1 are the templates every new database is made from: pgsessions never drains them. Nothing was done.',
  state_database:
    'That database holds pgsessions\u2019 own state: draining it would stop pgsessions. Nothing was done.',
  no_rights:
    'The bot\u2019s role lacks the rights to refuse connections to that database: it needs the database owner\u2019s rights (docs/database-role.md: membership in the owner\u2019s role, on PostgreSQL 16+ WITH INHERIT FALSE, SET TRUE). Nothing was done.',
  already_closed:
    'That database already refuses new connections (ALLOW_CONNECTIONS false or CONNECTION LIMIT 0): there is nothing to drain, and pgsessions will not take over a setting it did not make. Nothing was done.',
  already_drained: 'That database is already drained. Nothing was done.',
  window_missing: 'drain needs for:DURATION, e.g. for:45m — how long the database stays closed.',
  too_long: 'That window is longer than PGSESSIONS_DRAIN_MAX allows',
  reason_required: 'Give a reason: it goes into the audit trail.',
  not_drained: 'That database is not drained. Nothing was done.',
  not_allowed: 'Only the requester or an approver can end this drain.',
} as const;
export type DrainRefusal = keyof typeof DRAIN_REFUSALS;

export function refusalText(code: DrainRefusal, detail?: string): string {
  return detail ? `${DRAIN_REFUSALS[code]} ${detail}` : DRAIN_REFUSALS[code];
}

/** Why this database may not be drained (in the order a person would want to hear it), or null. */
export function drainRefusal(facts: DatabaseFacts | null, isStateDatabase: boolean): DrainRefusal | null {
  if (facts === null) return 'no_database';
  if (facts.name === 'template0' || facts.name === 'template1' || facts.isTemplate) return 'template';
  if (isStateDatabase) return 'state_database';
  if (!facts.superuser && !facts.inheritsOwner && !facts.maySetOwner) return 'no_rights';
  if (!facts.allowConnections || facts.connectionLimit === 0) return 'already_closed';
  return null;
}

/**
 * How to refuse new connections: ALLOW_CONNECTIONS false, except for the database the bot's own connections use,
 * for which PostgreSQL refuses it ("cannot disallow connections for current database"): there only CONNECTION
 * LIMIT 0 can be set, which superusers ignore.
 */
export function drainMethod(facts: DatabaseFacts): DrainMethod {
  return facts.isCurrent ? 'connection_limit' : 'allow_connections';
}

/** Whether the bot must SET ROLE to the owner for the ALTER (it does not hold the owner's rights otherwise). */
export function needsSetRole(facts: DatabaseFacts): boolean {
  return !facts.superuser && !facts.inheritsOwner;
}

/** What a drained database looks like: the one value pgsessions changed, the other exactly as recorded. */
export function drainedValues(d: Pick<Drain, 'method' | 'prevAllowConnections' | 'prevConnectionLimit'>): {
  allowConnections: boolean;
  connectionLimit: number;
} {
  return d.method === 'allow_connections'
    ? { allowConnections: false, connectionLimit: d.prevConnectionLimit }
    : { allowConnections: d.prevAllowConnections, connectionLimit: 0 };
}

/** What a drain records, as bound (the columns the runtime role cannot update, and who it was). */
export type DrainBound = Pick<
  Drain,
  | 'id'
  | 'requestId'
  | 'cluster'
  | 'database'
  | 'method'
  | 'prevAllowConnections'
  | 'prevConnectionLimit'
  | 'endsAt'
  | 'requester'
  | 'approver'
>;

/**
 * The drain's binding: a MAC under PGSESSIONS_AUDIT_KEY over what it recorded, checked before any restore. It is
 * made with the binder's outcome MAC under an id no rule execution can have (`drain:` + the drain's id), so it
 * is domain-separated from every other binding.
 */
export function drainBinding(binder: Binder, d: DrainBound): string {
  return binder.outcome({
    executionId: `drain:${d.id}`,
    outcome: canonicalJson({
      kind: 'drain',
      id: d.id,
      requestId: d.requestId,
      cluster: d.cluster,
      database: d.database,
      method: d.method,
      prevAllowConnections: d.prevAllowConnections,
      prevConnectionLimit: d.prevConnectionLimit,
      endsAt: new Date(d.endsAt).toISOString(),
      requester: d.requester,
      approver: d.approver,
    }),
  });
}

/** How a drain ended, as sealed: the columns its end writes that say what happened. */
export interface DrainEnd {
  state: 'ended' | 'refused';
  by: string | null;
  why: DrainEndWhy;
  outcome: string;
}

/**
 * The seal of a drain's end: a MAC under PGSESSIONS_AUDIT_KEY over which drain ended how. The runtime role can
 * write state 'ended' (the app's own ends go through it), not this MAC: an end without it is not the app's, and
 * the drain is still given back (src/domain/drain-recovery.ts). Domain-separated like drainBinding.
 */
export function drainEndSeal(binder: Binder, id: string, end: DrainEnd): string {
  return binder.outcome({
    executionId: `drain-end:${id}`,
    outcome: canonicalJson({
      kind: 'drain_end',
      id,
      state: end.state,
      by: end.by,
      why: end.why,
      outcome: end.outcome,
    }),
  });
}

export function drainSummary(d: Drain): DrainSummary {
  return {
    drain: d.id,
    database: d.database,
    method: d.method,
    previous: { allowConnections: d.prevAllowConnections, connectionLimit: d.prevConnectionLimit },
    endsAt: d.endsAt,
    requester: d.requester,
    approver: d.approver,
  };
}

/** "14:30 UTC", with the date when it is not today (UTC). */
export function utcTime(when: string | Date, now: Date = new Date()): string {
  const t = new Date(when);
  const hhmm = t.toISOString().slice(11, 16);
  const day = t.toISOString().slice(0, 10);
  return day === now.toISOString().slice(0, 10) ? `${hhmm} UTC` : `${day} ${hhmm} UTC`;
}

/** Counts by a key, largest first: "app-a ×3, app-b ×1". */
type Seen = Pick<SessionRow, 'application' | 'user'>;

function countsBy(rows: Seen[], key: (r: Seen) => string | null): string {
  const counts = new Map<string, number>();
  for (const r of rows) counts.set(key(r) || '(none)', (counts.get(key(r) || '(none)') ?? 0) + 1);
  const sorted = [...counts].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = sorted.slice(0, 8).map(([k, n]) => `${k} ×${n}`);
  if (sorted.length > 8) shown.push(`${sorted.length - 8} more`);
  return shown.join(', ');
}

/** What a drain request says will happen (plain text; the renderer escapes it). */
export function drainPlan(input: {
  database: string;
  sessions: Seen[];
  windowSeconds: number;
  method?: DrainMethod;
}): string[] {
  const { database, sessions, windowSeconds, method } = input;
  const n = sessions.length;
  const lines = [
    `On approval: ${database} refuses new connections for ${formatWindow(windowSeconds)} from the approval, then every session of it except pgsessions\u2019 own is ended — ${n} now, and any that connect before the approval.`,
  ];
  if (n > 0) {
    lines.push(`By application: ${countsBy(sessions, (r) => r.application)}`);
    lines.push(`By user: ${countsBy(sessions, (r) => r.user)}`);
  }
  if (method === 'connection_limit') lines.push(CONNECTION_LIMIT_ONLY);
  lines.push(
    'At the end (the window, End drain now, or /pgsessions undrain) the database gets back exactly the connection settings it has now.',
  );
  return lines;
}

export const CONNECTION_LIMIT_ONLY =
  'Only a connection limit can be set on this database (pgsessions itself connects to it): CONNECTION LIMIT 0 keeps out everyone but superusers, who can still connect.';

export function formatWindow(seconds: number): string {
  const h = Math.floor(seconds / 3600);
  const m = Math.floor((seconds % 3600) / 60);
  const s = seconds % 60;
  return [h ? `${h}h` : '', m ? `${m}m` : '', s || (!h && !m) ? `${s}s` : ''].join('');
}

/** The listing header's line: "legacy is drained until 14:30 UTC (by <@alex>, approved by <@sam>)". */
export function drainedLine(d: Drain, mention: (user: string) => string, now: Date = new Date()): string {
  return `${d.database} is drained until ${utcTime(d.endsAt, now)} (by ${mention(d.requester)}, approved by ${mention(d.approver)})`;
}

const WHY_WORDS: Record<DrainEndWhy, string> = {
  expired: 'its window ended',
  ended: 'End drain now was pressed',
  undrain: '/pgsessions undrain',
};

/** How a drain ended, for the request's thread and the audit. */
export function endSentence(d: Drain, why: DrainEndWhy, outcome: DrainEndOutcome, by: string | null): string {
  const who = by ? ` by ${by}` : '';
  const head = `Drain of ${d.database} ended (${WHY_WORDS[why]}${who})`;
  switch (outcome.kind) {
    case 'restored':
      return `${head}: new connections are allowed again, ${settingsText(d)} as before.`;
    case 'already':
      return `${head}: the database already had its previous settings (${settingsText(d)}); nothing was changed.`;
    case 'changed':
      return `${head}: the database's settings were changed by someone else meanwhile (now ALLOW_CONNECTIONS ${outcome.now.allowConnections}, CONNECTION LIMIT ${outcome.now.connectionLimit}), so pgsessions changed nothing. Restore them by hand if needed.`;
    case 'gone':
      return `${head}: the database no longer exists; nothing was changed.`;
    case 'tampered':
      return `${head}: REFUSED — its record in the state database was changed without pgsessions\u2019 key, so nothing was changed. The tampering is in the audit log.`;
    case 'failed':
      return `${head}: the settings could not be restored (${outcome.message}); pgsessions will try again.`;
  }
}

function settingsText(d: Drain): string {
  return `ALLOW_CONNECTIONS ${d.prevAllowConnections}, CONNECTION LIMIT ${d.prevConnectionLimit}`;
}

export type DrainEndOutcome =
  | { kind: 'restored' }
  | { kind: 'already' }
  | { kind: 'changed'; now: { allowConnections: boolean; connectionLimit: number } }
  | { kind: 'gone' }
  | { kind: 'tampered' }
  | { kind: 'failed'; message: string };
