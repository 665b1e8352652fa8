// Prometheus metrics (GET /metrics): commands by kind and outcome, request decisions, executions by result,
// standing approvals (their decisions, executions and active rules per cluster), refusals of the workspace
// guard, the audit outbox backlog and delivery failures, and per-cluster query latency. One registry per app
// instance, so several instances in one process (tests) don't collide.
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Outcome } from './domain/outcome.js';
import type { RequestService } from './domain/request-service.js';
import type { KillRequest } from './domain/types.js';
import type { RuleService } from './domain/rule-service.js';
import type { ManagedClusterPort } from './domain/ports.js';

export interface MetricsSources {
  /** Requests by status, read from the state database at scrape time. */
  requestsByStatus(): Promise<Record<string, number>>;
  outboxBacklog(): Promise<number>;
  /** Approved standing approvals per cluster, read at scrape time. */
  activeRules?(): Promise<Record<string, number>>;
}

/** The counters and the latency histogram, registered in `registry`. */
function createInstruments(registry: Registry) {
  const commands = new Counter({
    name: 'pgsessions_commands_total',
    help: 'Slash commands handled, by subcommand and outcome (ok, invalid, refused, unreachable, error).',
    labelNames: ['kind', 'outcome'] as const,
    registers: [registry],
  });
  const decisions = new Counter({
    name: 'pgsessions_request_transitions_total',
    help: 'Request state changes made by this instance (requested, approval_recorded, approved, denied, withdrawn, expired, executed, failed), and refusals by code.',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  const executions = new Counter({
    name: 'pgsessions_executions_total',
    help: 'Signalled targets by result (terminated, cancelled, still_running, gone, permission_denied, refused, error, unreachable).',
    labelNames: ['action', 'result'] as const,
    registers: [registry],
  });
  const deliveryFailures = new Counter({
    name: 'pgsessions_audit_delivery_failures_total',
    help: 'Failed attempts to post an audit entry to the audit channel (each is retried).',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const delivered = new Counter({
    name: 'pgsessions_audit_delivered_total',
    help: 'Audit entries posted to the audit channel.',
    registers: [registry],
  });
  const ruleExecutions = new Counter({
    name: 'pgsessions_rule_executions_total',
    help: 'Matches handled under a standing approval by this instance, by action and outcome (cancelled, terminated, gone, still_running, permission_denied, refused, error, dry_run, interrupted).',
    labelNames: ['action', 'outcome'] as const,
    registers: [registry],
  });
  const ruleDecisions = new Counter({
    name: 'pgsessions_rule_decisions_total',
    help: 'Standing approval state changes seen by this instance (proposed, approved, denied, withdrawn, revoked, expired, exhausted), and refusals by code.',
    labelNames: ['decision'] as const,
    registers: [registry],
  });
  const guardRefusals = new Counter({
    name: 'pgsessions_guard_refusals_total',
    help: 'Commands and clicks refused before any listener: from another workspace, from a guest, or from someone Slack could not vouch for.',
    labelNames: ['reason'] as const,
    registers: [registry],
  });
  const queryLatency = new Histogram({
    name: 'pgsessions_cluster_query_seconds',
    help: 'Latency of queries against managed clusters, by cluster and query.',
    labelNames: ['cluster', 'query', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  return {
    commands,
    decisions,
    executions,
    deliveryFailures,
    delivered,
    ruleExecutions,
    ruleDecisions,
    guardRefusals,
    queryLatency,
  };
}

/** The gauges read at scrape time from the sources (none until setSources); a failed read leaves them empty. */
function registerGauges(registry: Registry, sources: () => MetricsSources | null): void {
  new Gauge({
    name: 'pgsessions_requests',
    help: 'Requests in the state database by status.',
    labelNames: ['status'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const from = sources();
      if (!from) return;
      try {
        for (const [status, count] of Object.entries(await from.requestsByStatus())) this.set({ status }, count);
      } catch {
        // state database unreachable: leave the gauge empty rather than fail the scrape
      }
    },
  });
  new Gauge({
    name: 'pgsessions_audit_outbox_backlog',
    help: 'Audit entries not yet delivered to the audit channel.',
    registers: [registry],
    async collect() {
      const from = sources();
      if (!from) return;
      try {
        this.set(await from.outboxBacklog());
      } catch {
        // see above
      }
    },
  });

  new Gauge({
    name: 'pgsessions_rules_active',
    help: 'Approved standing approvals per cluster (in the state database, whichever replica approved them).',
    labelNames: ['cluster'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      const from = sources();
      if (!from?.activeRules) return;
      try {
        for (const [cluster, count] of Object.entries(await from.activeRules())) this.set({ cluster }, count);
      } catch {
        // see above
      }
    },
  });
}

export function createMetrics() {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'pgsessions_' });
  let sources: MetricsSources | null = null;
  const m = createInstruments(registry);
  registerGauges(registry, () => sources);

  return {
    registry,
    setSources(value: MetricsSources) {
      sources = value;
    },
    command(kind: string, outcome: string) {
      m.commands.inc({ kind, outcome });
    },
    transition(state: string) {
      m.decisions.inc({ state });
    },
    execution(action: string, result: string) {
      m.executions.inc({ action, result });
    },
    ruleExecution(action: string, outcome: string) {
      m.ruleExecutions.inc({ action, outcome });
    },
    ruleDecision(decision: string) {
      m.ruleDecisions.inc({ decision });
    },
    guardRefused(reason: string) {
      m.guardRefusals.inc({ reason });
    },
    deliveryFailed(reason: string) {
      m.deliveryFailures.inc({ reason });
    },
    deliveredOne() {
      m.delivered.inc();
    },
    /** Times a cluster query and records it, whatever its outcome. */
    async timeQuery<T>(cluster: string, query: string, work: () => Promise<T>): Promise<T> {
      const end = m.queryLatency.startTimer({ cluster, query });
      try {
        const value = await work();
        end({ outcome: 'ok' });
        return value;
      } catch (error) {
        end({ outcome: 'error' });
        throw error;
      }
    },
    async render(): Promise<{ contentType: string; body: string }> {
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

// ---- instrumentation: decorators that count without touching the code they wrap ----------------------

const TIMED_CLUSTER_METHODS = [
  'capabilities',
  'list',
  'blocking',
  'replication',
  'byPid',
  'bulkTargets',
  'reliefTargets',
  'signal',
  'stillThere',
] as const;

/** Times every call of the cluster port; whatever else the adapter carries (its pool) passes through. */
export function instrumentCluster<C extends ManagedClusterPort>(cluster: C, metrics: Metrics): C {
  const timed = { ...cluster };
  for (const method of TIMED_CLUSTER_METHODS) {
    const inner = cluster[method].bind(cluster) as (...args: unknown[]) => Promise<unknown>;
    (timed as Record<string, unknown>)[method] = (...args: unknown[]) =>
      metrics.timeQuery(cluster.name, method, () => inner(...args));
  }
  return timed;
}

export function instrumentRequests(service: RequestService, metrics: Metrics): RequestService {
  const count = (result: Outcome<KillRequest>, success: string): Outcome<KillRequest> => {
    if (!result.ok) {
      metrics.transition(`refused_${result.refusal.code}`);
      return result;
    }
    metrics.transition(success);
    const request = result.value;
    if (request.status === 'executed' || request.status === 'failed') {
      metrics.transition(request.status);
      if (request.result?.unreachable) metrics.execution(request.action, 'unreachable');
      for (const o of request.result?.outcomes ?? []) metrics.execution(request.action, o.outcome);
    }
    return result;
  };
  return {
    ...service,
    requestOne: async (ask) => count(await service.requestOne(ask), 'requested'),
    requestAll: async (ask) => count(await service.requestAll(ask), 'requested'),
    requestFrozenCancel: async (ask) => count(await service.requestFrozenCancel(ask), 'requested'),
    approve: async (id, user) => {
      const result = await service.approve(id, user);
      // An approval short of the request's quorum leaves it pending: recorded, not approved.
      return count(result, result.ok && result.value.status === 'pending' ? 'approval_recorded' : 'approved');
    },
    deny: async (id, user) => count(await service.deny(id, user), 'denied'),
    withdraw: async (id, user) => count(await service.withdraw(id, user), 'withdrawn'),
    expireDue: async () => {
      const expired = await service.expireDue();
      for (let i = 0; i < expired.length; i += 1) metrics.transition('expired');
      return expired;
    },
    reconcile: async (olderThanSeconds) => {
      const done = await service.reconcile(olderThanSeconds);
      for (let i = 0; i < done.length; i += 1) metrics.transition('reconciled');
      return done;
    },
  };
}

/**
 * Counts what the rule service decides and does. An execution that reaches a rule's cap ends it: that is
 * counted as "exhausted" here, where the execution that ended it is seen.
 */
export function instrumentRules(service: RuleService, metrics: Metrics): RuleService {
  const count = <T>(result: Outcome<T>, decision: string): Outcome<T> => {
    metrics.ruleDecision(result.ok ? decision : `refused_${result.refusal.code}`);
    return result;
  };
  return {
    ...service,
    propose: async (ask) => count(await service.propose(ask), 'proposed'),
    approve: async (id, user) => count(await service.approve(id, user), 'approved'),
    deny: async (id, user) => count(await service.deny(id, user), 'denied'),
    withdraw: async (id, user) => count(await service.withdraw(id, user), 'withdrawn'),
    revoke: async (id, user) => count(await service.revoke(id, user), 'revoked'),
    expireDue: async () => {
      const ended = await service.expireDue();
      for (const rule of ended) metrics.ruleDecision(rule.status);
      return ended;
    },
    apply: async (cluster, incidents, fence) => {
      const done = await service.apply(cluster, incidents, fence);
      for (const e of done) {
        metrics.ruleExecution(e.rule.spec.action, e.outcome);
        if (e.rule.status === 'exhausted') metrics.ruleDecision('exhausted');
      }
      return done;
    },
    reconcile: async (olderThanSeconds) => {
      // Each reconciled claim is an execution interrupted by a restart; it may be the one that ended its rule.
      const done = await service.reconcile(olderThanSeconds);
      for (const rule of done) {
        metrics.ruleExecution(rule.spec.action, 'interrupted');
        if (rule.status === 'exhausted') metrics.ruleDecision('exhausted');
      }
      return done;
    },
  };
}
