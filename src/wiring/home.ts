// The App Home, wired: the state it shows (pending requests, live rules, open incidents, unreviewed
// break-glass uses), who may approve and view where, the publisher, and the poll of the change marker that
// keeps every remembered Home current on this replica (docs/approvals.md, "App Home").
import type { ApprovalRouting } from '../domain/routing.js';
import type { WebClient } from '@slack/web-api';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { AccessRules, GroupsPort } from '../domain/policy.js';
import type { BreakGlassUse, HomeTabPort } from '../domain/home.js';
import { createHomeRefresher, HOME_REFRESH_DEFAULTS, type HomeRefreshOptions } from '../domain/home-refresh.js';
import type { LiveClusters } from '../live-clusters.js';
import type { Logger } from '../logger.js';
import { createHomeStore } from '../postgres/home-store.js';
import { createHomePublisher } from '../slack/adapters/home.js';
import type { AppServices } from '../slack/services.js';

/** How often each replica looks at the change marker: a change shows on a Home within about this long. */
export const HOME_POLL_MS = 2_000;

export interface HomeWiring {
  config: Config;
  services: AppServices;
  statePool: pg.Pool;
  client: WebClient;
  logger: Logger;
  groups: GroupsPort;
  clusters: Pick<LiveClusters, 'config'>;
  rulesFor(cluster: string): AccessRules;
  routingFor?(cluster: string): ApprovalRouting;
  /** Break-glass uses nobody reviewed yet; by default the break-glass service's, when the services have one. */
  unreviewed?: () => Promise<BreakGlassUse[] | null>;
  pollMs?: number;
  options?: Partial<HomeRefreshOptions>;
}

export interface HomeTab extends HomeTabPort {
  stop(): Promise<void>;
  /** One poll now (tests and the bench do not wait for the timer). */
  tick(): Promise<void>;
}

/**
 * The break-glass service's unreviewed uses (`services.breakGlass.listUnreviewed`, docs/approvals.md), read at
 * each round so that it counts whenever it is set; null while there is none (the Home leaves the section out).
 */
function unreviewedOf(services: AppServices): Promise<BreakGlassUse[] | null> {
  const glass = services.breakGlass;
  return glass ? glass.listUnreviewed() : Promise.resolve(null);
}

export function wireHome(w: HomeWiring): HomeTab {
  const log = w.logger.child({ module: 'home' });
  const store = createHomeStore(w.statePool);
  const publisher = createHomePublisher(w.client, log);
  const rules = w.services.rules;
  let lastWarned = 0;
  const refresher = createHomeRefresher(
    {
      sources: {
        pending: () => w.services.requests.listPending(),
        ...(rules ? { rules: () => rules.list() } : {}),
        incidents: () => store.incidents(),
        unreviewed: w.unreviewed ?? (() => unreviewedOf(w.services)),
      },
      access: {
        rules: w.rulesFor,
        ...(w.routingFor ? { routing: w.routingFor } : {}),
        viewers: (name) => w.clusters.config(name)?.viewers ?? w.config.viewers,
        groups: w.groups,
      },
      marker: () => store.marker(),
      publish: (content, force) => publisher.publish(content, force),
      forget: (user) => publisher.forget(user),
      onError: (error, what) => {
        // A state database that is down fails every poll: said once a minute, not every 2 s.
        if (Date.now() - lastWarned < 60_000) return;
        lastWarned = Date.now();
        log.warn({ err: error }, `${what} failed: tried again at the next poll`);
      },
    },
    { ...HOME_REFRESH_DEFAULTS, ...w.options },
  );
  let stopped = false;
  let ticking: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    if (!stopped) ticking = refresher.tick();
  }, w.pollMs ?? HOME_POLL_MS);
  timer.unref();
  const tab: HomeTab = {
    async opened(user) {
      await refresher.show(user);
    },
    async acted(user) {
      refresher.invalidate();
      await refresher.show(user);
    },
    tick: () => refresher.tick(),
    async stop() {
      stopped = true;
      clearInterval(timer);
      await ticking;
    },
  };
  w.services.home = tab;
  return tab;
}
