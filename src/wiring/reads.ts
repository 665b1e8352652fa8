// What listings, `status`, `cluster:*` and the Home tab read through: the live clusters, the pending requests,
// who may view each cluster, and how a connection failure is worded (the log keeps what happened, scrubbed).
import type { Config } from '../config.js';
import type { GroupsPort } from '../domain/policy.js';
import type { ReadDeps } from '../domain/read-service.js';
import type { Logger } from '../logger.js';
import type { LiveClusters } from '../live-clusters.js';
import type { StatePort } from '../domain/state-ports.js';
import { describeConnectionError, troubleOf } from '../postgres/pools.js';

export function readDepsOf(
  config: Config,
  clusters: LiveClusters,
  state: Pick<StatePort, 'listPending'>,
  groups: GroupsPort,
  log: Logger,
): ReadDeps {
  return {
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
}
