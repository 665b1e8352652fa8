// The composition root: config → logger → pools → stores → use cases → Slack app → start, and stop in
// reverse. main.ts runs it for the process; tests run it in-process, several instances at once if need be.
import { loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { ok, refused } from './domain/outcome.js';
import { createRequestService } from './domain/request-service.js';
import { deliveryFailureKind, startOutboxWorker } from './audit/outbox-worker.js';
import { auditChannelGuard } from './audit/channel-guard.js';
import { migrate } from './postgres/migrate.js';
import { createLifeline, type Lifeline } from './postgres/lifeline.js';
import {
  APPLICATION_NAME,
  createPool,
  describeConnectionError,
  describeReadFailure,
  isConnectionError,
  troubleOf,
} from './postgres/pools.js';
import { watchClustersFile } from './clusters-reload.js';
import { perCluster } from './wiring/per-cluster.js';
import { wireNotices } from './wiring/notices.js';
import { wireBreakGlass } from './wiring/break-glass.js';
import { type ClusterSettings, createLiveClusters } from './live-clusters.js';
import { createStateStore } from './postgres/state-store.js';
import { createSlackApp, webClientOptions } from './slack/app.js';
import { auditPoster } from './audit/post.js';
import { createReadService } from './domain/read-service.js';
import { readDepsOf } from './wiring/reads.js';
import { createFleetView } from './domain/fleet.js';
import { createGroups } from './slack/adapters/groups.js';
import { createPeople } from './slack/adapters/people.js';
import type { AppServices } from './slack/services.js';
import { WebClient } from '@slack/web-api';
import { limitRequests } from './domain/rate-limit.js';
import { createMetrics, instrumentRequests, instrumentRules } from './metrics.js';
import { cachedFor, probeHandlers, startProbeServer, type ProbeServer } from './probe-server.js';
import { createIncidentStore } from './postgres/incident-store.js';
import { createRetentionStore, everyInterval } from './postgres/retention-store.js';
import { createWatchMessages } from './slack/adapters/watch-messages.js';
import { registerLeadingGauge } from './watch/leading-gauge.js';
import { createSpreadLeadership, type SpreadLeadership } from './watch/spread.js';
import { startWatcher, type Watcher } from './watch/watcher.js';
import {
  channelHealthOf,
  checkAuditTrail,
  checkSlackToken,
  answers,
  sayChannelTrouble,
} from './wiring/start-up-checks.js';
import { applyReload, settingsOf } from './wiring/reload.js';
import { startSweeps } from './wiring/sweeps.js';
import { checkClusters } from './wiring/cluster-checks.js';
import { createRateLimiters } from './wiring/rate-limits.js';
import { activeRuleCounts, watchedClusters, watchPort } from './wiring/watching.js';
import { createRuleService } from './domain/rule-service.js';
import { createRuleStore } from './postgres/rule-store.js';
import { createDrains } from './drains.js';
import { wireHome } from './wiring/home.js';

import type { RunningApp, StartOptions } from './wiring/options.js';

export type { RunningApp, StartOptions };
export const BULK_CAP = 200;
/** Connections per cluster kept for signals: as many as one approval signals at once (its 4 workers). */
export const SIGNAL_POOL_SIZE = 4;

export async function startPgsessions(env: NodeJS.ProcessEnv, options: StartOptions = {}): Promise<RunningApp> {
  const config = loadConfig(env);
  const logger = options.logger ?? createLogger(config.logLevel);
  const log = logger.child({ module: 'main' });

  // One reserved connection per server, opened once the app is up: requests must be recordable, approvable and audited,
  // and sessions listed and signalled, while that server refuses new connections (postgres/lifeline.ts).
  const lifelines: Lifeline[] = [];
  const lifelineTo = (url: string, bindings: Record<string, string>) => {
    const lifeline = createLifeline(url, logger.child({ module: 'lifeline', ...bindings }), {
      applicationName: APPLICATION_NAME,
      healthIntervalMs: options.lifelineHealthIntervalMs,
    });
    lifelines.push(lifeline);
    return lifeline;
  };
  const idleTimeoutMs = options.poolIdleTimeoutMs;
  const stateLifeline = lifelineTo(config.stateDatabaseUrl, { db: 'state' });
  const statePool = createPool(config.stateDatabaseUrl, logger.child({ module: 'state-db' }), {
    max: 6,
    lifeline: stateLifeline,
    idleTimeoutMs,
  });
  const applied = await migrate(statePool);
  log.info({ applied }, applied.length > 0 ? 'state schema migrated' : 'state schema is current');
  const auditKey = config.auditKey ? Buffer.from(config.auditKey, 'utf8') : null;
  const state = createStateStore(statePool, { key: auditKey });
  const audit = await checkAuditTrail(state, auditKey, log);

  const metrics = createMetrics();
  const probeCacheMs = options.probeCacheMs ?? 5_000;
  // The clusters served right now: the config's, until the clusters file is reloaded (clusters-reload.ts).
  const initialClusters: ClusterSettings = { clusters: config.clusters, watch: config.watch };
  const clusters = createLiveClusters(initialClusters, {
    logger,
    metrics,
    signalPoolSize: SIGNAL_POOL_SIZE,
    idleTimeoutMs,
    lifelineHealthIntervalMs: options.lifelineHealthIntervalMs,
  });

  const clientOptions = {
    ...webClientOptions(config, logger.child({ module: 'web-api' })),
    ...(options.slackTimeoutMs !== undefined ? { timeout: options.slackTimeoutMs } : {}),
  };
  const client = new WebClient(config.slack.botToken, clientOptions);
  const clientWithoutRetries = new WebClient(config.slack.botToken, { ...clientOptions, retryConfig: { retries: 0 } });
  const home = await checkSlackToken(client, log);
  // Where pgsessions must be able to post; said at start-up and by `status` when it cannot.
  const channels = channelHealthOf(config, client, logger);
  if (home !== null) await sayChannelTrouble(channels, log);
  const groups = createGroups(client, logger.child({ module: 'groups' }));
  const { rulesFor, routingFor } = perCluster(config, (name) => clusters.config(name));
  const dms = wireNotices(config, client, clientWithoutRetries, groups, statePool, logger, routingFor);
  const requestSettings = {
    readOnly: config.readOnly,
    ttlSeconds: config.approvalTtlSeconds,
    queryText: config.queryText,
    bulkCap: options.bulkCap ?? BULK_CAP,
    terminateTimeoutMs: options.terminateTimeoutMs ?? 5_000,
    protectedRoles: config.protectedRoles,
    protectedApps: config.protectedApps,
    rules: rulesFor,
    routing: routingFor,
  };
  // Maintenance drains (docs/drain.md): a request of action 'drain', executed by the drain use case.
  const drains = createDrains({
    config,
    clusters,
    statePool,
    state,
    client,
    once: clientWithoutRetries,
    groups,
    settings: requestSettings,
  });
  const service = createRequestService({
    state,
    cluster: (name) => clusters.get(name),
    messages: dms.requestMessages,
    notices: dms.notices,
    groups,
    settings: requestSettings,
    isUnreachable: isConnectionError,
    troubleOf,
    drain: (request) => drains.execute(request),
  });
  const { requestLimiter, readLimiter } = createRateLimiters(
    statePool,
    config.rateLimits,
    log,
    options.rateLimitTimeoutMs,
  );
  const requests = instrumentRequests(limitRequests(service, requestLimiter), metrics);

  const readDeps = readDepsOf(config, clusters, state, groups, log);
  const reads = createReadService(readDeps);

  // Every cluster's role and drains, a few at a time; waited for a short while below, never by /healthz.
  const clusterChecks = checkClusters(clusters.all(), log, options.clusterChecks);

  const services: AppServices = {
    readOnly: config.readOnly,
    queryText: config.queryText,
    audit,
    reads,
    fleet: createFleetView({ ...readDeps, timeoutMs: config.fleetTimeoutMs }),
    requests,
    readLimiter,
    people: createPeople(client, logger.child({ module: 'people' }), home),
    // However often it is probed, the state database is asked at most once per probeCacheMs.
    health: cachedFor(probeCacheMs, () => answers(statePool)),
    metrics,
    channels,
    drains,
  };
  services.breakGlass = wireBreakGlass({ statePool, state, groups, client, logger, ...dms }, requestSettings, service);

  const closePools = async () => {
    await Promise.all(watched.map((c) => c.reader.close()));
    await clusters.close();
    await statePool.end().catch(() => undefined);
    await Promise.all(lifelines.map((l) => l.close()));
  };

  // Watching: only clusters with a watch channel; each read on its own one-connection pool.
  const watchedNow = () => watchedClusters(clusters, logger, { watchStorm: options.watchStorm, idleTimeoutMs });
  let watched = watchedNow();
  // Standing approvals: proposed and decided like requests, applied by the watcher of their cluster.
  const incidentStore = createIncidentStore(statePool);
  const ruleService = createRuleService({
    store: createRuleStore(statePool, state.appendIn, state.binder),
    cluster: (name) => clusters.get(name),
    messages: dms.ruleMessages,
    notices: dms.notices,
    groups,
    settings: {
      readOnly: config.readOnly,
      queryText: config.queryText,
      proposalTtlSeconds: config.approvalTtlSeconds,
      terminateTimeoutMs: options.terminateTimeoutMs ?? 5_000,
      protectedRoles: config.protectedRoles,
      protectedApps: config.protectedApps,
      rules: rulesFor,
      routing: routingFor,
      watchThresholds: (name) => watched.find((c) => c.name === name)?.settings.thresholds ?? null,
    },
    // The preview reads the cluster now, through its watcher's reader and thresholds.
    readNow: async (cluster) => {
      const w = watched.find((c) => c.name === cluster);
      if (!w) return refused('read_failed', 'the cluster is not watched');
      try {
        return ok(await w.reader.read({ walsenders: false }));
      } catch (error) {
        log.warn({ cluster, error: describeConnectionError(error) }, 'could not read the cluster for a rule preview');
        return refused('read_failed', describeReadFailure(error));
      }
    },
    isUnreachable: isConnectionError,
    troubleOf,
    mayPropose: (user) => requestLimiter.take(user),
  });
  const rules = instrumentRules(ruleService, metrics);
  services.rules = rules;
  const homeTab = wireHome({ config, services, statePool, client, logger, groups, clusters, rulesFor, routingFor });
  let watcher: Watcher | null = null;
  let leadership: SpreadLeadership | null = null;
  registerLeadingGauge(metrics.registry, () => leadership?.leading() ?? 0);
  const startWatching = () => {
    if (watched.length === 0) return;
    leadership = createSpreadLeadership(config.stateDatabaseUrl, logger.child({ module: 'watch-leader' }), {
      leaseSeconds: options.watchLeaseSeconds,
      clusters: watched.map((c) => c.name),
    });
    watcher = startWatcher({
      clusters: watched,
      store: incidentStore,
      messages: createWatchMessages(clientWithoutRetries),
      rules,
      leadership,
      audit: (entry) => state.appendAudit(entry),
      queryText: config.queryText,
      logger: logger.child({ module: 'watch' }),
      updateGapSeconds: options.watchUpdateGapSeconds ?? 30,
      maxOpenMessages: options.watchMaxOpenMessages ?? 5,
      downAfterFailures: options.watchDownAfterFailures ?? 2,
    });
  };
  if (watched.length > 0 || config.clustersFile !== null) {
    services.watch = watchPort(() => watcher, requestLimiter);
  }

  const slack = createSlackApp(config, services, logger, {
    host: options.host,
    probes: probeHandlers(services),
    guards: [
      auditChannelGuard(config.auditChannel, logger.child({ module: 'audit-channel-guard' }), () =>
        metrics.guardRefused('audit_channel'),
      ),
    ],
  });
  let port: number;
  try {
    port = await slack.start();
  } catch (error) {
    // Leave nothing behind (sockets, pools) when start-up fails half way: the process must be able to exit.
    clusterChecks.stop();
    await slack.stop().catch(() => undefined);
    await closePools();
    throw error;
  }
  // Opened here, not earlier: a start-up that fails before this point leaves no connection behind.
  await clusterChecks.wait(Promise.all([...lifelines.map((l) => l.open()), clusters.openLifelines()]));
  let probeServer: ProbeServer | null = null;
  if (config.metricsPort !== null) {
    try {
      probeServer = await startProbeServer(config.metricsPort, services);
    } catch (error) {
      await slack.stop().catch(() => undefined);
      await closePools();
      throw new Error(`METRICS_PORT ${config.metricsPort}: cannot listen (${(error as Error).message})`);
    }
  }
  log.info(
    {
      port,
      metricsPort: probeServer?.port ?? null,
      mode: config.slack.appToken ? 'socket' : 'http',
      clusters: clusters.names(),
      readOnly: config.readOnly,
    },
    'pgsessions is listening',
  );
  startWatching();
  if (watched.length > 0) log.info({ clusters: watched.map((c) => c.name) }, 'watching');

  // A new clusters file: the watcher stops, the set changes, the watcher starts on the new set, and the pending
  // requests of a removed cluster expire with a sentence saying why. Audited by name, never by connection.
  const reloadClusters =
    config.clustersFile === null
      ? null
      : watchClustersFile<ClusterSettings>({
          path: config.clustersFile,
          load: () => settingsOf(loadConfig(env)),
          current: settingsOf(config),
          logger: logger.child({ module: 'clusters-file' }),
          pollMs: options.clustersPollMs,
          sighup: options.clustersSighup,
          fileWatch: options.clustersFileWatch,
          apply: applyReload({
            swap: async (next, change) => {
              const stopping = watcher;
              watcher = null;
              await stopping?.stop();
              await Promise.all(watched.map((c) => c.reader.close()));
              await clusters.replace(next, change);
              watched = watchedNow();
              startWatching();
            },
            statePool,
            state,
            requestMessages: dms.requestMessages,
            client,
          }),
        });

  const outbox = startOutboxWorker({
    store: state,
    post: auditPoster(client, config.auditChannel, channels, config.queryText),
    logger: logger.child({ module: 'outbox' }),
    intervalMs: options.outboxIntervalMs ?? 1_000,
    onResult: (result) => {
      if (result.status === 'delivered') metrics.deliveredOne();
      if (result.status === 'failed') metrics.deliveryFailed(deliveryFailureKind(result.error));
    },
  });
  metrics.setSources({
    requestsByStatus: cachedFor(probeCacheMs, () => state.countByStatus()),
    outboxBacklog: cachedFor(probeCacheMs, () => state.outboxBacklog()),
    // Rules act only through a watcher: without a watched cluster there is nothing to count (and no query).
    activeRules: cachedFor(probeCacheMs, () => activeRuleCounts(watched, rules)),
  });

  const prune = everyInterval(
    createRetentionStore(statePool),
    config.retentionSeconds,
    options.pruneIntervalMs ?? 3_600_000,
    log,
  );
  const sweeps = startSweeps({
    requests,
    drains,
    rules,
    prune,
    interruptedAfterSeconds: options.interruptedAfterSeconds ?? 60,
    escalation: { config, statePool, state, client, clusters, logger, ...dms },
    intervalMs: options.sweepIntervalMs ?? 10_000,
    log,
  });

  return {
    port,
    metricsPort: probeServer?.port ?? null,
    config,
    logger,
    async stop() {
      clusterChecks.stop();
      const swept = sweeps.stop();
      reloadClusters?.close();
      await Promise.all([watcher?.stop(), homeTab.stop()]);
      await slack.stop().catch(() => undefined);
      await probeServer?.close();
      await swept;
      await rules.close();
      await outbox.stop();
      await closePools();
    },
  };
}
