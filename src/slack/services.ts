// What the Slack listeners may call: the use cases and a few settings. Built by the composition root;
// listeners never see clusters, pools or the Web API client behind these.
import type { ReadService } from '../domain/read-service.js';
import type { RequestService } from '../domain/request-service.js';
import type { Metrics } from '../metrics.js';
import type { QueryTextMode } from '../domain/policy.js';
import type { PeoplePort } from '../domain/workspaces.js';
import type { Limiter } from '../domain/rate-limit.js';
import type { AuditTrust } from './blocks/help.js';
import type { WatchActionsPort } from '../domain/watch-actions.js';
import type { RuleService } from '../domain/rule-service.js';
import type { ChannelHealth } from './adapters/channel-health.js';
import type { FleetView } from '../domain/fleet.js';
import type { DrainService } from '../domain/drain-service.js';
import type { HomeTabPort } from '../domain/home.js';

export interface AppServices {
  readOnly: boolean;
  /** PGSESSIONS_QUERY_TEXT: every surface shapes query text by it (the use cases already did for their data). */
  queryText: QueryTextMode;
  /** Listings, the lock-wait tree, walsenders, status, open requests, one session for the request form. */
  reads: ReadService;
  requests: RequestService;
  /** The installing workspace and who is a guest: the workspace guard asks before any listener runs. */
  people: PeoplePort;
  /** What the audit trail can prove with this setup, for `status` (unset: not said). */
  audit?: AuditTrust;
  /** Per-user budget of listings and other reads (PGSESSIONS_LISTING_RATE / _BURST). */
  readLimiter: Limiter;
  health(): Promise<boolean>;
  metrics: Metrics;
  /** Watching (PGSESSIONS_WATCH_CHANNEL set): Snooze on an alert, a storm's frozen sessions, a connection storm's relief. Absent when nothing is watched. */
  watch?: WatchActionsPort;
  /** Standing approvals (`allow`, `rules`, their buttons). */
  rules?: Pick<RuleService, 'propose' | 'approve' | 'deny' | 'withdraw' | 'revoke' | 'list'>;
  /** `cluster:*`: every cluster the person may view, each within PGSESSIONS_FLEET_TIMEOUT. */
  fleet?: FleetView;
  /** Whether the audit and watch channels take posts, for `status`. */
  channels?: Pick<ChannelHealth, 'check'>;
  /** Maintenance drains (`drain`, `undrain`, End drain now, the listing's drained lines). */
  drains?: DrainService;
  /** The App Home tab (docs/approvals.md): published when opened, republished on every change. */
  home?: HomeTabPort;
}
