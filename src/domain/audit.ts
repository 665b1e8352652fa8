// The audit log as a hash chain: each entry's hash covers its own fields and the previous entry's hash, so
// changing, removing or reordering an entry breaks verification from that entry on — unless whoever changed
// it recomputed every later hash. Unkeyed (SHA-256), anyone with write access to the table can do that; keyed
// (HMAC-SHA256 with PGSESSIONS_AUDIT_KEY), only someone who also holds the key can. Deleting the newest
// entries leaves a shorter chain that still verifies: only the audit channel (the outside witness) shows it.
// Pure: node:crypto only.
import { createHash, createHmac } from 'node:crypto';
import { canonicalJson } from './canonical-json.js';
import type { Action, ExecutionResult, RequestScope, TargetSnapshot } from './types.js';

export { canonicalJson };
export type { DrainSummary, QuorumProgress, RuleSummary } from './audit-summaries.js';
import type { DrainSummary, QuorumProgress, RuleSummary } from './audit-summaries.js';

export const AUDIT_EVENTS = [
  'requested',
  'approved',
  'denied',
  'withdrawn',
  'expired',
  'executing',
  'executed',
  'failed',
  'refused',
  // The chain switched to keyed hashing from this entry on (the first entry the app wrote with a key).
  'chain_keyed',
  // Someone snoozed a watch alert's cause (for everyone, for a while).
  'snoozed',
  // Standing approvals (src/domain/rules.ts): a rule's life, and each execution under it.
  'rule_proposed',
  'rule_approved',
  'rule_denied',
  'rule_withdrawn',
  'rule_revoked',
  'rule_ended',
  'rule_executed',
  // A row's binding (src/domain/binding.ts) did not match what it says now: nothing was signalled.
  'tampering_detected',
  // The clusters file was reloaded without a restart: which clusters came and went (never their connections).
  'clusters_reloaded',
  // A maintenance drain (docs/drain.md): a database closed for a window, and given back.
  'drained',
  'drain_ended',
  // Approval routing (src/domain/routing.ts): one approval of several a quorum needs (a request's, a rule's), an
  // undecided request or proposal told to the next tier, a requester acting alone once nobody answered, and
  // an approver's review of that.
  'approval_recorded',
  'rule_approval_recorded',
  'escalated',
  'break_glass',
  'break_glass_reviewed',
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

export const HASH_ALGS = ['sha256', 'hmac-sha256'] as const;
export type HashAlg = (typeof HASH_ALGS)[number];

/** The hash of "nothing before": the prev_hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** The session as the audit names it after the request: enough to identify it, without the query text. */
export type BriefTarget = Pick<
  TargetSnapshot,
  'pid' | 'user' | 'database' | 'application' | 'backendType' | 'backendStart' | 'queryStart'
>;

/** What every decision entry repeats about its request, so each entry reads on its own. */
export interface RequestSummary {
  action: Action;
  reason: string;
  requester: string;
  targets: BriefTarget[];
}

/** The details each event carries: writers and the renderer agree through this type, not by convention. */
export interface AuditDetailsByEvent {
  requested: {
    action: Action;
    reason: string;
    requester: string;
    channel: string;
    expiresAt: string;
    escalateAfterSeconds: number | null;
    scope: RequestScope | null;
    /** The sessions as seen, query text shaped by PGSESSIONS_QUERY_TEXT. */
    targets: TargetSnapshot[];
  };
  /** binding: the MAC over what was approved (src/domain/binding.ts); absent in entries written before it. */
  /** approvals: every approver counted, when the request needed more than one (quorum). */
  approved: RequestSummary & { approver: string; binding?: string; approvals?: string[] };
  denied: RequestSummary & { deniedBy: string };
  withdrawn: RequestSummary & { withdrawnBy: string };
  /** why: absent when its deadline passed; cluster_removed when its cluster left the clusters file. */
  expired: RequestSummary & { expiresAt: string; why?: 'cluster_removed' };
  executing: RequestSummary & { approver: string | null };
  executed: RequestSummary & { approver: string | null; result: ExecutionResult };
  /** Also a request reconciled after a restart: result.interrupted is then true (never re-run). */
  failed: RequestSummary & { approver: string | null; result: ExecutionResult };
  /** An approval refused without a state change (read-only mode). */
  refused: { why: string };
  chain_keyed: { keyId: string; alg: 'hmac-sha256' };
  /** A watch alert's cause silenced for everyone: the incident's key and cause, for how long. */
  /** incident: the incident's id (entries before it was hashed carried its key). */
  snoozed: { incident: string; cause: string; minutes: number };
  rule_proposed: RuleSummary;
  rule_approved: RuleSummary & { approver: string; expiresAt: string; binding?: string };
  rule_denied: RuleSummary & { deniedBy: string };
  rule_withdrawn: RuleSummary & { withdrawnBy: string };
  rule_revoked: RuleSummary & { revokedBy: string };
  /** Its lifetime or cap reached, its proposal expired, or read-only mode. */
  rule_ended: RuleSummary & { why: 'expired' | 'exhausted' };
  /** One execution under a rule: the target as seen, what happened (dry run: what would have). */
  rule_executed: RuleSummary & {
    approver: string | null;
    dryRun: boolean;
    used: number;
    target: TargetSnapshot;
    incident: string;
    result: ExecutionResult;
  };
  /**
   * A request or rule whose stored binding does not match what its row says now (written or changed without
   * PGSESSIONS_AUDIT_KEY): refused at `stage`, nothing signalled. `claims` is what the row claims, as read.
   */
  tampering_detected: {
    subject: 'request' | 'rule' | 'drain';
    id: string;
    stage: 'approval' | 'execution' | 'rule_claim' | 'drain_end';
    reason: string;
    claims: { requester: string | null; approver: string | null; targets: number[]; what: string | null };
  };
  /** By name only; replica: which replica reloaded (each does, on its own). */
  clusters_reloaded: { added: string[]; removed: string[]; changed: string[]; replica: string };
  /** A database closed to new connections until endsAt; ended: the sessions ended now. */
  drained: DrainSummary & { ended: number; left: number };
  /**
   * A drain given back (or not: outcome says why the recorded values were left alone). recovered: a drain ended
   * without the app's seal, given back by the sweeper; its MAC (src/domain/drain-recovery.ts), so it is done once.
   */
  drain_ended: DrainSummary & {
    why: 'expired' | 'ended' | 'undrain';
    endedBy: string | null;
    outcome: string;
    recovered?: string;
  };
  approval_recorded: RequestSummary & QuorumProgress;
  rule_approval_recorded: RuleSummary & QuorumProgress;
  /** tier: 1 the first escalation, 2 the next…; to: who was told (users, and the groups as named). */
  escalated: {
    subject: 'request' | 'rule';
    id: string;
    requester: string;
    what: string;
    tier: number;
    to: string[];
    afterSeconds: number;
  };
  /** A requester executed their own request alone, no approver having decided in waitedSeconds; why: as typed. */
  break_glass: RequestSummary & { why: string; waitedSeconds: number; review: 'awaiting' };
  /** An approver reviewed a break-glass use (the break_glass entry's seq). */
  break_glass_reviewed: RequestSummary & { reviewer: string; breakGlassSeq: number };
}

type EntryFor<E extends AuditEvent> = {
  requestId?: string | null;
  event: E;
  actor?: string | null;
  cluster?: string | null;
  /** A JSON object: it is stored as jsonb and hashed in canonical form. */
  details: AuditDetailsByEvent[E];
};

/** What a caller writes; the store adds seq, at, the hash algorithm and the hashes. */
export type AuditEntryInput = { [E in AuditEvent]: EntryFor<E> }[AuditEvent];

interface HashedBase {
  seq: number;
  /** The server's timestamp as text: UTC, microseconds, e.g. 2025-01-02T03:04:05.123456Z. */
  at: string;
  requestId: string | null;
  actor: string | null;
  cluster: string | null;
}

/** The fields a hash covers. */
export type AuditHashedFields = {
  [E in AuditEvent]: HashedBase & { event: E; details: AuditDetailsByEvent[E] };
}[AuditEvent];

/** One stored entry of the audit log. */
export type AuditEntry = AuditHashedFields & {
  prevHash: string;
  hash: string;
  /** How `hash` was computed; entries written before a key was set stay sha256. */
  hashAlg: HashAlg;
};

export type ChainVerification =
  | {
      ok: true;
      count: number;
      /** Seq of the first keyed entry, when there is one. */
      keyedFromSeq: number | null;
      /** Keyed entries whose hash could not be checked because no key was given. */
      uncheckedKeyed: number;
    }
  /** brokenAtSeq and reason: the first break; breaks: every one (verification goes on after each). */
  | { ok: false; brokenAtSeq: number; reason: string; breaks: ChainBreak[] };

/** The canonical text an entry's hash covers (besides the previous hash). */
function hashedBody(entry: AuditHashedFields): string {
  return canonicalJson({
    seq: entry.seq,
    at: entry.at,
    requestId: entry.requestId,
    event: entry.event,
    actor: entry.actor,
    cluster: entry.cluster,
    details: entry.details,
  });
}

/**
 * The hash (hex) of the previous hash and the canonical JSON of this entry's fields: HMAC-SHA256 under `key`
 * when one is given, else plain SHA-256 (how every entry was hashed before keys existed).
 */
export function chainHash(prevHash: string, entry: AuditHashedFields, key?: Uint8Array | null): string {
  const hash = key ? createHmac('sha256', key) : createHash('sha256');
  return hash.update(prevHash).update('\n').update(hashedBody(entry)).digest('hex');
}

/** A public name for a key (an HMAC of a fixed label): tells keys apart without revealing anything of them. */
export function auditKeyId(key: Uint8Array): string {
  return createHmac('sha256', key).update('pgsessions audit key id').digest('hex').slice(0, 16);
}

/** One place where the chain does not hold. */
export interface ChainBreak {
  seq: number;
  reason: string;
}

/** Where a page-by-page verification stands after the entries it has seen. */
export interface ChainCursor {
  /** The hash of the last entry that held (the one the next entry must link to). */
  prevHash: string;
  lastSeq: number;
  keyedFromSeq: number | null;
  uncheckedKeyed: number;
  count: number;
  /** Every break found so far, in seq order: verification goes on after each one. */
  breaks: ChainBreak[];
}

export const CHAIN_START: ChainCursor = {
  prevHash: GENESIS_HASH,
  lastSeq: -Infinity,
  keyedFromSeq: null,
  uncheckedKeyed: 0,
  count: 0,
  breaks: [],
};

export type ChainStep = { ok: true; cursor: ChainCursor };

/** Why this entry's own hash does not hold (null when it does, or cannot be checked without the key). */
function ownHashProblem(
  entry: AuditEntry,
  keyedFromSeq: number | null,
  key: Uint8Array | null | undefined,
  keyId: string | null,
): string | null {
  if (entry.hashAlg === 'sha256') {
    if (keyedFromSeq !== null) {
      return `an unkeyed entry after keyed hashing began at #${keyedFromSeq}: rewritten without the key (a downgrade), inserted by someone without the key, or written by an instance started without PGSESSIONS_AUDIT_KEY`;
    }
    return chainHash(entry.prevHash, entry) === entry.hash
      ? null
      : 'hash does not match the entry: the entry was changed';
  }
  if (!key) return null;
  if (entry.event === 'chain_keyed' && entry.details.keyId !== keyId) {
    return `keyed with another key (key id ${String(entry.details.keyId)}; PGSESSIONS_AUDIT_KEY has id ${keyId})`;
  }
  if (chainHash(entry.prevHash, entry, key) !== entry.hash) {
    return 'HMAC does not match the entry: the entry was changed or inserted without the key (or PGSESSIONS_AUDIT_KEY is not the key it was written with)';
  }
  return null;
}

/**
 * Checks entries given in seq order, continuing from `cursor` (CHAIN_START for the beginning of the log), and
 * records every break rather than stopping at the first. Seq may have gaps (a rolled-back append consumes a
 * sequence value); the chain of hashes may not. An entry whose own hash does not hold is reported and skipped
 * (the app chains on its last verified entry, so a junk row does not unlink what follows); an entry that holds
 * but does not link is reported and the chain goes on from it. Once keyed, never unkeyed again: an unkeyed
 * entry after the first keyed one is a downgrade.
 */
export function verifyChainStep(
  entries: readonly AuditEntry[],
  cursor: ChainCursor,
  key?: Uint8Array | null,
): ChainStep {
  let { prevHash, lastSeq, keyedFromSeq, uncheckedKeyed, count } = cursor;
  const breaks = [...cursor.breaks];
  const keyId = key ? auditKeyId(key) : null;
  for (const entry of entries) {
    if (!(entry.seq > lastSeq)) {
      breaks.push({ seq: entry.seq, reason: `seq ${entry.seq} is not after seq ${lastSeq}` });
      continue;
    }
    lastSeq = entry.seq;
    const problem = ownHashProblem(entry, keyedFromSeq, key, keyId);
    if (problem !== null) {
      breaks.push({ seq: entry.seq, reason: problem });
      continue;
    }
    if (entry.prevHash !== prevHash)
      breaks.push({ seq: entry.seq, reason: 'prev_hash does not match the hash of the entry before it' });
    if (entry.hashAlg === 'hmac-sha256') {
      keyedFromSeq ??= entry.seq;
      if (!key) uncheckedKeyed += 1;
    }
    prevHash = entry.hash;
    count += 1;
  }
  return { ok: true, cursor: { prevHash, lastSeq, keyedFromSeq, uncheckedKeyed, count, breaks } };
}

/**
 * The verdict on a whole log. With a key, a log that has entries but not one keyed entry is refused too:
 * either the app never ran with this key, or every keyed entry was rewritten unkeyed.
 */
export function finishVerification(cursor: ChainCursor, key?: Uint8Array | null): ChainVerification {
  const breaks = [...cursor.breaks];
  if (key && cursor.count > 0 && cursor.keyedFromSeq === null) {
    breaks.push({
      seq: cursor.lastSeq,
      reason:
        'no entry is keyed although PGSESSIONS_AUDIT_KEY was given: either the app never ran with this key (start it once with the key: it records the switch), or every keyed entry was rewritten without the key',
    });
  }
  const first = breaks[0];
  if (first) return { ok: false, brokenAtSeq: first.seq, reason: first.reason, breaks };
  return { ok: true, count: cursor.count, keyedFromSeq: cursor.keyedFromSeq, uncheckedKeyed: cursor.uncheckedKeyed };
}

/** Checks a whole log given in seq order (or, with `prevHash`, the continuation of one). */
export function verifyChain(
  entries: readonly AuditEntry[],
  prevHash: string = GENESIS_HASH,
  key?: Uint8Array | null,
): ChainVerification {
  return finishVerification(verifyChainStep(entries, { ...CHAIN_START, prevHash }, key).cursor, key);
}

/**
 * Whether an entry's own hash holds, for choosing what the next entry chains on: keyed entries only with the
 * key, unkeyed ones by recomputing (which anyone could have done).
 */
export function entryHolds(entry: AuditEntry, key?: Uint8Array | null): boolean {
  if (entry.hashAlg === 'hmac-sha256') return key ? chainHash(entry.prevHash, entry, key) === entry.hash : false;
  return chainHash(entry.prevHash, entry) === entry.hash;
}

/**
 * The entry the next one chains on, from the newest entries (newest first): the newest keyed entry that holds
 * under the key; before the chain is keyed (or without a key), the newest unkeyed entry that holds; else the
 * newest entry. A row inserted by someone without the key is never chained on, so it cannot unlink the log.
 */
export function chainHead(newestFirst: readonly AuditEntry[], key?: Uint8Array | null): AuditEntry | null {
  if (key) {
    const keyed = newestFirst.find((e) => e.hashAlg === 'hmac-sha256' && entryHolds(e, key));
    if (keyed) return keyed;
    return newestFirst.find((e) => e.hashAlg === 'sha256' && entryHolds(e)) ?? newestFirst[0] ?? null;
  }
  // Without the key keyed entries cannot be told from forged ones: take the newest that is not visibly broken.
  return newestFirst.find((e) => e.hashAlg === 'hmac-sha256' || entryHolds(e)) ?? newestFirst[0] ?? null;
}
