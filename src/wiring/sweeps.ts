// The sweeps: every few seconds, expire what is due, reconcile what a crash interrupted, end drains past their
// window and prune the audit trail's old entries. A failing sweep is logged once, and once more when it works again.
import type { Logger } from '../logger.js';
import { spellLog } from '../spell-log.js';
import { type EscalationParts, startEscalation } from './escalation.js';

export interface SweepParts {
  requests: { expireDue(): Promise<unknown>; reconcile(olderThanSeconds: number): Promise<unknown> };
  drains: { endDue(): Promise<unknown> };
  rules: { expireDue(): Promise<unknown>; reconcile(olderThanSeconds: number): Promise<unknown> };
  prune: () => Promise<unknown>;
  /** An approved request (or a claimed rule execution) with no outcome after this long is interrupted. */
  interruptedAfterSeconds: number;
  intervalMs: number;
  log: Logger;
  /** Escalation's own loop (src/wiring/escalation.ts: it waits for each deadline), stopped with the sweeps. */
  escalation?: EscalationParts;
}

export interface Sweeps {
  /** Stops the timer at once; the promise settles when the sweep under way (if any) is done. */
  stop(): Promise<void>;
}

/** Sweeps once now, then every intervalMs (an unref'd timer: it does not keep the process alive). */
export function startSweeps(p: SweepParts): Sweeps {
  let sweeping: Promise<void> = Promise.resolve();
  let busy = false;
  const trouble = spellLog(p.log, 'sweep failed; will try again', 'sweeps work again');
  // A sweep slower than the interval (a loaded host, a slow cluster) is never overlapped by the next one: two at
  // once in one process would each find the same forged drain end, say, and each give it back and audit it.
  const sweep = () => {
    if (busy) return;
    busy = true;
    sweeping = (async () => {
      try {
        await p.requests.expireDue();
        await p.requests.reconcile(p.interruptedAfterSeconds);
        // Drains past their window, ended (restored) once whichever replica gets each.
        await p.drains.endDue();
        await p.rules.expireDue();
        // Rule executions claimed by a replica that died before their outcome: reconciled, never re-run.
        await p.rules.reconcile(p.interruptedAfterSeconds);
        await p.prune();
        trouble.succeeded();
      } catch (error) {
        trouble.failed(error);
      } finally {
        busy = false;
      }
    })();
  };
  sweep();
  const escalation = p.escalation ? startEscalation(p.escalation) : null;
  const timer = setInterval(sweep, p.intervalMs);
  timer.unref();
  return {
    stop() {
      clearInterval(timer);
      return Promise.all([sweeping, escalation?.stop()]).then(() => undefined);
    },
  };
}
