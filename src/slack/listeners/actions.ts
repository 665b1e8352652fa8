// Buttons. Row buttons open the request modal at once (a trigger_id dies after 3 s), then fill in the
// session as the database sees it. Approve / Deny / Withdraw carry only a request id; everything else is
// read from the state store at click time.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { WebClient } from '@slack/web-api';
import { z } from 'zod';
import type { TargetSnapshot } from '../../domain/types.js';
import type { Logger } from '../../logger.js';
import { READ_ONLY_TEXT } from '../../domain/messages.js';
import { parseCommand } from '../../domain/command.js';
import { buildRequestModal } from '../blocks/request-form.js';
import { asShared } from '../blocks/share.js';
import { sealed, verbatim } from '../blocks/mrkdwn.js';
import { answerRead, SHAREABLE } from './commands.js';
import { readFailureText } from '../blocks/read.js';
import { ACTION, decodeTarget, SNOOZE_ACTION, type ButtonTarget } from '../blocks/ids.js';
import { troubleSentence } from '../adapters/tell.js';
import { channelOf, clicker, logTrouble, notOurs } from './glue.js';
import type { AppServices } from '../services.js';
import { homeActed } from './home.js';

const requestId = z.uuid();

function seenSnapshot(target: ButtonTarget): TargetSnapshot {
  return {
    pid: target.pid,
    backendStart: target.backendStart,
    queryStart: target.queryStart,
    xactStart: null,
    backendType: target.kind === 'terminate_walsender' ? 'walsender' : 'client backend',
    user: null,
    database: null,
    application: null,
    client: null,
    state: null,
    query: null,
  };
}

interface FormContext {
  client: WebClient;
  services: AppServices;
  logger: Logger;
  tell: (text: string) => Promise<void>;
}

/**
 * Opens the request form at once (a trigger_id dies after 3 s), then fills in the session as the database
 * sees it. A form Slack will not open (expired_trigger_id, rate limited) is said to the person; nothing is
 * created either way until the form is sent.
 */
async function openRequestForm(
  ctx: FormContext,
  triggerId: string,
  target: ButtonTarget,
  reader: { user: string; channel: string },
): Promise<void> {
  const { client, services, logger, tell } = ctx;
  const { channel } = reader;
  let opened: Awaited<ReturnType<typeof client.views.open>>;
  try {
    opened = await client.views.open({
      trigger_id: triggerId,
      view: verbatim(buildRequestModal({ target, snapshot: seenSnapshot(target), channel })) as never,
    });
  } catch (error) {
    logger.warn({ err: error, cluster: target.cluster }, 'could not open the request form');
    await tell(troubleSentence(error, 'Slack would not open the form: nothing was requested. Press the button again.'));
    return;
  }
  // Now, with the modal on screen, show the session as the database sees it.
  try {
    const found = await services.reads.session(target.cluster, target.pid, reader);
    const row = found.ok ? found.value : null;
    if (row && row.backendStart === target.backendStart && opened.view?.id) {
      const snapshot: TargetSnapshot = { ...seenSnapshot(target), ...row, queryStart: target.queryStart };
      await client.views.update({
        view_id: opened.view.id,
        ...(opened.view.hash ? { hash: opened.view.hash } : {}),
        view: verbatim(buildRequestModal({ target, snapshot, channel })) as never,
      });
    }
  } catch (error) {
    logger.warn({ err: error, cluster: target.cluster }, 'could not fill in the request modal');
  }
}

/** Cancel / Terminate on a row: the request form, for those who may look at the session. */
function registerRowButtons(app: App, services: AppServices, logger: Logger): void {
  for (const actionId of [ACTION.cancel, ACTION.terminate, ACTION.terminateWalsender]) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, respond }) => {
      await ack();
      const tell = clicker({ body, client, respond }, logger);
      const target = decodeTarget(action.value ?? '');
      const channel = channelOf(body);
      if (!target || !channel) {
        await tell(notOurs());
        return;
      }
      if (services.readOnly) {
        await tell(READ_ONLY_TEXT);
        return;
      }
      const reader = { user: body.user.id, channel };
      // The form shows the session (its query, as PGSESSIONS_QUERY_TEXT allows): only for those who may look.
      const chosen = await services.reads.visible(target.cluster, reader);
      if (!chosen.ok) {
        await tell(readFailureText(chosen.refusal));
        return;
      }
      await openRequestForm({ client, services, logger, tell }, body.trigger_id, target, reader);
    });
  }
}

/** Share a listing in the channel: run the same command again (a fresh view), say who shared it. */
function registerShare(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(ACTION.share, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = clicker({ body, client, respond }, logger);
    try {
      const command = parseCommand(action.value ?? '');
      const channel = channelOf(body);
      if (!SHAREABLE.has(command.kind) || !channel) {
        await tell(notOurs('shared'));
        return;
      }
      const result = await answerRead(command, { user: body.user.id, channel }, services);
      if (result.outcome !== 'ok') {
        await tell(result.message.text);
        return;
      }
      await respond({
        response_type: 'in_channel',
        replace_original: false,
        ...sealed(asShared(result.message, body.user.id)),
      });
    } catch (error) {
      logger.error({ err: error }, 'share failed');
      await tell('Something went wrong on our side; nothing was shared.');
    }
  });
}

/** Approve / Deny / Withdraw: only a request id comes with the click. */
function registerDecisions(app: App, services: AppServices, logger: Logger): void {
  const decisions = [
    [ACTION.approve, (id: string, user: string) => services.requests.approve(id, user)],
    [ACTION.deny, (id: string, user: string) => services.requests.deny(id, user)],
    [ACTION.withdraw, (id: string, user: string) => services.requests.withdraw(id, user)],
  ] as const;
  for (const [actionId, decide] of decisions) {
    app.action<BlockAction<ButtonAction>>(actionId, async ({ ack, body, action, client, respond }) => {
      await ack();
      const tell = clicker({ body, client, respond }, logger);
      const id = requestId.safeParse(action.value);
      if (!id.success) {
        await tell(notOurs());
        return;
      }
      try {
        const result = await decide(id.data, body.user.id);
        if (!result.ok) await tell(result.refusal.message);
      } catch (error) {
        logTrouble(logger, error, { requestId: id.data, action: actionId }, 'decision');
        await tell(
          troubleSentence(
            error,
            'pgsessions could not record that decision (its state database may be unreachable): nothing was executed. Try again in a moment.',
          ),
        );
      }
      await homeActed(services, body, logger);
    });
  }
}

export function registerActions(app: App, services: AppServices, logger: Logger): void {
  registerRowButtons(app, services, logger);
  registerShare(app, services, logger);
  registerDecisions(app, services, logger);

  // A click on a button pgsessions does not own (a renamed action from an older message, another app's
  // block) is still acknowledged: unacked, Slack shows the clicker an error, and in Socket Mode nothing
  // would ever answer the envelope. Our own actions are acked by their listeners.
  const ours = new Set<string>(Object.values(ACTION));
  app.action(/.*/, async ({ ack, action }) => {
    const actionId = 'action_id' in action ? action.action_id : undefined;
    if (actionId !== undefined && (ours.has(actionId) || SNOOZE_ACTION.test(actionId))) return;
    await ack();
    logger.warn({ actionId }, 'a click on an action pgsessions does not know: acknowledged, nothing done');
  });
}
