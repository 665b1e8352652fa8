// What the Slack listeners may call: the use cases and a few settings. Built by the composition root;
// listeners never see clusters, pools or the Web API client behind these.
import type { ReadService } from '../domain/reads.js';
import type { RequestService } from '../domain/requests.js';
import type { Metrics } from '../metrics.js';

export interface AppServices {
  readOnly: boolean;
  /** Listings, the lock-wait tree, walsenders, status, open requests, one session for the request form. */
  reads: ReadService;
  requests: RequestService;
  health(): Promise<boolean>;
  metrics: Metrics;
}
