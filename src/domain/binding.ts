// The binding: an approval, tied by a MAC to exactly what it authorises. The state database's role can write
// any row, but not this MAC: it is made with a key derived from PGSESSIONS_AUDIT_KEY, which that role does not
// hold. A request is sealed when it is made (what was asked) and bound when it is approved (what was asked,
// who approved, when); a rule likewise. Before any signal the executor recomputes the binding from the row it
// is about to act on and compares: a row changed without the key no longer matches. Without a key the same
// values are computed with plain SHA-256, so every code path is the same, but that is no guarantee.
// Pure: node:crypto only.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import { auditKeyId, canonicalJson, type AuditEntryInput, type AuditDetailsByEvent } from './audit.js';
import { ruleText, type Rule, type RuleSpec } from './rules.js';
import type { Action, KillRequest, TargetSnapshot } from './types.js';

/** Said at start-up and by `/pgsessions status` when there is no key: what the binding cannot protect then. */
export const BINDING_OFF =
  'PGSESSIONS_AUDIT_KEY is not set: whoever holds the state database\u2019s password can approve a kill or a standing rule in the database, without any person approving, and pgsessions will act on it.';

/** How many distinct people approve by default (one approver besides the requester or proposer). */
export const QUORUM = 1;

/** What a request authorises, as the state database stores it. */
export interface RequestBound {
  id: string;
  cluster: string;
  action: Action;
  requester: string;
  /** The sessions to signal: each one's identity, as the signal statement re-checks it. */
  targets: ReadonlyArray<Pick<TargetSnapshot, 'pid' | 'backendStart' | 'queryStart' | 'backendType'>>;
  escalateAfterSeconds: number | null;
  createdAt: string;
  expiresAt: string;
  /** Distinct approvers needed (absent: QUORUM); covered only above 1, so older seals still verify. */
  quorum?: number;
}

/** What a rule authorises: its full definition. */
export interface RuleBound {
  id: string;
  cluster: string;
  spec: RuleSpec;
  proposer: string;
  createdAt: string;
}

/** Who approved, and when; the rule's expiry. Null in the seal (nobody has approved yet). */
export interface Approval {
  approver: string;
  approvedAt: string;
  /** A rule's end of life (a request's expiry is part of the request). */
  expiresAt: string | null;
  /** A request with a quorum above 1: every approver counted (sorted in the binding). */
  approvers?: readonly string[];
}

/** One approval counted towards a request's quorum (a row of pgsessions.request_approvals). */
export interface ApprovalRowBound {
  requestId: string;
  approver: string;
  approvedAt: string;
}

export interface Binder {
  /** The key is set: the binding is a guarantee, not only a checksum. */
  keyed: boolean;
  request(r: RequestBound, approval: Approval | null): string;
  rule(r: RuleBound, approval: Approval | null): string;
  /**
   * A rule execution's outcome as the app recorded it. Only an outcome carrying this counts as a slot given
   * back (migration 009): the database role can write an outcome, not this MAC.
   */
  outcome(o: OutcomeBound): string;
  /** One approval row of a request with a quorum: only a row carrying this is counted. */
  approval(a: ApprovalRowBound): string;
}

/** A rule execution's outcome: which claim (its id is its rule's: the role cannot update rule_id) ended how. */
export interface OutcomeBound {
  executionId: string;
  outcome: string;
}

function requestBody(r: RequestBound, approval: Approval | null): string {
  const quorum = r.quorum ?? QUORUM;
  // Above 1 the approvers counted are bound too; at 1 the body is exactly what it always was.
  const counted = quorum > QUORUM ? { approvers: [...(approval?.approvers ?? [])].sort() } : {};
  return canonicalJson({
    ...counted,
    kind: 'request',
    id: r.id,
    cluster: r.cluster,
    action: r.action,
    requester: r.requester,
    targets: r.targets.map((t) => ({
      pid: t.pid,
      backendStart: t.backendStart,
      queryStart: t.queryStart,
      backendType: t.backendType,
    })),
    escalateAfterSeconds: r.escalateAfterSeconds,
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    quorum,
    approver: approval?.approver ?? null,
    approvedAt: approval?.approvedAt ?? null,
  });
}

function ruleBody(r: RuleBound, approval: Approval | null): string {
  return canonicalJson({
    kind: 'rule',
    id: r.id,
    cluster: r.cluster,
    spec: r.spec,
    proposer: r.proposer,
    createdAt: r.createdAt,
    quorum: QUORUM,
    approver: approval?.approver ?? null,
    approvedAt: approval?.approvedAt ?? null,
    expiresAt: approval?.expiresAt ?? null,
  });
}

/**
 * Bindings under `key` (PGSESSIONS_AUDIT_KEY), or unkeyed. The MAC key is derived from the audit key with its
 * own label, so no audit hash (which the database role can read) can ever pass for a binding. The text names
 * how it was made: `hmac-sha256:<key id>:<hex>` or `sha256:<hex>`.
 */
export function createBinder(key: Uint8Array | null): Binder {
  const macKey = key ? createHmac('sha256', key).update('pgsessions binding key v1').digest() : null;
  const prefix = key ? `hmac-sha256:${auditKeyId(key)}:` : 'sha256:';
  const mac = (body: string) =>
    prefix +
    (macKey ? createHmac('sha256', macKey) : createHash('sha256'))
      .update('pgsessions binding v1\n')
      .update(body)
      .digest('hex');
  return {
    keyed: key !== null,
    request: (r, approval) => mac(requestBody(r, approval)),
    rule: (r, approval) => mac(ruleBody(r, approval)),
    outcome: (o) =>
      mac(canonicalJson({ kind: 'rule_execution_outcome', executionId: o.executionId, outcome: o.outcome })),
    approval: (a) =>
      mac(canonicalJson({ kind: 'request_approval', requestId: a.requestId, approver: a.approver, at: a.approvedAt })),
  };
}

/** Constant-time comparison of a stored binding with the one recomputed now; a missing one never matches. */
export function sameBinding(stored: string | null | undefined, expected: string): boolean {
  if (typeof stored !== 'string') return false;
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(expected, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Why a stored binding did not match, in words for the audit (the stored text is the attacker's: not echoed). */
export function mismatchReason(stored: string | null | undefined, binder: Binder): string {
  if (typeof stored !== 'string' || stored.length === 0)
    return 'no binding is stored: the row was not written by pgsessions';
  if (binder.keyed && stored.startsWith('sha256:'))
    return 'the stored binding is unkeyed although PGSESSIONS_AUDIT_KEY is set: written without the key';
  return 'the stored binding does not match what the row says now: the row was written or changed without the key';
}

type Stage = AuditDetailsByEvent['tampering_detected']['stage'];

/** The audit entry of a request refused because its binding did not match: what the row claims, as read. */
export function requestTampering(r: KillRequest, stage: Stage, reason: string): AuditEntryInput {
  return {
    requestId: r.id,
    event: 'tampering_detected',
    actor: null,
    cluster: r.cluster,
    details: {
      subject: 'request',
      id: r.id,
      stage,
      reason,
      claims: { requester: r.requester, approver: r.decidedBy, targets: r.targets.map((t) => t.pid), what: r.action },
    },
  };
}

/** The audit entry of a rule refused because its binding did not match. */
export function ruleTampering(r: Rule, stage: Stage, reason: string): AuditEntryInput {
  return {
    event: 'tampering_detected',
    actor: null,
    cluster: r.cluster,
    details: {
      subject: 'rule',
      id: r.id,
      stage,
      reason,
      claims: { requester: r.proposer, approver: r.approver, targets: [], what: ruleText(r.spec) },
    },
  };
}
