// Who may request and approve on a cluster, and how its approvals are routed (quorum, escalation, break-glass):
// the cluster's own entry in the clusters file as it is now (it may have been reloaded), else the global settings.
import type { ClusterConfig, Config } from '../config.js';
import type { AccessRules } from '../domain/policy.js';
import type { ApprovalRouting } from '../domain/routing.js';

export function perCluster(config: Config, configOf: (name: string) => ClusterConfig | undefined) {
  return {
    rulesFor: (name: string): AccessRules => {
      const c = configOf(name);
      return { requesters: c?.requesters ?? config.requesters, approvers: c?.approvers ?? config.approvers };
    },
    routingFor: (name: string): ApprovalRouting => configOf(name)?.routing ?? config.routing,
  };
}
