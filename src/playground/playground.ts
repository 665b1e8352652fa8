// `npm run playground`: an embedded PostgreSQL with a live incident (or DATABASE_URL), the real pgsessions
// started through the same composition root as production (config, Bolt over signed HTTP, SQL, approval
// rules, audit outbox, state migrations), the Slack stand-in as its Web API, and a Slack-like page.
import { randomBytes } from 'node:crypto';
import { loadPlaygroundConfig } from '../config.js';
import type { RunningApp } from '../pgsessions.js';
import { writeDemoClusters } from './demo-clusters.js';
import { startEmbeddedPostgres } from './embedded-postgres.js';
import { createDemoDatabase, startIncident, type Incident } from './incident.js';
import { startPageServer, type PageServer } from './page-server.js';
import { CHANNELS, ON_CALL, PEOPLE } from './people.js';
import { startSlackApi, type SlackApi } from './slack-stand-in.js';

export interface Playground {
  url: string;
  /** The demo incident (null when watching DATABASE_URL). */
  incident: Incident | null;
  /** Superuser connection to the embedded server (null when none was needed). */
  adminUrl: string | null;
  /** The cluster the app manages. */
  clusterUrl: string;
  slack: SlackApi;
  app: RunningApp;
  readOnly: boolean;
  stop(): Promise<void>;
}

export interface PlaygroundOptions {
  /** Where the playground's own notices go (the address, unknown Web API methods, unsupported blocks). */
  log?: (line: string) => void;
}

/** Settings of the app inside that a person may pass through (query text, protected roles, TTL…). */
const PASS_THROUGH = /^(PGSESSIONS_|LOG_LEVEL$)/;
// Never from the shell: the playground's requests and audit entries live in its own embedded server, under no
// key. A production PGSESSIONS_AUDIT_KEY or state database in the shell would put play entries in the real
// audit log, signed as real ones.
const FORCED = new Set([
  'PGSESSIONS_AUDIT_CHANNEL',
  'PGSESSIONS_APPROVERS',
  'PGSESSIONS_READ_ONLY',
  'PGSESSIONS_CLUSTERS',
  'PGSESSIONS_AUDIT_KEY',
  'PGSESSIONS_MIGRATE_DATABASE_URL',
  'PGSESSIONS_RUNTIME_ROLE',
]);

function withoutPassword(url: string): string {
  const u = new URL(url);
  u.password = '';
  return `${u.protocol}//${u.username ? `${u.username}@` : ''}${u.host}${u.pathname}`;
}

/** The app's settings inside the playground: what a person may pass through, and what the playground forces. */
function appEnvOf(
  env: NodeJS.ProcessEnv,
  readOnly: boolean,
  slackUrl: string,
  clusterUrl: string,
  stateUrl: string,
  clustersFile: string | null,
): NodeJS.ProcessEnv {
  return {
    ...Object.fromEntries(Object.entries(env).filter(([k]) => PASS_THROUGH.test(k) && !FORCED.has(k))),
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
    SLACK_BOT_TOKEN: `xoxb-playground-${randomBytes(12).toString('hex')}`,
    SLACK_SIGNING_SECRET: randomBytes(24).toString('hex'),
    SLACK_API_URL: slackUrl,
    PORT: '0',
    DATABASE_URL: clusterUrl,
    STATE_DATABASE_URL: stateUrl,
    PGSESSIONS_AUDIT_CHANNEL: CHANNELS.audit.id,
    PGSESSIONS_APPROVERS: PEOPLE.filter((p) => p.part === 'approver')
      .map((p) => p.id)
      .join(','),
    PGSESSIONS_READ_ONLY: String(readOnly),
    // The demo: `default` and the quorum cluster `payments`, both on DATABASE_URL (src/playground/demo-clusters.ts).
    ...(clustersFile ? { PGSESSIONS_CLUSTERS: clustersFile } : {}),
    // Unasked alerts (when the app watches) belong in #incidents like everything else of the incident.
    PGSESSIONS_WATCH_CHANNEL: env.PGSESSIONS_WATCH_CHANNEL ?? CHANNELS.incidents.id,
    // A demo should not make people wait 30 s for the alert: look every 2 s, alert on a 5 s lock wait.
    PGSESSIONS_WATCH_INTERVAL: env.PGSESSIONS_WATCH_INTERVAL ?? '2s',
    PGSESSIONS_WATCH_LOCK_WAIT: env.PGSESSIONS_WATCH_LOCK_WAIT ?? '5s',
  };
}

export async function startPlayground(env: NodeJS.ProcessEnv, options: PlaygroundOptions = {}): Promise<Playground> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const settings = loadPlaygroundConfig(env);
  // Loading the app (Bolt, the Web API client…) takes a while: let it happen while PostgreSQL starts.
  const loadingApp = import('../pgsessions.js');
  loadingApp.catch(() => undefined);
  const cleanups: Array<() => Promise<unknown>> = [];
  const stopAll = async () => {
    for (const end of cleanups.splice(0).reverse()) await end().catch(() => undefined);
  };
  try {
    const [slack, server] = await Promise.all([
      // Only the app inside, which is given the token, can reach the stand-in.
      startSlackApi({ log, strict: true, token: randomBytes(16).toString('hex') }),
      startEmbeddedPostgres({ maxConnections: 100, password: randomBytes(12).toString('hex'), reuseInitdb: true }),
    ]);
    cleanups.push(() => slack.close());
    cleanups.push(() => server.stop());

    let clusterUrl: string;
    let stateUrl: string;
    let incident: Promise<Incident> | null = null;
    let clustersFile: string | null = null;
    if (settings.databaseUrl) {
      clusterUrl = settings.databaseUrl;
      // The state (requests, audit) stays in the playground's own server: nothing is written to yours.
      stateUrl = server.url;
    } else {
      const demo = await createDemoDatabase(server.url);
      clusterUrl = demo.clusterUrl;
      stateUrl = demo.stateUrl;
      incident = startIncident(demo);
      const clusters = await writeDemoClusters();
      cleanups.push(() => clusters.remove());
      clustersFile = clusters.path;
    }
    // The on-call rotation escalation names, as PagerDuty's or Opsgenie's Slack integration keeps it.
    slack.usergroups[ON_CALL.id] = [...ON_CALL.members];

    const appEnv = appEnvOf(env, settings.readOnly, slack.url, clusterUrl, stateUrl, clustersFile);
    const { startPgsessions } = await loadingApp;
    // The app's HTTP port is for the page server next to it: 127.0.0.1 only.
    const [app, ready] = await Promise.all([startPgsessions(appEnv, { host: '127.0.0.1' }), incident]);
    cleanups.push(() => app.stop());
    if (ready) cleanups.push(() => ready.stop());

    const channels: Record<string, string> = {
      [CHANNELS.incidents.id]: CHANNELS.incidents.name,
      [CHANNELS.audit.id]: CHANNELS.audit.name,
    };
    if (appEnv.PGSESSIONS_WATCH_CHANNEL) channels[appEnv.PGSESSIONS_WATCH_CHANNEL] ??= CHANNELS.incidents.name;
    const page: PageServer = await startPageServer({
      port: settings.port,
      slack,
      app: { port: app.port, signingSecret: appEnv.SLACK_SIGNING_SECRET! },
      people: PEOPLE,
      channels,
      banner: { mode: ready ? 'demo' : 'existing', readOnly: settings.readOnly, target: withoutPassword(clusterUrl) },
      ...(ready ? { reset: () => ready.reset() } : {}),
      log,
    });
    cleanups.push(() => page.close());

    return {
      url: page.url,
      incident: ready,
      adminUrl: server.url,
      clusterUrl,
      slack,
      app,
      readOnly: settings.readOnly,
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
