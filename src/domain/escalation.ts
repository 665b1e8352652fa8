// Escalation (issue 16 §2, docs/approvals.md "Escalation"): a request or rule proposal nobody decided within
// its cluster's `escalate.afterSeconds` is told to the next tier (`escalate.to`, users and user groups read
// when it fires). Each step happens once across replicas: the store claims it (a row per subject and tier,
// with its `escalated` audit entry, in one transaction that re-checks the subject is still waiting and sealed),
// and only the replica that claimed it messages anybody. Pure orchestration over ports: no Slack, no pg.
import type { ApproverNoticesPort, NoticeSubject } from './approver-notices.js';
import type { AuditEntryInput } from './audit.js';
import type { ApprovalRouting, Escalation } from './routing.js';
import { ruleText } from './rules.js';

/** The first escalation. The settings have one list today; the table and the audit have room for tier 2, 3… */
export const FIRST_TIER = 1;

/** A request or rule proposal waiting for a decision, not yet escalated at the tier asked about. */
export interface Waiting {
  kind: 'request' | 'rule';
  id: string;
  cluster: string;
  /** Seconds since it was asked, by the state database's clock (the same clock the claim checks). */
  ageSeconds: number;
}

/** A waiting subject whose escalation is due now. */
export interface Due {
  waiting: Waiting;
  tier: number;
  escalation: Escalation;
}

/**
 * What the claim found. claimed: this replica escalates (the row and the audit entry are written). Otherwise
 * nothing was written: taken (another replica, or an earlier sweep, claimed it), decided (no longer waiting),
 * unsealed (its seal does not hold: a row pgsessions did not write, never escalated).
 */
export type ClaimResult = { claimed: NoticeSubject } | { skipped: 'taken' | 'decided' | 'unsealed' };

export interface EscalationStorePort {
  /** Pending requests and live proposals with no escalation at `tier` yet. */
  waiting(tier: number): Promise<Waiting[]>;
  /**
   * In one transaction: the subject re-read and locked, still waiting, asked at least afterSeconds ago, its
   * seal checked; the claim inserted (ON CONFLICT DO NOTHING) and, when it was this one, `entry` audited.
   */
  claim(due: Due, replica: string, entry: (subject: NoticeSubject) => AuditEntryInput): Promise<ClaimResult>;
}

/** One escalation step as the channel's thread tells it. */
export interface EscalationStep {
  tier: number;
  afterSeconds: number;
  /** Users and groups as configured. */
  to: string[];
  /** The users actually direct-messaged (groups expanded; never the requester; nobody told twice). */
  told: string[];
}

export interface EscalationMessagesPort {
  /** A reply in the subject's thread saying it was escalated and to whom, and its channel message refreshed. */
  escalated(subject: NoticeSubject, step: EscalationStep): Promise<void>;
}

export interface EscalationDeps {
  store: EscalationStorePort;
  /** Direct messages with the buttons; absent: the thread still says so, nobody is messaged directly. */
  notices?: ApproverNoticesPort;
  messages: EscalationMessagesPort;
  routing: (cluster: string) => ApprovalRouting;
  /** This replica, as the claim records it. */
  replica: string;
  /** A step that failed half way (the claim stands: it is never repeated), or an unsealed subject skipped. */
  onTrouble?: (what: string, context: Record<string, unknown>, error?: unknown) => void;
}

/** Which of the waiting subjects are due now, and in how many seconds the next one will be (null: none). */
export function dueEscalations(
  waiting: readonly Waiting[],
  routing: (cluster: string) => ApprovalRouting,
  tier: number = FIRST_TIER,
): { due: Due[]; nextInSeconds: number | null } {
  const due: Due[] = [];
  let nextInSeconds: number | null = null;
  for (const w of waiting) {
    const escalation = routing(w.cluster).escalate;
    if (!escalation || escalation.to.length === 0 || !(escalation.afterSeconds > 0)) continue;
    const left = escalation.afterSeconds - w.ageSeconds;
    if (left <= 0) due.push({ waiting: w, tier, escalation });
    else nextInSeconds = nextInSeconds === null ? left : Math.min(nextInSeconds, left);
  }
  return { due, nextInSeconds };
}

const subjectId = (s: NoticeSubject) => (s.kind === 'request' ? s.request.id : s.rule.id);

/** The `escalated` audit entry of one step (src/domain/audit.ts): to is the tier as configured. */
export function escalatedEntry(subject: NoticeSubject, tier: number, escalation: Escalation): AuditEntryInput {
  const common = { tier, to: [...escalation.to], afterSeconds: escalation.afterSeconds };
  if (subject.kind === 'request') {
    const r = subject.request;
    const pids = r.targets.map((t) => t.pid);
    const what = `${r.action} of ${pids.length === 1 ? `pid ${pids[0]}` : `${pids.length} sessions`} on ${r.cluster}`;
    return {
      requestId: r.id,
      event: 'escalated',
      actor: null,
      cluster: r.cluster,
      details: { subject: 'request', id: r.id, requester: r.requester, what, ...common },
    };
  }
  const p = subject.rule;
  return {
    event: 'escalated',
    actor: null,
    cluster: p.cluster,
    details: { subject: 'rule', id: p.id, requester: p.proposer, what: ruleText(p.spec), ...common },
  };
}

/** Tells the tier and the thread of one claimed step; a failure is reported, never retried (the claim stands). */
async function carryOut(deps: EscalationDeps, subject: NoticeSubject, due: Due): Promise<EscalationStep> {
  const { escalation, tier } = due;
  let told: string[] = [];
  const context = { subject: subject.kind, id: subjectId(subject), tier };
  if (deps.notices) {
    try {
      told = await deps.notices.tell(subject, escalation.to, tier);
    } catch (error) {
      deps.onTrouble?.('escalation: direct messages failed', context, error);
    }
  }
  const step = { tier, afterSeconds: escalation.afterSeconds, to: [...escalation.to], told };
  try {
    await deps.messages.escalated(subject, step);
  } catch (error) {
    deps.onTrouble?.('escalation: the thread reply or the message update failed', context, error);
  }
  return step;
}

export interface SweepResult {
  /** The steps this replica claimed and carried out. */
  escalated: Array<{ subject: NoticeSubject; step: EscalationStep }>;
  /** Seconds until the next escalation falls due among those waiting now (null: none). */
  nextInSeconds: number | null;
}

/** One sweep: every due escalation claimed, and those this replica won carried out. */
export async function escalateDue(deps: EscalationDeps): Promise<SweepResult> {
  const { due, nextInSeconds } = dueEscalations(await deps.store.waiting(FIRST_TIER), deps.routing);
  const escalated: SweepResult['escalated'] = [];
  for (const d of due) {
    const result = await deps.store.claim(d, deps.replica, (subject) => escalatedEntry(subject, d.tier, d.escalation));
    if ('skipped' in result) {
      if (result.skipped === 'unsealed') {
        deps.onTrouble?.('escalation: skipped a waiting row whose seal does not hold (not written by pgsessions)', {
          subject: d.waiting.kind,
          id: d.waiting.id,
        });
      }
      continue;
    }
    escalated.push({ subject: result.claimed, step: await carryOut(deps, result.claimed, d) });
  }
  return { escalated, nextInSeconds };
}
