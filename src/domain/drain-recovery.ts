// A drain marked ended without the app's seal (docs/drain.md). The runtime role can write state 'ended' (every
// end the app makes goes through it), so whoever holds only its password could end a drain without giving the
// database back, leaving it closed for ever. An end counts only when sealed (drainEndSeal, a MAC under
// PGSESSIONS_AUDIT_KEY); once its window is over, the sweeper gives back a drain ended without that seal,
// exactly as recorded (if the record itself is authentic, and only if the database still has what the drain
// set), and audits tampering_detected and drain_ended. The row stays as the attacker left it (an end is final
// for the runtime role); the drain_ended entry carries a MAC saying it was given back (`recovered`), so it is
// done once, also across restarts: a database closed by hand afterwards is never opened by a later sweep.
import { sameBinding, type Binder } from './binding.js';
import type { AuditEntryInput } from './audit.js';
import {
  drainBinding,
  drainedValues,
  drainEndSeal,
  drainSummary,
  endSentence,
  type Drain,
  type DrainEndOutcome,
} from './drain.js';
import type { DrainSqlPort, DrainStorePort } from './drain-ports.js';

export interface RecoveryDeps {
  drains: Pick<DrainStorePort, 'finishedDue' | 'recoveries' | 'appendAudit'>;
  cluster(name: string): { drain: DrainSqlPort } | undefined;
  binder: Binder;
  /** Says the end in the request's thread. */
  tell(drain: Drain, sentence: string): Promise<void>;
}

/** Whether this end is the app's: its seal matches how the row says it ended. */
export function sealedEnd(binder: Binder, d: Drain): boolean {
  if ((d.state !== 'ended' && d.state !== 'refused') || d.endWhy === null || d.outcome === null) return false;
  const seal = drainEndSeal(binder, d.id, { state: d.state, by: d.endedBy, why: d.endWhy, outcome: d.outcome });
  return sameBinding(d.endBinding, seal);
}

/** The mark of a drain given back after an unsealed end (in its drain_ended entry): only the app can make it. */
export function recoveryMark(binder: Binder, id: string): string {
  return binder.outcome({ executionId: `drain-recovered:${id}`, outcome: 'recovered' });
}

function forgedEnd(d: Drain, authentic: boolean): AuditEntryInput {
  return {
    requestId: d.requestId,
    event: 'tampering_detected',
    actor: null,
    cluster: d.cluster,
    details: {
      subject: 'drain',
      id: d.id,
      stage: 'drain_end',
      reason: authentic
        ? 'the drain was marked ended without pgsessions\u2019 key (its end carries no valid seal): the database is given back as recorded'
        : 'the drain was marked ended without pgsessions\u2019 key, and its record does not match its binding: nothing was changed',
      claims: { requester: d.requester, approver: d.approver, targets: [], what: `drain ${d.database}` },
    },
  };
}

export function createDrainRecovery(deps: RecoveryDeps) {
  /** Ends already checked by this process (an end is final for the runtime role: it cannot change afterwards). */
  const checked = new Set<string>();

  /** Gives it back if its record is authentic (and the database still has what the drain set); audited once. */
  async function recover(d: Drain): Promise<string> {
    const authentic = sameBinding(d.binding, drainBinding(deps.binder, d));
    let outcome: DrainEndOutcome = { kind: 'tampered' };
    if (authentic) {
      const port = deps.cluster(d.cluster);
      if (!port) throw new Error('the cluster is no longer configured');
      outcome = await port.drain.restore(d.database, d.method, drainedValues(d), {
        allowConnections: d.prevAllowConnections,
        connectionLimit: d.prevConnectionLimit,
      });
    }
    const sentence = endSentence(d, 'expired', outcome, null);
    await deps.drains.appendAudit(forgedEnd(d, authentic));
    await deps.drains.appendAudit({
      requestId: d.requestId,
      event: 'drain_ended',
      actor: null,
      cluster: d.cluster,
      details: {
        ...drainSummary(d),
        why: 'expired',
        endedBy: null,
        outcome: sentence,
        recovered: recoveryMark(deps.binder, d.id),
      },
    });
    if (authentic) await deps.tell(d, sentence).catch(() => undefined);
    return sentence;
  }

  /** Gives back every drain ended without the app's seal (once its window is over); what was said. */
  return async function recoverForgedEnds(): Promise<string[]> {
    const said: string[] = [];
    for (const d of await deps.drains.finishedDue()) {
      if (checked.has(d.id)) continue;
      const mark = recoveryMark(deps.binder, d.id);
      if (sealedEnd(deps.binder, d) || (await deps.drains.recoveries(d.id)).some((m) => sameBinding(m, mark))) {
        checked.add(d.id);
        continue;
      }
      try {
        said.push(await recover(d));
        checked.add(d.id);
      } catch {
        // The cluster is down, say: tried again at the next sweep.
      }
    }
    return said;
  };
}
