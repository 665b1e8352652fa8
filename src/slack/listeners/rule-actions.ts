// Buttons of standing approvals: Approve / Deny / Withdraw on a proposal, Revoke on a rule or in the list.
// Each carries only a rule id; who may do what is decided by the rule use cases at click time.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { stateTroubleText } from '../../domain/state-trouble.js';
import { revokedReply } from '../blocks/rule.js';
import { ACTION } from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { tellPerson, troubleSentence } from '../adapters/tell.js';
import { GroupsUnavailable } from '../../domain/policy.js';

const ruleId = z.uuid();

const DONE = {
  ruleApprove: 'Rule approved: the watcher applies it from its next look.',
  ruleDeny: 'Rule denied.',
  ruleWithdraw: 'Proposal withdrawn.',
} as const;

export function registerRuleActions(app: App, services: AppServices, logger: Logger): void {
  for (const key of ['ruleApprove', 'ruleDeny', 'ruleWithdraw', 'ruleRevoke'] as const) {
    app.action<BlockAction<ButtonAction>>(ACTION[key], async ({ ack, body, action, client, respond }) => {
      await ack();
      const tell = (text: string) =>
        tellPerson(client, { user: body.user.id, channel: body.channel?.id ?? null, respond }, { text }, logger);
      const id = ruleId.safeParse(action.value);
      if (!id.success || !services.rules) {
        await tell('That button is not one pgsessions made (or it is damaged): nothing was done.');
        return;
      }
      const user = body.user.id;
      try {
        const rules = services.rules;
        if (key === 'ruleRevoke') {
          // Answered once nothing of the rule is under way any more (the use case waits, bounded): this
          // answer and the message saying "revoked" are the acknowledgement. Bolt's ack() went out above.
          const result = await rules.revoke(id.data, user);
          logger.info(
            {
              action: key,
              rule: id.data,
              user,
              ok: result.ok,
              code: result.ok ? undefined : result.code,
              inFlight: result.ok ? result.value.inFlight.length : undefined,
            },
            'rule decision',
          );
          await tell(result.ok ? revokedReply(result.value) : result.message);
          return;
        }
        const result =
          key === 'ruleApprove'
            ? await rules.approve(id.data, user)
            : key === 'ruleDeny'
              ? await rules.deny(id.data, user)
              : await rules.withdraw(id.data, user);
        logger.info(
          { action: key, rule: id.data, user, ok: result.ok, code: result.ok ? undefined : result.code },
          'rule decision',
        );
        await tell(result.ok ? DONE[key] : result.message);
      } catch (error) {
        if (error instanceof GroupsUnavailable)
          logger.warn(
            { retryAfterSeconds: error.retryAfterSeconds },
            'rule decision put off: user groups rate limited',
          );
        else if (stateTroubleText(error))
          logger.warn({ rule: id.data }, 'rule decision refused: the state database is read-only');
        else logger.error({ err: error }, 'rule decision failed');
        await tell(
          troubleSentence(error, 'Something went wrong on our side; nothing was changed. The error is in the app log.'),
        );
      }
    });
  }
}
