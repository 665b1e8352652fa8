// What the Slack listeners may call: the use cases, the cluster directory, and a few settings. Built by the
// composition root; listeners never see pools or the Web API client behind these.
import type { RateLimiter } from '../domain/rate-limit.js';
import type { RequestService } from '../domain/requests.js';
import type { Metrics } from '../metrics.js';
import type { Cluster } from '../postgres/session-store.js';
import type { AuditTrust, HelpCluster } from './blocks/help.js';

export type ClusterChoice = { ok: true; cluster: Cluster } | { ok: false; message: string };

export interface AppServices {
  readOnly: boolean;
  /** What the audit trail can prove with this setup, for `status` (unset: not said). */
  audit?: AuditTrust;
  protectedRoles: string[];
  protectedApps: string[];
  /** Picks the cluster a command names, or the only/default one; a clear sentence when it can't. */
  chooseCluster(name: string | undefined): ClusterChoice;
  /** What each cluster's role can do (read at start-up, refreshed on demand). */
  status(): Promise<HelpCluster[]>;
  requests: RequestService;
  /** Per-user budget of listings and other reads (PGSESSIONS_LISTING_RATE / _BURST). */
  readLimiter: RateLimiter;
  health(): Promise<boolean>;
  metrics: Metrics;
  /** Turns an error from a cluster into a user-facing sentence when the cluster could not be reached, else null. */
  describeUnreachable(cluster: string, error: unknown): string | null;
}
