// The audit log as a hash chain: each entry's hash covers its own fields and the previous entry's hash, so
// changing, removing or reordering any entry breaks verification from that entry on. Pure: node:crypto only.
import { createHash } from 'node:crypto';

export const AUDIT_EVENTS = [
  'requested',
  'approved',
  'denied',
  'withdrawn',
  'expired',
  'executing',
  'executed',
  'failed',
  'reconciled',
  'refused',
  'snoozed',
] as const;
export type AuditEvent = (typeof AUDIT_EVENTS)[number];

/** The hash of "nothing before": the prev_hash of the first entry. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a caller writes; the store adds seq, at and the hashes. */
export interface AuditEntryInput {
  requestId?: string | null;
  event: AuditEvent;
  actor?: string | null;
  cluster?: string | null;
  /** A JSON object: it is stored as jsonb and hashed in canonical form. */
  details: Record<string, unknown>;
}

/** The fields a hash covers. */
export interface AuditHashedFields {
  seq: number;
  /** The server's timestamp as text: UTC, microseconds, e.g. 2025-01-02T03:04:05.123456Z. */
  at: string;
  requestId: string | null;
  event: AuditEvent;
  actor: string | null;
  cluster: string | null;
  details: Record<string, unknown>;
}

/** One stored entry of the audit log. */
export interface AuditEntry extends AuditHashedFields {
  prevHash: string;
  hash: string;
}

export type ChainVerification = { ok: true; count: number } | { ok: false; brokenAtSeq: number; reason: string };

/**
 * JSON with object keys sorted at every level, so that the same value always gives the same text (jsonb does
 * not keep key order). Follows JSON.stringify for the rest: undefined and functions are dropped from objects
 * and become null in arrays, non-finite numbers become null, toJSON() is honoured.
 */
export function canonicalJson(value: unknown): string {
  return encode(value) ?? 'null';
}

function encode(value: unknown): string | undefined {
  if (value === null) return 'null';
  if (typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return encode((value as { toJSON: () => unknown }).toJSON());
  }
  switch (typeof value) {
    case 'string':
      return JSON.stringify(value);
    case 'number':
      return Number.isFinite(value) ? JSON.stringify(value) : 'null';
    case 'boolean':
      return value ? 'true' : 'false';
    case 'bigint':
      return value.toString();
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    default:
      break;
  }
  if (Array.isArray(value)) {
    return `[${value.map((item) => encode(item) ?? 'null').join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  for (const key of Object.keys(record).sort()) {
    const encoded = encode(record[key]);
    if (encoded !== undefined) parts.push(`${JSON.stringify(key)}:${encoded}`);
  }
  return `{${parts.join(',')}}`;
}

/** sha256 (hex) of the previous hash and the canonical JSON of this entry's fields. */
export function chainHash(prevHash: string, entry: AuditHashedFields): string {
  const body = canonicalJson({
    seq: entry.seq,
    at: entry.at,
    requestId: entry.requestId,
    event: entry.event,
    actor: entry.actor,
    cluster: entry.cluster,
    details: entry.details,
  });
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/**
 * Checks entries given in seq order. `prevHash` is the hash the first entry must follow: GENESIS_HASH when
 * the entries start at the beginning of the log, or the last verified hash when verifying page by page.
 * Seq may have gaps (a rolled-back append consumes a sequence value); the chain of hashes may not.
 */
export function verifyChain(entries: readonly AuditEntry[], prevHash: string = GENESIS_HASH): ChainVerification {
  let expectedPrev = prevHash;
  let lastSeq = -Infinity;
  for (const entry of entries) {
    if (!(entry.seq > lastSeq)) {
      return { ok: false, brokenAtSeq: entry.seq, reason: `seq ${entry.seq} is not after seq ${lastSeq}` };
    }
    if (entry.prevHash !== expectedPrev) {
      return { ok: false, brokenAtSeq: entry.seq, reason: 'prev_hash does not match the hash of the entry before it' };
    }
    if (chainHash(entry.prevHash, entry) !== entry.hash) {
      return { ok: false, brokenAtSeq: entry.seq, reason: 'hash does not match the entry: the entry was changed' };
    }
    expectedPrev = entry.hash;
    lastSeq = entry.seq;
  }
  return { ok: true, count: entries.length };
}
