// The Bolt app: HTTP mode (signed POST /slack/events, GET /healthz) or Socket Mode when an app token is
// set (then /healthz on PORT still). The Web API client gets a finite timeout and a bounded retry policy;
// rate-limited calls are rejected so that callers (the audit outbox) decide when to try again.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import bolt from '@slack/bolt';
import { SocketModeClient } from '@slack/socket-mode';
import type { WebClientOptions } from '@slack/web-api';
import type { Config } from '../config.js';
import { slackLogger, type Logger } from '../logger.js';
import { registerActions } from './listeners/actions.js';
import { registerCommands } from './listeners/commands.js';
import { registerViews } from './listeners/views.js';
import { limitBody, SERVER_TIMEOUTS } from './guards/body-limit.js';
import { readLimit } from './guards/read-limit.js';
import { limitRequestLog } from './guards/request-log.js';
import { registerWatchActions } from './listeners/watch-actions.js';
import { registerRelief } from './listeners/relief.js';
import { registerRuleActions } from './listeners/rule-actions.js';
import { registerDrainActions } from './listeners/drain.js';
import { registerHome } from './listeners/home.js';
import type { AppServices } from './services.js';
import { workspaceGuard } from './guards/workspace-guard.js';

const { App, HTTPReceiver, SocketModeReceiver, LogLevel, HTTPModuleFunctions } = bolt;

// Bolt's HTTPReceiver reads `body.ssl_check` outside its own error handling: a correctly signed body whose
// `payload` is JSON `null` (or a number) made that an unhandled rejection that ended the process. A body
// that is not an object is malformed: throwing here lands in Bolt's "Malformed request body" → 400 path.
const parseBody = HTTPModuleFunctions.parseHTTPRequestBody;
if (!(parseBody as { guarded?: boolean }).guarded) {
  const guarded = Object.assign(
    (req: Parameters<typeof parseBody>[0]) => {
      const body: unknown = parseBody(req);
      if (body === null || typeof body !== 'object') throw new Error('the request body is not an object');
      return body as ReturnType<typeof parseBody>;
    },
    { guarded: true },
  );
  (HTTPModuleFunctions as { parseHTTPRequestBody: typeof parseBody }).parseHTTPRequestBody = guarded;
}
export type BoltApp = InstanceType<typeof App>;

export interface SlackApp {
  app: BoltApp;
  /** Starts listening; resolves with the HTTP port actually bound (PORT=0 picks a free one). */
  start(): Promise<number>;
  stop(): Promise<void>;
}

export function webClientOptions(config: Config, logger: Logger): WebClientOptions {
  return {
    ...(config.slack.apiUrl ? { slackApiUrl: config.slack.apiUrl } : {}),
    timeout: 10_000,
    // The client's default retries for up to half an hour; during an incident a reply that late is useless.
    retryConfig: { retries: 2, factor: 2, minTimeout: 200, maxTimeout: 2_000, randomize: true },
    rejectRateLimitedCalls: true,
    logger: slackLogger(logger),
  };
}

type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void;
type Route = { path: string; method: string[]; handler: RouteHandler };

/** What the composition root plugs into the app: the parts of it that belong to other layers. */
export interface SlackEdges {
  /** Listen on this address only (HTTP mode); default every address. */
  host?: string | undefined;
  /** GET /healthz and GET /metrics on PORT (built from the probes in probe-server.ts). */
  probes: { health: RouteHandler; metrics: RouteHandler };
  /** Middleware after the workspace guard and before the read limit (the audit channel's guard). */
  guards?: Middleware<AnyMiddlewareArgs>[];
}

function socketModeApp(config: Config, appToken: string, routes: Route[], logger: Logger): BoltApp {
  const boltLogger = slackLogger(logger);
  const clientOptions = webClientOptions(config, logger);
  const receiver = new SocketModeReceiver({
    appToken,
    logger: boltLogger,
    customRoutes: routes,
    installerOptions: { port: config.port },
  });
  // Bolt's SocketModeReceiver does not pass client options to its SocketModeClient, so SLACK_API_URL would
  // not reach apps.connections.open. Give it a client that has them, with the receiver's own listeners.
  const client = new SocketModeClient({ appToken, logger: boltLogger, clientOptions });
  for (const listener of receiver.client.listeners('slack_event')) {
    client.on('slack_event', listener as (...args: unknown[]) => void);
  }
  receiver.client = client;
  return new App({
    token: config.slack.botToken,
    receiver,
    clientOptions,
    logger: boltLogger,
    logLevel: LogLevel.INFO,
    developerMode: false,
  });
}

function httpApp(config: Config, routes: Route[], logger: Logger): BoltApp {
  const boltLogger = slackLogger(logger);
  // Lines about requests not yet authenticated (a bad signature, an unknown path): clipped, rate-limited.
  const requestLogger = limitRequestLog(boltLogger);
  const receiver = new HTTPReceiver({
    signingSecret: config.slack.signingSecret ?? '',
    endpoints: '/slack/events',
    customRoutes: routes,
    logger: requestLogger,
    processBeforeResponse: false,
    signatureVerification: true,
  });
  // Read the body ourselves, capped, before Bolt would read all of it (see body-limit.ts). Bolt calls
  // `requestListener` (public) for every request and uses a `rawBody` already on the request.
  const boltListener = receiver.requestListener;
  receiver.requestListener = limitBody((req, res) => {
    try {
      boltListener(req, res);
    } catch (error) {
      // What Bolt's own server wrapper does with a synchronous throw (an unknown path → 404).
      HTTPModuleFunctions.defaultDispatchErrorHandler({
        error: error as Error & { code: string },
        logger: requestLogger,
        request: req,
        response: res,
      });
    }
  });
  return new App({
    token: config.slack.botToken,
    receiver,
    clientOptions: webClientOptions(config, logger),
    logger: boltLogger,
    developerMode: false,
    // auth.test is called by main at start-up with a clear message; Bolt needn't block on it.
    tokenVerificationEnabled: false,
  });
}

/** Before every listener: nobody from another workspace, and no guest, reaches a use case; then the rest. */
function useGuards(app: BoltApp, config: Config, services: AppServices, logger: Logger, edges: SlackEdges): void {
  app.use(
    workspaceGuard(services.people, config.allowedTeams, logger.child({ module: 'workspace-guard' }), (code) =>
      services.metrics.guardRefused(code),
    ),
  );
  for (const guard of edges.guards ?? []) app.use(guard);
  app.use(
    readLimit(services.readLimiter, logger.child({ module: 'rate-limit' }), (kind) => {
      if (kind !== null) services.metrics.command(kind, 'rate_limited');
    }),
  );
}

function registerListeners(app: BoltApp, services: AppServices, logger: Logger): void {
  registerCommands(app, services, logger.child({ module: 'commands' }));
  registerActions(app, services, logger.child({ module: 'actions' }));
  registerViews(app, services, logger.child({ module: 'views' }));
  registerWatchActions(app, services, logger.child({ module: 'watch-actions' }));
  registerRelief(app, services, logger.child({ module: 'relief' }));
  registerRuleActions(app, services, logger.child({ module: 'rule-actions' }));
  registerDrainActions(app, services.drains, logger.child({ module: 'drain-actions' }));
  registerHome(app, services, logger.child({ module: 'home' }));
}

/** Starts the app; resolves with the server it listens on (HTTP mode, or /healthz beside Socket Mode). */
async function listen(app: BoltApp, config: Config, host: string | undefined): Promise<Server | undefined> {
  if (!config.slack.appToken) {
    // Node's defaults wait 60 s for headers and 300 s for a request: a slow client held its memory that long.
    return (await app.start(host ? { port: config.port, host } : config.port, {
      ...SERVER_TIMEOUTS,
    })) as unknown as Server;
  }
  // Bolt listens on PORT for /healthz without an error handler: a busy port would crash the process
  // with a stack trace instead of the one clear start-up message. Turn it into a failed start.
  const server = (app as unknown as { receiver: { httpServer?: Server } }).receiver.httpServer;
  const starting = app.start(config.port);
  const listenFailed = new Promise<Error>((resolve) => server?.once('error', resolve));
  const failure = await Promise.race([starting.then(() => null), listenFailed]);
  if (failure) {
    await starting.catch(() => undefined); // let the socket finish connecting, so stop() can close it
    throw failure;
  }
  return server;
}

export function createSlackApp(config: Config, services: AppServices, logger: Logger, edges: SlackEdges): SlackApp {
  const healthRoute = { path: '/healthz', method: ['GET'], handler: edges.probes.health };
  const metricsRoute = { path: '/metrics', method: ['GET'], handler: edges.probes.metrics };
  // With METRICS_PORT the metrics are served there only (see probe-server.ts); /healthz stays on PORT for
  // container health checks.
  const routes = config.metricsPort === null ? [healthRoute, metricsRoute] : [healthRoute];
  const app = config.slack.appToken
    ? socketModeApp(config, config.slack.appToken, routes, logger)
    : httpApp(config, routes, logger);
  app.error(async (error) => {
    logger.error({ err: error }, 'unhandled error in a Slack listener');
  });
  useGuards(app, config, services, logger, edges);
  registerListeners(app, services, logger);
  return {
    app,
    async start() {
      const server = await listen(app, config, edges.host);
      const address = server?.address();
      return typeof address === 'object' && address ? address.port : config.port;
    },
    async stop() {
      await app.stop();
    },
  };
}
