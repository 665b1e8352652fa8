// Escalation's loop on each replica (docs/approvals.md "Escalation"): it reads what waits, escalates what is
// due (src/domain/escalation.ts; the claim makes each step happen once across replicas), and sleeps until the
// next escalation falls due, or pollMs at most to find new requests. So a step fires within milliseconds of its
// deadline (bench/escalation.ts measures it), while an idle replica asks the state database once per pollMs.
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { WebClient } from '@slack/web-api';
import type pg from 'pg';
import type { ApproverNoticesPort } from '../domain/approver-notices.js';
import type { Binder } from '../domain/binding.js';
import { escalateDue, type SweepResult } from '../domain/escalation.js';
import type { ClusterConfig, Config } from '../config.js';
import type { RequestMessagesPort } from '../domain/request-service.js';
import type { RuleMessagesPort } from '../domain/rule-service.js';
import type { KillRequest } from '../domain/types.js';
import type { Logger } from '../logger.js';
import { createEscalationStore } from '../postgres/escalation-store.js';
import type { AppendAuditIn } from '../postgres/request-store.js';
import { getIn } from '../postgres/rule-rows.js';
import { createEscalationMessages } from '../slack/adapters/escalation-messages.js';
import { webClientOptions } from '../slack/app.js';
import { spellLog } from '../spell-log.js';
import { perCluster } from './per-cluster.js';

export interface EscalationParts {
  statePool: pg.Pool;
  state: { appendIn: AppendAuditIn; binder: Binder; get(id: string): Promise<KillRequest | null> };
  client: WebClient;
  config: Config;
  requestMessages: RequestMessagesPort;
  ruleMessages: RuleMessagesPort;
  /** The clusters served now, and each one's settings (a reloaded clusters file may add or remove escalation). */
  clusters: { names(): string[]; config(name: string): ClusterConfig | undefined };
  notices?: ApproverNoticesPort;
  logger: Logger;
  /** How often new requests are looked for (the next due one is waited for exactly). Default 2 s. */
  pollMs?: number;
  /** Called after each sweep (tests and the bench). */
  onSwept?: (result: SweepResult) => void;
}

export interface EscalationLoop {
  /** Stops the timer at once; the promise settles when the sweep under way (if any) is done. */
  stop(): Promise<void>;
}

/** Who claims, in the escalations table: host, process and a random tail (two apps in one process differ). */
const replicaName = () => `${hostname()}:${process.pid}:${randomUUID().slice(0, 8)}`;

export function startEscalation(parts: EscalationParts): EscalationLoop {
  const log = parts.logger.child({ module: 'escalation' });
  const pollMs = parts.pollMs ?? 2_000;
  const { routingFor: routing } = perCluster(parts.config, (name) => parts.clusters.config(name));
  // A thread reply is posted once: a retried post that had landed would say it twice.
  const once = new WebClient(parts.config.slack.botToken, {
    ...webClientOptions(parts.config, log.child({ module: 'web-api' })),
    retryConfig: { retries: 0 },
  });
  const store = createEscalationStore(parts.statePool, parts.state.appendIn, parts.state.binder);
  const messages = createEscalationMessages(once, {
    // Read again: a decision made since the claim must not be painted over with the pending message.
    request: async (r) => {
      const now = await parts.state.get(r.id);
      if (now) await parts.requestMessages.update(now);
    },
    rule: async (r) => {
      const now = await getIn(parts.statePool, r.id);
      if (now) await parts.ruleMessages.update(now);
    },
  });
  const replica = replicaName();
  const unsealedSeen = new Set<string>();
  const trouble = spellLog(log, 'escalation sweep failed; will try again', 'escalation sweeps work again');
  const enabled = () => parts.clusters.names().some((name) => routing(name).escalate !== null);

  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let sweeping: Promise<void> = Promise.resolve();

  const sweep = async (): Promise<number> => {
    if (!enabled()) return pollMs;
    try {
      const result = await escalateDue({
        store,
        notices: parts.notices,
        messages,
        routing,
        replica,
        onTrouble: (what, context, error) => {
          const key = `${String(context.subject)}:${String(context.id)}`;
          if (error === undefined && unsealedSeen.has(key)) return;
          if (error === undefined) unsealedSeen.add(key);
          log.warn({ ...context, ...(error === undefined ? {} : { err: error }) }, what);
        },
      });
      trouble.succeeded();
      for (const { subject, step } of result.escalated) {
        const id = subject.kind === 'request' ? subject.request.id : subject.rule.id;
        log.info({ subject: subject.kind, id, tier: step.tier, told: step.told.length }, 'escalated');
      }
      parts.onSwept?.(result);
      // A little after the deadline: the claim checks it by the database's clock.
      return result.nextInSeconds === null ? pollMs : Math.min(pollMs, result.nextInSeconds * 1000 + 25);
    } catch (error) {
      trouble.failed(error);
      return pollMs;
    }
  };

  const schedule = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(run, Math.max(0, ms));
    timer.unref();
  };
  function run() {
    sweeping = sweep().then(schedule);
  }
  run();
  return {
    stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      return sweeping.then(() => undefined);
    },
  };
}
