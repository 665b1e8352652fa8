// What the Slack listeners may call: the use cases, the cluster directory, and a few settings. Built by the
// composition root; listeners never see pools or the Web API client behind these.
import type { RequestService } from '../domain/requests.js';
import type { Metrics } from '../metrics.js';
import type { Cluster } from '../postgres/session-store.js';
import type { HelpCluster } from './blocks/help.js';
import type { Watcher } from '../watch/watcher.js';

export type ClusterChoice = { ok: true; cluster: Cluster } | { ok: false; message: string };

export interface AppServices {
  readOnly: boolean;
  protectedRoles: string[];
  protectedApps: string[];
  /** Picks the cluster a command names, or the only/default one; a clear sentence when it can't. */
  chooseCluster(name: string | undefined): ClusterChoice;
  /** What each cluster's role can do (read at start-up, refreshed on demand). */
  status(): Promise<HelpCluster[]>;
  requests: RequestService;
  health(): Promise<boolean>;
  metrics: Metrics;
  /** Turns an error from a cluster into a user-facing sentence when the cluster could not be reached, else null. */
  describeUnreachable(cluster: string, error: unknown): string | null;
  /** Watching (PGSESSIONS_WATCH_CHANNEL set): Snooze on an alert. Absent when nothing is watched. */
  watch?: Pick<Watcher, 'snooze'>;
}
