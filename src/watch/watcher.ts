// The watcher: for each cluster this replica leads, one look per interval → incidents (domain) → the
// incident store → alert messages. Everything it decides is in src/domain/watch.ts; this file only runs the
// loop, in order, and never lets one cluster's trouble stop another's.
import type { AuditEntryInput } from '../domain/audit.js';
import { ALERT_FAILURES } from '../domain/messages.js';
import type { QueryTextMode } from '../domain/policy.js';
import {
  clearReasonFor,
  clusterDownIncident,
  detectIncidents,
  planDelivery,
  ruleCandidates,
  shapeIncident,
  planIncidents,
  reliefOf,
  type ConnectionRelief,
  type Incident,
  type LiveIncident,
  type WatchSnapshot,
} from '../domain/watch.js';
import type { WatchSettings } from '../config.js';
import type { Logger } from '../logger.js';
import type { AlertMessagesPort, IncidentStorePort, WatchReaderPort } from '../domain/ports.js';
import { describeConnectionError, describeReadFailure } from '../postgres/pools.js';
import type { Leadership } from './leadership.js';
import type { Fence } from '../domain/lease.js';
import type { RuleExecution } from '../domain/rule-service.js';
import { ruleDetectionThresholds, type RuleSpec } from '../domain/rules.js';

export interface WatchedCluster {
  name: string;
  reader: WatchReaderPort;
  settings: WatchSettings & { channel: string };
}

export interface WatcherDeps {
  clusters: WatchedCluster[];
  store: IncidentStorePort;
  messages: AlertMessagesPort;
  leadership: Leadership;
  audit(entry: AuditEntryInput): Promise<unknown>;
  queryText: QueryTextMode;
  logger: Logger;
  /** Seconds between two updates of one message (30 in production). */
  updateGapSeconds: number;
  /** Open alert messages per cluster before the rest go into one summary. */
  maxOpenMessages: number;
  /** Failed looks in a row before the cluster is an incident (one blip is not). */
  downAfterFailures: number;
  /** Standing approvals: applied to what each look detects, before anything is stored or posted. */
  rules?: {
    /** `candidates` detects again on the same snapshot with the thresholds the active rules need. */
    apply(
      cluster: string,
      candidates: (specs: readonly RuleSpec[]) => Incident[],
      fence: Fence,
    ): Promise<RuleExecution[]>;
    anyActive(cluster: string): Promise<boolean>;
  };
  /** Called after each look of a cluster this replica leads (metrics, benchmarks). */
  onLook?: (cluster: string, readMs: number) => void;
}

export type SnoozeResult = { ok: true; incident: LiveIncident } | { ok: false; message: string };

/** An open query storm as the store has it now: its frozen sessions and what the form shows of them. */
export type StormResult =
  | {
      ok: true;
      cluster: string;
      /** The watch channel the alert is in: the request is posted there. */
      channel: string;
      members: Incident['members'];
      query: string | null;
      applications: string[];
      oldestSeconds: number;
    }
  | { ok: false; message: string };

/** An open connections incident as the store has it now: the application to relieve it from, and where. */
export type ReliefResult =
  | { ok: true; cluster: string; channel: string; relief: ConnectionRelief }
  | { ok: false; message: string };

export interface Watcher {
  /** mayView: the sentence refusing this user the incident's cluster (PGSESSIONS_VIEWERS), or null when they may look. */
  snooze(
    incidentId: string,
    minutes: number,
    user: string,
    mayView?: (cluster: string) => Promise<string | null>,
  ): Promise<SnoozeResult>;
  /** The sessions of an open query-storm incident, read from the incident store (never from a payload). */
  storm(incidentId: string): Promise<StormResult>;
  /** The application a connections alert offers to relieve, read from the incident store (never from a payload). */
  relief(incidentId: string): Promise<ReliefResult>;
  stop(): Promise<void>;
}

/** While a rule is active on a cluster, it is looked at at least this often, whatever its interval. */
export const RULE_LOOK_SECONDS = 2;

export function startWatcher(deps: WatcherDeps): Watcher {
  const { store, messages, leadership, logger } = deps;
  let stopped = false;
  const wakers = new Set<() => void>();
  const failures = new Map<string, number>();
  /** Clusters with an approved rule: looked at at least every RULE_LOOK_SECONDS. */
  const ruled = new Set<string>();

  // Query text is shaped (PGSESSIONS_QUERY_TEXT) before it is stored or posted.
  const shape = (i: Incident): Incident => shapeIncident(i, deps.queryText);

  /** One look at a cluster this replica leads (false: another replica leads it, nothing was done). */
  async function look(c: WatchedCluster): Promise<boolean> {
    const fence = await leadership.lead(c.name);
    if (!fence) return false;
    let snapshot: WatchSnapshot | null = null;
    let error: string | null = null;
    try {
      snapshot = await c.reader.read({
        walsenders: c.settings.thresholds.replicationLagBytes !== null,
        connectionsShare: c.settings.thresholds.connectionsShare,
      });
      failures.set(c.name, 0);
      deps.onLook?.(c.name, c.reader.lastReadMs());
    } catch (e) {
      failures.set(c.name, (failures.get(c.name) ?? 0) + 1);
      // The alert says what kind of failure, never the error's text: it names the host and port.
      error = describeReadFailure(e);
      logger.warn({ cluster: c.name, err: { message: describeConnectionError(e) } }, 'could not look at the cluster');
    }
    const live = await store.live(c.name, deps.updateGapSeconds);
    const open = live.filter((r) => r.status === 'open');
    let detected: Incident[];
    if (snapshot) {
      const seen = snapshot;
      const raw = detectIncidents(seen, c.settings.thresholds);
      await applyRules(fence, (specs) => ruleCandidates(seen, ruleDetectionThresholds(c.settings.thresholds, specs)));
      detected = raw.map(shape);
    } else if ((failures.get(c.name) ?? 0) >= deps.downAfterFailures) {
      // What was open stays open as it was: nothing is known about it while the cluster cannot be read.
      detected = [
        ...open.filter((r) => r.cause !== 'cluster-down').map((r) => r.incident),
        clusterDownIncident(c.name, error ?? 'unknown error'),
      ];
    } else {
      detected = open.map((r) => r.incident);
    }
    const plan = planIncidents(open, detected);
    for (const incident of plan.open) await store.open(incident, c.settings.channel, fence);
    for (const { record, incident } of plan.refresh) await store.refresh(record.id, incident, fence);
    for (const record of plan.clear) {
      const root = record.incident.root;
      // Read from the state database, not remembered: the replica that executed the rule may not be the
      // one clearing the alert (a leader change, a restart).
      const byRule =
        root && deps.rules ? await store.ruleExecutedOn(c.name, root.pid, root.backendStart, root.queryStart) : null;
      if (byRule) {
        await store.clear(
          record.id,
          {
            kind: 'rule',
            ruleId: byRule.ruleId,
            action: byRule.outcome,
            proposer: byRule.proposer,
            approver: byRule.approver,
          },
          fence,
        );
        continue;
      }
      if (record.cause === 'query-storm') {
        // A storm is relieved by the bulk cancel of its frozen sessions, whichever of them the root now is.
        const bulk = snapshot ? await store.stormRequestOn(c.name, record.incident.members) : null;
        // Still signalling: clear on a later look, when it can say how many were cancelled.
        if (bulk?.executing) continue;
        const relievedBy =
          bulk && bulk.cancelled > 0
            ? {
                requestId: bulk.requestId,
                outcome: 'cancelled' as const,
                approver: bulk.approver,
                counts: { done: bulk.cancelled, of: bulk.targets },
              }
            : null;
        await store.clear(record.id, clearReasonFor(record, snapshot, relievedBy), fence);
        continue;
      }
      let executed = root ? await store.executedOn(c.name, root.pid, root.backendStart) : null;
      // A cancel ended the incident only if it cancelled the query the incident was about.
      if (executed?.outcome === 'cancelled' && root && executed.queryStart !== root.queryStart) executed = null;
      const reason = clearReasonFor(
        record,
        snapshot,
        executed ? { requestId: executed.requestId, outcome: executed.outcome, approver: executed.approver } : null,
      );
      await store.clear(record.id, reason, fence);
    }
    await deliver(c, fence);
    return true;
  }

  async function applyRules(fence: Fence, candidates: (specs: readonly RuleSpec[]) => Incident[]): Promise<void> {
    if (!deps.rules) return;
    const cluster = fence.cluster;
    try {
      // One cheap EXISTS per look while no rule is active; the rules themselves are read only when one is.
      if (!(await deps.rules.anyActive(cluster))) {
        ruled.delete(cluster);
        return;
      }
      ruled.add(cluster);
      // What they did is in the state database: the alert's clear reason is read from there.
      await deps.rules.apply(cluster, candidates, fence);
    } catch (error) {
      // The state database or a bug: the alerts still go out; the next look tries the rules again.
      logger.error({ cluster, err: error }, 'applying standing approvals failed');
    }
  }

  async function deliver(c: WatchedCluster, fence: Fence): Promise<void> {
    const live = await store.live(c.name, deps.updateGapSeconds);
    const { steps, summarised } = planDelivery(live, deps.maxOpenMessages);
    for (const step of steps) {
      const r = step.incident;
      if (step.kind === 'settle') {
        await store.shown(r.id, r.version, r.status);
        continue;
      }
      if (step.kind === 'post') {
        const claim = await store.claimPost(r.id, fence);
        if (!claim) continue;
        const sent = await messages.post(r);
        if (sent.ok) {
          await store.posted(r.id, sent.ts, r.version, r.status);
          continue;
        }
        await store.postFailed(r.id, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
        logger.warn({ cluster: c.name, incident: r.id, error: sent.error }, 'alert not posted; will try again');
        if (sent.retryAfterSeconds !== null) return; // rate limited: nothing more to Slack this look
        continue;
      }
      const sent = await messages.update(r);
      if (sent.ok) {
        await store.shown(r.id, r.version, r.status);
        continue;
      }
      await store.updateFailed(r.id, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
      logger.warn({ cluster: c.name, incident: r.id, error: sent.error }, 'alert not updated; will try again');
      if (sent.retryAfterSeconds !== null) return;
    }
    const body = messages.summaryBody(c.name, summarised);
    const summary = await store.summary(c.name, deps.updateGapSeconds);
    if (body === (summary?.body ?? '') || (summary && !summary.postDue)) return;
    if (body === '' && !summary?.messageTs) return;
    const sent = await messages.summary(c.name, c.settings.channel, summary?.messageTs ?? null, summarised);
    if (sent.ok) await store.summaryShown(c.name, c.settings.channel, sent.ts, body);
    else await store.summaryFailed(c.name, c.settings.channel, sent.retryAfterSeconds ?? c.settings.intervalSeconds);
  }

  /** Sleeps up to `ms`; stop() ends every nap at once. */
  const nap = (ms: number) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        wakers.delete(done);
        resolve();
      }
      wakers.add(done);
    });

  /** A rule approved on any replica is noticed within RULE_LOOK_SECONDS, not after a long watch interval. */
  async function ruleAppeared(cluster: string): Promise<boolean> {
    if (!deps.rules || ruled.has(cluster)) return false;
    const active = await deps.rules.anyActive(cluster).catch(() => false);
    if (active) ruled.add(cluster);
    return active;
  }

  const loops = deps.clusters.map(async (c) => {
    while (!stopped) {
      const started = Date.now();
      let led = false;
      try {
        led = await look(c);
      } catch (error) {
        // The state database or a bug: logged, and the next look tries again.
        logger.error({ cluster: c.name, err: error }, 'watch look failed');
      }
      const intervalMs = Math.min(c.settings.intervalSeconds, ruled.has(c.name) ? RULE_LOOK_SECONDS : Infinity) * 1000;
      const until = Math.max(started + intervalMs, Date.now() + 50);
      while (!stopped && Date.now() < until) {
        await nap(Math.min(until - Date.now(), RULE_LOOK_SECONDS * 1000));
        if (stopped || Date.now() >= until) break;
        // A takeover (the lease renewal runs on its own timer) is acted on now, not after a long interval.
        if (!led && leadership.leads(c.name)) break;
        if (await ruleAppeared(c.name)) break;
      }
    }
  });

  return {
    async snooze(incidentId, minutes, user, mayView) {
      // Audited before it takes effect: a snooze the audit log cannot record does not happen.
      const known = await store.get(incidentId);
      if (!known) return { ok: false, message: ALERT_FAILURES.unknown_alert };
      // Silencing an alert for everyone takes the right to look at its cluster: checked before anything is audited.
      const refused = mayView ? await mayView(known.cluster) : null;
      if (refused !== null) return { ok: false, message: refused };
      await deps.audit({
        event: 'snoozed',
        actor: user,
        cluster: known.cluster,
        details: { incident: known.id, cause: known.cause, minutes },
      });
      const incident = await store.snooze(incidentId, minutes, user);
      if (!incident) return { ok: false, message: ALERT_FAILURES.unknown_alert };
      if (incident.messageTs) {
        const sent = await messages.update(incident);
        if (sent.ok) await store.shown(incident.id, incident.version, incident.status);
      }
      return { ok: true, incident };
    },
    async storm(incidentId) {
      const known = await store.get(incidentId);
      if (known?.cause !== 'query-storm') return { ok: false, message: ALERT_FAILURES.unknown_storm };
      if (known.status !== 'open' || known.incident.members.length === 0)
        return { ok: false, message: ALERT_FAILURES.storm_over };
      const root = known.incident.root;
      return {
        ok: true,
        cluster: known.cluster,
        channel: known.channel,
        members: known.incident.members,
        query: root?.query ?? null,
        applications: known.incident.applications,
        oldestSeconds: root?.ageSeconds ?? 0,
      };
    },
    async relief(incidentId) {
      const known = await store.get(incidentId);
      if (known?.cause !== 'connections') return { ok: false, message: ALERT_FAILURES.unknown_connections };
      const relief = known.status === 'open' ? reliefOf(known.incident) : null;
      if (!relief) return { ok: false, message: ALERT_FAILURES.connections_over };
      return { ok: true, cluster: known.cluster, channel: known.channel, relief };
    },
    async stop() {
      stopped = true;
      for (const wake of [...wakers]) wake();
      await Promise.all(loops);
      await Promise.all(deps.clusters.map((c) => c.reader.close()));
      await leadership.close();
    },
  };
}
