// Rows of the state tables, checked at the boundary and turned into domain values.
import { z } from 'zod';
import { TROUBLES } from '../domain/outcome.js';
import { AUDIT_EVENTS, HASH_ALGS, type AuditEntry } from '../domain/audit.js';
import { ACTIONS, REQUEST_STATUSES, TARGET_OUTCOMES, type KillRequest } from '../domain/types.js';

const nullableString = z.string().nullable();

const TargetSnapshotSchema = z.object({
  pid: z.number().int(),
  backendStart: z.string(),
  queryStart: nullableString,
  xactStart: nullableString,
  backendType: z.string(),
  user: nullableString,
  database: nullableString,
  application: nullableString,
  client: nullableString,
  state: nullableString,
  query: nullableString,
});

const ExecutionResultSchema = z.object({
  outcomes: z.array(
    z.object({ pid: z.number().int(), outcome: z.enum(TARGET_OUTCOMES), message: z.string().optional() }),
  ),
  unreachable: z.boolean().optional(),
  trouble: z.enum(TROUBLES).optional(),
  interrupted: z.boolean().optional(),
  message: z.string().optional(),
  drain: z
    .object({ id: z.string(), database: z.string(), endsAt: z.string(), ended: z.string().optional() })
    .optional(),
});

const ScopeSchema = z.object({
  database: z.string().optional(),
  user: z.string().optional(),
  application: z.string().optional(),
});

const RequestRowSchema = z.object({
  id: z.string(),
  cluster: z.string(),
  action: z.enum(ACTIONS),
  targets: z.array(TargetSnapshotSchema),
  reason: z.string(),
  requester: z.string(),
  channel: z.string(),
  message_ts: nullableString,
  status: z.enum(REQUEST_STATUSES),
  decided_by: nullableString,
  decided_at: nullableString,
  created_at: z.string(),
  expires_at: z.string(),
  escalate_after_seconds: z.number().int().nullable(),
  scope: ScopeSchema.nullable(),
  result: ExecutionResultSchema.nullable(),
  quorum: z.number().int().optional(),
  approvers: z.array(z.string()).optional(),
});

const AuditRowSchema = z.object({
  seq: z.string().regex(/^\d+$/),
  at: z.string(),
  request_id: nullableString,
  event: z.enum(AUDIT_EVENTS),
  actor: nullableString,
  cluster: nullableString,
  details: z.record(z.string(), z.unknown()),
  prev_hash: z.string(),
  hash: z.string(),
  hash_alg: z.enum(HASH_ALGS),
});

export function toRequest(row: unknown): KillRequest {
  const parsed = RequestRowSchema.safeParse(row);
  if (!parsed.success) {
    throw new Error(`pgsessions.requests: malformed row: ${z.prettifyError(parsed.error)}`);
  }
  const r = parsed.data;
  return {
    id: r.id,
    cluster: r.cluster,
    action: r.action,
    targets: r.targets,
    reason: r.reason,
    requester: r.requester,
    channel: r.channel,
    messageTs: r.message_ts,
    status: r.status,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    escalateAfterSeconds: r.escalate_after_seconds,
    scope: r.scope,
    result: r.result,
    // Only what differs from the two-person rule's defaults (quorum 1, nobody approved yet).
    ...(r.quorum === undefined || r.quorum <= 1 ? {} : { quorum: r.quorum }),
    ...(r.approvers === undefined || r.approvers.length === 0 ? {} : { approvers: r.approvers }),
  };
}

export function toAuditEntry(row: unknown): AuditEntry {
  const parsed = AuditRowSchema.safeParse(row);
  if (!parsed.success) {
    throw new Error(`pgsessions.audit_log: malformed row: ${z.prettifyError(parsed.error)}`);
  }
  const r = parsed.data;
  // details stay exactly as stored: the hash covers them, so they are checked by the chain, not reshaped here.
  return {
    seq: Number(r.seq),
    at: r.at,
    requestId: r.request_id,
    event: r.event,
    actor: r.actor,
    cluster: r.cluster,
    details: r.details,
    prevHash: r.prev_hash,
    hash: r.hash,
    hashAlg: r.hash_alg,
  } as AuditEntry;
}
