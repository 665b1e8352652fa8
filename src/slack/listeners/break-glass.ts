// Break-glass (docs/approvals.md): the requester's Break glass button opens the confirmation form (only when
// break-glass applies now: the use case says why not otherwise); its submission executes the request alone;
// Reviewed, pressed by an approver other than the requester, records the review once.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { z } from 'zod';
import { BREAK_GLASS_WHY_MAX } from '../../domain/break-glass.js';
import { BREAK_GLASS_TEXT, stateTroubleText } from '../../domain/messages.js';
import type { Logger } from '../../logger.js';
import { troubleSentence } from '../adapters/tell.js';
import { breakGlassModal, breakGlassReviewedMessage } from '../blocks/break-glass.js';
import { ACTION, INPUT, VIEW } from '../blocks/ids.js';
import { sealed, verbatim } from '../blocks/mrkdwn.js';
import type { AppServices } from '../services.js';
import { clicker, logTrouble, notOurs } from './glue.js';

const requestId = z.uuid();
const DAMAGED = 'This form is damaged: close it and press Break glass again.';
const NOT_RECORDED =
  'pgsessions could not record that (its state database may be unreachable): nothing was executed. Try again in a moment.';

function registerButton(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(ACTION.breakGlass, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = clicker({ body, client, respond }, logger);
    const id = requestId.safeParse(action.value);
    if (!id.success) return tell(notOurs('executed'));
    const glass = services.breakGlass;
    if (!glass) return tell(BREAK_GLASS_TEXT.off);
    try {
      const may = await glass.mayBreakGlass(id.data, body.user.id);
      if (!may.ok) return tell(may.refusal.message);
      await client.views.open({
        trigger_id: body.trigger_id,
        view: verbatim(breakGlassModal(may.value.request)) as never,
      });
    } catch (error) {
      logTrouble(logger, error, { requestId: id.data }, 'break-glass form');
      await tell(
        troubleSentence(error, 'Slack would not open the form: nothing was executed. Press the button again.'),
      );
    }
  });
}

function whyOf(values: Record<string, Record<string, unknown>>): string {
  const typed = (values[INPUT.breakGlassBlock]?.[INPUT.breakGlassAction] as { value?: unknown } | undefined)?.value;
  return typeof typed === 'string' ? typed.trim() : '';
}

function registerForm(app: App, services: AppServices, logger: Logger): void {
  app.view(VIEW.breakGlass, async ({ ack, body, view, client }) => {
    const refuse = (message: string) =>
      ack({ response_action: 'errors', errors: { [INPUT.breakGlassBlock]: message } });
    const id = requestId.safeParse(view.private_metadata);
    const glass = services.breakGlass;
    if (!id.success || !glass) return refuse(DAMAGED);
    const why = whyOf(view.state.values as Record<string, Record<string, unknown>>);
    if (why.length === 0) return refuse(BREAK_GLASS_TEXT.reasonRequired);
    if (why.length > BREAK_GLASS_WHY_MAX) return refuse(BREAK_GLASS_TEXT.reasonTooLong);
    const user = body.user.id;
    let channel: string;
    try {
      // Refused in place while the form is open (too early, decided, off…); the write re-checks it all.
      const may = await glass.mayBreakGlass(id.data, user);
      if (!may.ok) return refuse(may.refusal.message);
      channel = may.value.request.channel;
    } catch (error) {
      logTrouble(logger, error, { requestId: id.data }, 'break-glass check');
      return refuse(stateTroubleText(error) ?? NOT_RECORDED);
    }
    await ack();
    let message: string;
    try {
      const done = await glass.breakGlass(id.data, user, why);
      if (done.ok) return;
      message = done.refusal.message;
    } catch (error) {
      logTrouble(logger, error, { requestId: id.data }, 'break-glass');
      message = stateTroubleText(error) ?? NOT_RECORDED;
    }
    await client.chat.postEphemeral({ channel, user, text: message }).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not tell the requester');
    });
  });
}

function registerReviewed(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(ACTION.breakGlassReviewed, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = clicker({ body, client, respond }, logger);
    const id = requestId.safeParse(action.value);
    const glass = services.breakGlass;
    if (!id.success || !glass) return tell(notOurs('reviewed'));
    try {
      const done = await glass.review(id.data, body.user.id);
      if (!done.ok) return tell(done.refusal.message);
      // The message pressed (a DM, the thread) shows the review in place of its button.
      if (respond)
        await respond({ replace_original: true, ...sealed(breakGlassReviewedMessage(null, done.value, body.user.id)) });
    } catch (error) {
      logTrouble(logger, error, { requestId: id.data }, 'break-glass review');
      await tell(troubleSentence(error, NOT_RECORDED.replace('executed', 'recorded')));
    }
  });
}

export function registerBreakGlass(app: App, services: AppServices, logger: Logger): void {
  registerButton(app, services, logger);
  registerForm(app, services, logger);
  registerReviewed(app, services, logger);
}
