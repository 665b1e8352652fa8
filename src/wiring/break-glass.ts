// Break-glass wired (docs/approvals.md): its store on the state pool (same audit append and binder as the
// request store), the normal execution path, and what Slack says to the approvers. Always wired: whether it
// applies is the routing settings' (environment or clusters file), so a use stays reviewable after it is off.
import type pg from 'pg';
import type { WebClient } from '@slack/web-api';
import { breakGlassOpensAt, createBreakGlassService, type BreakGlassService } from '../domain/break-glass.js';
import type { GroupsPort } from '../domain/policy.js';
import type { RequestService, RequestSettings } from '../domain/request-service.js';
import type { KillRequest } from '../domain/types.js';
import type { RoutingSettings } from '../domain/routing.js';
import type { Binder } from '../domain/binding.js';
import type { Logger } from '../logger.js';
import { createBreakGlassStore } from '../postgres/break-glass-store.js';
import type { AppendAuditIn } from '../postgres/request-store.js';
import { createBreakGlassMessages } from '../slack/adapters/break-glass-messages.js';
import type { ApproverNoticesPort } from '../domain/approver-notices.js';

export interface BreakGlassWiring {
  statePool: pg.Pool;
  state: { appendIn: AppendAuditIn; binder: Binder; get(id: string): Promise<KillRequest | null> };
  groups: GroupsPort;
  client: WebClient;
  logger: Logger;
  /** The approver notices (their plain DM, `say`), when wired. */
  notices?: Pick<ApproverNoticesPort, 'say'>;
}

/** requests: the unwrapped request service (not rate-limited: the approval is already recorded). */
export function wireBreakGlass(
  w: BreakGlassWiring,
  settings: RequestSettings,
  requests: Pick<RequestService, 'executeApproved'>,
): BreakGlassService {
  return createBreakGlassService({
    store: createBreakGlassStore(w.statePool, w.state.appendIn, w.state.binder),
    settings,
    groups: w.groups,
    execute: (request) => requests.executeApproved(request),
    get: (id) => w.state.get(id),
    tell: createBreakGlassMessages(
      w.client,
      w.logger.child({ module: 'break-glass' }),
      w.notices ? (people, message) => w.notices!.say(people, message) : undefined,
    ),
  });
}

/** When break-glass opens for a request, for its channel message (null: it does not apply). */
export const breakGlassAt = (routing: RoutingSettings['routing']) => (request: KillRequest) =>
  breakGlassOpensAt(routing ? { routing } : {}, request);
