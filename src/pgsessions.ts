// The composition root: config → logger → pools → stores → use cases → Slack app → start, and stop in
// reverse. main.ts runs it for the process; tests run it in-process, several instances at once if need be.
import { hostname } from 'node:os';
import type { Config } from './config.js';
import { loadConfig } from './config.js';
import { createLogger, type Logger } from './logger.js';
import { describeRole } from './domain/capabilities.js';
import { ALERT_FAILURES, FAILURE_MESSAGES } from './domain/messages.js';
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
import { clusterRemovedSentence } from './domain/cluster-set.js';
import { type ClusterSettings, createLiveClusters, fingerprintsOf } from './live-clusters.js';
import { expireRemovedCluster } from './postgres/cluster-removal.js';
import { createStateStore, type StateStore } from './postgres/state-store.js';
import { auditKeyId } from './domain/audit.js';
import { BINDING_OFF } from './domain/binding.js';
import { createSlackApp, webClientOptions } from './slack/app.js';
import { auditPoster } from './audit/post.js';
import type { AuditTrust } from './slack/blocks/help.js';
import { createReadService, type ReadDeps } from './domain/read-service.js';
import { createFleetView } from './domain/fleet.js';
import { createGroups } from './slack/adapters/groups.js';
import { createPeople } from './slack/adapters/people.js';
import { createRequestMessages } from './slack/adapters/request-messages.js';
import type { AppServices } from './slack/services.js';
import { WebClient } from '@slack/web-api';
import { limitRequests } from './domain/rate-limit.js';
import { createSharedRateLimiter } from './domain/shared-rate-limit.js';
import { createRateBucketStore } from './postgres/rate-bucket-store.js';
import { createMetrics, instrumentRequests, instrumentRules } from './metrics.js';
import { cachedFor, probeHandlers, startProbeServer, type ProbeServer } from './probe-server.js';
import { createIncidentStore } from './postgres/incident-store.js';
import { createRetentionStore, everyInterval } from './postgres/retention-store.js';
import { createWatchReader } from './postgres/watch-reader.js';
import { createWatchMessages } from './slack/adapters/watch-messages.js';
import { registerLeadingGauge } from './watch/leading-gauge.js';
import { createSpreadLeadership, type SpreadLeadership } from './watch/spread.js';
import { spellLog } from './spell-log.js';
import { startWatcher, type WatchedCluster, type Watcher } from './watch/watcher.js';
import { createRuleService } from './domain/rule-service.js';
import { createRuleStore } from './postgres/rule-store.js';
import { createRuleMessages } from './slack/adapters/rule-messages.js';
import { createChannelHealth } from './slack/adapters/channel-health.js';
import { createDrains, sayDrainable } from './drains.js';

export interface StartOptions {
  /** A logger to use instead of one built from LOG_LEVEL (tests capture output through it). */
  logger?: Logger;
  /** How often to expire due requests and reconcile interrupted ones. */
  sweepIntervalMs?: number;
  /** Listen on this address only (the playground: 127.0.0.1); default every address. */
  host?: string;
  /** How often PGSESSIONS_RETENTION prunes (default hourly). */
  pruneIntervalMs?: number;
  /** An approved request (or a claimed rule execution) with no outcome after this long is treated as interrupted by a crash. */
  interruptedAfterSeconds?: number;
  outboxIntervalMs?: number;
  /** How long pg_terminate_backend waits for the session to end (PostgreSQL 14+). */
  terminateTimeoutMs?: number;
  bulkCap?: number;
  /** Web API timeout per attempt for the app's own calls (default 10 s in webClientOptions); tests shorten it. */
  slackTimeoutMs?: number;
  /** How long a shared rate-limit bucket is waited for before this replica's own decides (default 500 ms). */
  rateLimitTimeoutMs?: number;
  /** How long /healthz and /metrics reuse what they read from the state database (default 5 s). */
  probeCacheMs?: number;
  /** Seconds between two updates of one alert message (default 30). */
  watchUpdateGapSeconds?: number;
  /** Open alert messages per cluster before one summary lists the rest (default 5). */
  watchMaxOpenMessages?: number;
  /** Query storms: this many sessions of one statement, each running this long (defaults 10 and 10 s). */
  watchStorm?: { sessions: number; seconds: number };
  /** Failed looks in a row before a cluster is called down (default 2). */
  watchDownAfterFailures?: number;
  /** How long an unused pooled connection stays open (default 30 s); tests shorten it to see a full cluster. */
  poolIdleTimeoutMs?: number;
  /** Between two checks of each reserved connection (default 10 s). */
  lifelineHealthIntervalMs?: number;
  /** How often the clusters file is read besides the file watch and SIGHUP (default 5 s). */
  clustersPollMs?: number;
  /** Reload the clusters file on SIGHUP (default true). */
  clustersSighup?: boolean;
  /** Watch the clusters file's directory (default true); tests turn it off to see SIGHUP alone. */
  clustersFileWatch?: boolean;
  /** Seconds a watcher's lease on a cluster lasts unless renewed (default 15): a dead leader's successor waits this long. */
  watchLeaseSeconds?: number;
}

export interface RunningApp {
  port: number;
  /** The port serving /metrics when METRICS_PORT is set (the bound one, for METRICS_PORT=0); else null. */
  metricsPort: number | null;
  config: Config;
  logger: Logger;
  stop(): Promise<void>;
}

export const BULK_CAP = 200;
/** Who this process is in the audit of a reload (each replica reloads, and audits, on its own). */
const REPLICA = `${hostname()}:${process.pid}`;

const settingsOf = (c: Config) => {
  const value: ClusterSettings = { clusters: c.clusters, watch: c.watch };
  return { value, fingerprints: fingerprintsOf(value) };
};
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
  const channels = createChannelHealth(
    client,
    [
      { channel: config.auditChannel, role: 'audit' as const },
      ...Object.values(config.watch).flatMap((w) =>
        w?.channel ? [{ channel: w.channel, role: 'watch' as const }] : [],
      ),
    ],
    logger.child({ module: 'channels' }),
  );
  if (home !== null) {
    for (const p of await channels.check())
      log.warn(
        { channel: p.channel, role: p.role, code: p.code },
        `pgsessions cannot post in its ${p.role} channel (${p.code}): invite the bot, unarchive the channel or set another`,
      );
  }
  const groups = createGroups(client, logger.child({ module: 'groups' }));
  const rulesFor = (name: string) => {
    const c = clusters.config(name);
    return { requesters: c?.requesters ?? config.requesters, approvers: c?.approvers ?? config.approvers };
  };

  const requestMessages = createRequestMessages(client, clientWithoutRetries, config.queryText);
  const requestSettings = {
    readOnly: config.readOnly,
    ttlSeconds: config.approvalTtlSeconds,
    queryText: config.queryText,
    bulkCap: options.bulkCap ?? BULK_CAP,
    terminateTimeoutMs: options.terminateTimeoutMs ?? 5_000,
    protectedRoles: config.protectedRoles,
    protectedApps: config.protectedApps,
    rules: rulesFor,
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
    messages: requestMessages,
    groups,
    settings: requestSettings,
    isUnreachable: isConnectionError,
    troubleOf,
    drain: (request) => drains.execute(request),
  });
  // Shared by every replica through the state database; a slow state database falls back to this replica's own.
  const buckets = createRateBucketStore(statePool);
  const onFallback = (reason: 'timeout' | 'error', error?: unknown) =>
    log.warn(
      { reason, ...(error ? { error: describeConnectionError(error) } : {}) },
      'rate limits: the state database did not answer in time, this replica counts alone for a few seconds',
    );
  const requestLimiter = createSharedRateLimiter({
    bucket: 'request',
    settings: config.rateLimits.request,
    store: buckets,
    onFallback,
    timeoutMs: options.rateLimitTimeoutMs,
  });
  const requests = instrumentRequests(limitRequests(service, requestLimiter), metrics);
  const readLimiter = createSharedRateLimiter({
    bucket: 'listing',
    settings: config.rateLimits.listing,
    store: buckets,
    onFallback,
    timeoutMs: options.rateLimitTimeoutMs,
  });

  const readDeps: ReadDeps = {
    clusters: () => clusters.all(),
    pending: (cluster) => state.listPending(cluster),
    groups,
    settings: {
      readOnly: config.readOnly,
      queryText: config.queryText,
      protectedRoles: config.protectedRoles,
      protectedApps: config.protectedApps,
      viewers: (name) => clusters.config(name)?.viewers ?? config.viewers,
    },
    classify: (error) => {
      const trouble = troubleOf(error);
      return trouble === 'busy' ? 'slow' : trouble;
    },
    // Users are told "unreachable"; the log keeps what happened (scrubbed of passwords).
    onTrouble: (cluster, error) =>
      log.warn({ cluster, error: describeConnectionError(error) }, 'cluster unreachable or slow'),
  };
  const reads = createReadService(readDeps);

  // Say at start-up what each cluster's role can and cannot do; a cluster that is down does not stop us.
  for (const s of await reads.status()) {
    if (!s.reachable || !s.capabilities) {
      log.warn({ cluster: s.name }, 'cluster unreachable at start-up: commands will say so until it is back');
      continue;
    }
    const c = s.capabilities;
    log.info(
      {
        cluster: s.name,
        role: c.role,
        superuser: c.superuser,
        readAllStats: c.readAllStats,
        signalBackend: c.signalBackend,
        server: c.serverVersion,
      },
      'cluster role checked',
    );
    if (c.superuser)
      log.warn(
        { cluster: s.name },
        'the bot role is a superuser: grant pg_monitor and pg_signal_backend to a plain role instead',
      );
    if (!c.readAllStats)
      log.warn(
        { cluster: s.name },
        'no pg_read_all_stats/pg_monitor: other roles\u2019 sessions cannot be seen at all (listings say how many)',
      );
    if (!c.signalBackend)
      log.warn({ cluster: s.name }, 'no pg_signal_backend: only sessions of the bot\u2019s own role can be signalled');
    if (c.reservedConnections === null && !c.superuser)
      log.info(
        { cluster: s.name },
        'reserved connections for the bot (pg_use_reserved_connections) are not available before PostgreSQL 16',
      );
    const { can, cannot } = describeRole(c);
    for (const what of can) log.info({ cluster: s.name, role: c.role }, `the bot role can ${what}`);
    for (const what of cannot) log.info({ cluster: s.name, role: c.role }, `the bot role cannot ${what}`);
  }
  await sayDrainable(clusters, log);

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
    health: cachedFor(probeCacheMs, async () => {
      try {
        await statePool.query('SELECT 1');
        return true;
      } catch {
        return false;
      }
    }),
    metrics,
    channels,
    drains,
  };

  const closePools = async () => {
    await Promise.all(watched.map((c) => c.reader.close()));
    await clusters.close();
    await statePool.end().catch(() => undefined);
    await Promise.all(lifelines.map((l) => l.close()));
  };

  // Watching: only clusters with a watch channel; each read on its own one-connection pool.
  const watchedNow = (): WatchedCluster[] =>
    clusters.configs().flatMap((c) => {
      const settings = clusters.watchSettings()[c.name];
      if (!settings?.channel) return [];
      // Under the interval where it can be, never so short that a busy moment reads as "down" (a look that
      // runs over simply starts the next one late).
      const statementTimeoutMs = Math.min(5_000, Math.max(2_000, settings.intervalSeconds * 800));
      const pool = createPool(c.url, logger.child({ module: 'watch-db', cluster: c.name }), {
        max: 1,
        statementTimeoutMs,
        connectTimeoutMs: 5_000,
        lifeline: clusters.lifeline(c.name),
        idleTimeoutMs,
      });
      const storm = options.watchStorm;
      const thresholds = storm
        ? { ...settings.thresholds, stormSessions: storm.sessions, stormSeconds: storm.seconds }
        : settings.thresholds;
      return [
        {
          name: c.name,
          reader: createWatchReader(c.name, pool),
          settings: { ...settings, thresholds, channel: settings.channel },
        },
      ];
    });
  let watched = watchedNow();
  // Standing approvals: proposed and decided like requests, applied by the watcher of their cluster.
  const incidentStore = createIncidentStore(statePool);
  const ruleService = createRuleService({
    store: createRuleStore(statePool, state.appendIn, state.binder),
    cluster: (name) => clusters.get(name),
    messages: createRuleMessages(client, clientWithoutRetries, logger.child({ module: 'rules' }), config.queryText),
    groups,
    settings: {
      readOnly: config.readOnly,
      queryText: config.queryText,
      proposalTtlSeconds: config.approvalTtlSeconds,
      terminateTimeoutMs: options.terminateTimeoutMs ?? 5_000,
      protectedRoles: config.protectedRoles,
      protectedApps: config.protectedApps,
      rules: rulesFor,
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
    services.watch = {
      // A snooze is audited and posted like a request: it costs a token of the same per-user bucket.
      snooze: async (id, minutes, user, mayView) => {
        if (!watcher) return { ok: false, message: ALERT_FAILURES.not_started };
        if (!(await requestLimiter.take(user))) return { ok: false, message: FAILURE_MESSAGES.rate_limited };
        return watcher.snooze(id, minutes, user, mayView);
      },
      storm: (id) =>
        watcher ? watcher.storm(id) : Promise.resolve({ ok: false, message: ALERT_FAILURES.not_started }),
      relief: (id) =>
        watcher ? watcher.relief(id) : Promise.resolve({ ok: false, message: ALERT_FAILURES.not_started }),
    };
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
    await slack.stop().catch(() => undefined);
    await closePools();
    throw error;
  }
  // Opened here, not earlier: a start-up that fails before this point leaves no connection behind.
  await Promise.all([...lifelines.map((l) => l.open()), clusters.openLifelines()]);
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
          apply: async (next, change) => {
            const stopping = watcher;
            watcher = null;
            await stopping?.stop();
            await Promise.all(watched.map((c) => c.reader.close()));
            await clusters.replace(next, change);
            watched = watchedNow();
            startWatching();
            for (const name of change.removed) {
              for (const r of await expireRemovedCluster(statePool, state.appendIn, name)) {
                await requestMessages.update(r).catch(() => undefined);
                if (r.messageTs)
                  await client.chat
                    .postMessage({
                      channel: r.channel,
                      thread_ts: r.messageTs,
                      text: `<@${r.requester}> ${clusterRemovedSentence(r.cluster)}`,
                    })
                    .catch(() => undefined);
              }
            }
            await state.appendAudit({
              requestId: null,
              event: 'clusters_reloaded',
              actor: null,
              cluster: null,
              details: { ...change, replica: REPLICA },
            });
          },
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
    activeRules: cachedFor(probeCacheMs, async () => {
      const counts: Record<string, number> = Object.fromEntries(watched.map((c) => [c.name, 0]));
      if (watched.length === 0) return counts;
      const now = Date.now();
      for (const rule of await rules.list()) {
        const active = rule.status === 'approved' && rule.expiresAt !== null && Date.parse(rule.expiresAt) > now;
        if (active && rule.cluster in counts) counts[rule.cluster]! += 1;
      }
      return counts;
    }),
  });

  const interruptedAfter = options.interruptedAfterSeconds ?? 60;
  const prune = everyInterval(
    createRetentionStore(statePool),
    config.retentionSeconds,
    options.pruneIntervalMs ?? 3_600_000,
    log,
  );
  let sweeping: Promise<void> = Promise.resolve();
  const sweepTrouble = spellLog(log, 'sweep failed; will try again', 'sweeps work again');
  const sweep = () => {
    sweeping = (async () => {
      try {
        await requests.expireDue();
        await requests.reconcile(interruptedAfter);
        // Drains past their window, ended (restored) once whichever replica gets each.
        await drains.endDue();
        await rules.expireDue();
        // Rule executions claimed by a replica that died before their outcome: reconciled, never re-run.
        await rules.reconcile(interruptedAfter);
        await prune();
        sweepTrouble.succeeded();
      } catch (error) {
        sweepTrouble.failed(error);
      }
    })();
  };
  sweep();
  const timer = setInterval(sweep, options.sweepIntervalMs ?? 10_000);
  timer.unref();

  return {
    port,
    metricsPort: probeServer?.port ?? null,
    config,
    logger,
    async stop() {
      clearInterval(timer);
      reloadClusters?.close();
      await watcher?.stop();
      await slack.stop().catch(() => undefined);
      await probeServer?.close();
      await sweeping;
      await rules.close();
      await outbox.stop();
      await closePools();
    },
  };
}

/**
 * Says at start-up what the audit trail can prove with this setup: whether the chain is keyed, and whether
 * the runtime role could rewrite the audit table. With a key, the switch to keyed hashing is recorded now.
 */
async function checkAuditTrail(state: StateStore, key: Buffer | null, log: Logger): Promise<AuditTrust> {
  const chain = await state.startChain();
  if (key) {
    log.info({ keyId: auditKeyId(key) }, 'the audit chain is keyed (HMAC-SHA256 with PGSESSIONS_AUDIT_KEY)');
  } else if (chain.lastAlg === 'hmac-sha256') {
    log.error(
      'PGSESSIONS_AUDIT_KEY is not set but the audit chain was keyed: new entries are unkeyed and `npm run audit:verify` will report them as a downgrade; set the key again',
    );
  } else {
    log.warn(
      'PGSESSIONS_AUDIT_KEY is not set: the audit chain is unkeyed, so whoever can write the state database can rewrite it and recompute every hash',
    );
  }
  if (!key) log.warn(BINDING_OFF);
  const powers = await state.powers();
  let runtime: AuditTrust['runtime'];
  if (powers.owns || powers.superuser) {
    runtime = 'owns';
    // Loud, not fatal: the one-role set-up is how many start, and refusing it would stop every such
    // deployment on upgrade. The keyed chain and the audit channel still catch a rewrite; `status` says it too.
    log.error(
      { role: powers.role, superuser: powers.superuser },
      'the runtime role owns the audit table: it could rewrite it (disable its triggers, update, delete). Run the migrations as an owner role and the app as a runtime role: `npm run migrate`, see the README',
    );
  } else if (powers.mayModify) {
    runtime = 'may_modify';
    log.warn(
      { role: powers.role },
      'the runtime role has UPDATE, DELETE or TRUNCATE on the audit table: only its trigger stands in the way; `npm run migrate` grants exactly what is needed',
    );
  } else {
    runtime = 'append_only';
    log.info({ role: powers.role }, 'the runtime role cannot alter the audit log (INSERT and SELECT only)');
  }
  return { keyed: key !== null, runtime };
}

/** Checks the token and returns the installing workspace (null when Slack could not be reached). */
async function checkSlackToken(client: WebClient, log: Logger): Promise<string | null> {
  try {
    const auth = await client.auth.test();
    log.info({ team: auth.team_id, botUser: auth.user_id }, 'Slack token accepted');
    return auth.team_id ?? null;
  } catch (error) {
    const code = (error as { data?: { error?: string } }).data?.error;
    if (code === 'invalid_auth' || code === 'not_authed' || code === 'account_inactive' || code === 'token_revoked') {
      throw new Error(`SLACK_BOT_TOKEN was refused by Slack (${code})`);
    }
    log.warn({ err: error }, 'could not reach Slack to check the token; going on');
    return null;
  }
}
