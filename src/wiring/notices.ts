// Direct messages to approvers (docs/approvals.md "Direct messages"), built for the composition root: the
// notices themselves, and the request and rule messages that refresh them whenever they update the channel.
import type pg from 'pg';
import type { WebClient } from '@slack/web-api';
import type { Config } from '../config.js';
import type { ApproverNoticesPort } from '../domain/approver-notices.js';
import type { GroupsPort } from '../domain/policy.js';
import type { RequestMessagesPort } from '../domain/request-service.js';
import type { RuleMessagesPort } from '../domain/rule-service.js';
import type { Logger } from '../logger.js';
import type { RoutingSettings } from '../domain/routing.js';
import { breakGlassAt } from './break-glass.js';
import { createApproverMessagesStore } from '../postgres/approver-messages-store.js';
import { createApproverNotices } from '../slack/adapters/approver-notices.js';
import { createRequestMessages } from '../slack/adapters/request-messages.js';
import { createRuleMessages } from '../slack/adapters/rule-messages.js';

export interface NoticesWiring {
  notices: ApproverNoticesPort;
  requestMessages: RequestMessagesPort;
  ruleMessages: RuleMessagesPort;
}

export function wireNotices(
  config: Pick<Config, 'queryText'>,
  client: WebClient,
  once: WebClient,
  groups: GroupsPort,
  statePool: pg.Pool,
  logger: Logger,
  /** Per-cluster routing: where and when break-glass applies, for the request messages' Break glass button. */
  routing?: RoutingSettings['routing'],
): NoticesWiring {
  const notices = createApproverNotices({
    client,
    once,
    groups,
    store: createApproverMessagesStore(statePool),
    logger: logger.child({ module: 'approver-notices' }),
    queryText: config.queryText,
  });
  return {
    notices,
    requestMessages: createRequestMessages(client, once, config.queryText, notices, breakGlassAt(routing)),
    ruleMessages: createRuleMessages(client, once, logger.child({ module: 'rules' }), config.queryText, notices),
  };
}
