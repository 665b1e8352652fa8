// Buttons of standing approvals: Approve / Deny / Withdraw on a proposal, Revoke on a rule or in the list.
// Each carries only a rule id; who may do what is decided by the rule use cases at click time.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import { revokedReply } from '../blocks/rule.js';
import { ACTION } from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { troubleSentence } from '../adapters/tell.js';
import { clicker, logTrouble, notOurs } from './glue.js';
import { homeActed } from './home.js';

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
      const tell = clicker({ body, client, respond }, logger);
      const id = ruleId.safeParse(action.value);
      if (!id.success || !services.rules) {
        await tell(notOurs());
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
              code: result.ok ? undefined : result.refusal.code,
              inFlight: result.ok ? result.value.inFlight.length : undefined,
            },
            'rule decision',
          );
          await tell(result.ok ? revokedReply(result.value) : result.refusal.message);
          return;
        }
        const result =
          key === 'ruleApprove'
            ? await rules.approve(id.data, user)
            : key === 'ruleDeny'
              ? await rules.deny(id.data, user)
              : await rules.withdraw(id.data, user);
        logger.info(
          { action: key, rule: id.data, user, ok: result.ok, code: result.ok ? undefined : result.refusal.code },
          'rule decision',
        );
        await tell(result.ok ? DONE[key] : result.refusal.message);
      } catch (error) {
        logTrouble(logger, error, { rule: id.data, action: key }, 'rule decision');
        await tell(
          troubleSentence(error, 'Something went wrong on our side; nothing was changed. The error is in the app log.'),
        );
      }
      await homeActed(services, body, logger);
    });
  }
}
