// The request modal's submission: a reason is required (the modal says so in place); then the request is
// created and posted in the channel where the button was pressed.
import type { App } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import { stateTroubleText } from '../../domain/state-trouble.js';
import {
  decodeModalMetadata,
  decodeStormMetadata,
  ESCALATE_CHOICE,
  INPUT,
  MODAL_ESCALATE_SECONDS,
  VIEW,
} from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { readFailurePlain } from '../blocks/read.js';

export function registerViews(app: App, services: AppServices, logger: Logger): void {
  app.view(VIEW.request, async ({ ack, body, view, client }) => {
    const meta = decodeModalMetadata(view.private_metadata);
    // A signed payload is Slack's, but its fields are still checked: a non-string value is no reason.
    const typed: unknown = view.state.values[INPUT.reasonBlock]?.[INPUT.reasonAction]?.value;
    const reason = typeof typed === 'string' ? typed.trim() : '';
    if (!meta) {
      await ack({
        response_action: 'errors',
        errors: { [INPUT.reasonBlock]: 'This form is damaged: close it and press the button again.' },
      });
      return;
    }
    if (reason.length === 0) {
      await ack({
        response_action: 'errors',
        errors: { [INPUT.reasonBlock]: 'Give a reason: it goes into the audit trail.' },
      });
      return;
    }
    const escalate =
      view.state.values[INPUT.escalateBlock]?.[INPUT.escalateAction]?.selected_option?.value ===
      ESCALATE_CHOICE.cancelThenTerminate;
    const { target, channel } = meta;
    const allowed = await services.reads.visible(target.cluster, { user: body.user.id, channel });
    if (!allowed.ok) {
      await ack({ response_action: 'errors', errors: { [INPUT.reasonBlock]: readFailurePlain(allowed) } });
      return;
    }
    await ack();
    const action = target.kind === 'cancel' ? (escalate ? 'cancel_then_terminate' : 'cancel') : target.kind;
    let message: string;
    try {
      const result = await services.requests.requestOne({
        cluster: target.cluster,
        action,
        pid: target.pid,
        seen: { backendStart: target.backendStart, queryStart: target.queryStart },
        escalateAfterSeconds: escalate ? MODAL_ESCALATE_SECONDS : null,
        reason,
        requester: body.user.id,
        channel,
      });
      if (result.ok) return;
      message = result.message;
    } catch (error) {
      logger.error({ err: error }, 'request failed');
      message =
        stateTroubleText(error) ??
        'pgsessions could not record the request (its state database may be unreachable): nothing was requested.';
    }
    await client.chat.postEphemeral({ channel, user: body.user.id, text: message }).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not tell the requester');
    });
  });

  // The storm form: only an incident id comes back; the sessions are read from the incident store again
  // now and frozen into the request (each re-checked against the live server), posted in the watch channel.
  app.view(VIEW.stormRequest, async ({ ack, body, view, client }) => {
    const meta = decodeStormMetadata(view.private_metadata);
    const typed: unknown = view.state.values[INPUT.reasonBlock]?.[INPUT.reasonAction]?.value;
    const reason = typeof typed === 'string' ? typed.trim() : '';
    if (!meta || !services.watch) {
      await ack({
        response_action: 'errors',
        errors: { [INPUT.reasonBlock]: 'This form is damaged: close it and press the button again.' },
      });
      return;
    }
    if (reason.length === 0) {
      await ack({
        response_action: 'errors',
        errors: { [INPUT.reasonBlock]: 'Give a reason: it goes into the audit trail.' },
      });
      return;
    }
    let storm: Awaited<ReturnType<NonNullable<AppServices['watch']>['storm']>>;
    try {
      storm = await services.watch.storm(meta.incidentId);
    } catch (error) {
      logger.error({ err: error }, 'could not read the storm');
      await ack({
        response_action: 'errors',
        errors: {
          [INPUT.reasonBlock]:
            'pgsessions could not read that alert (its state database may be unreachable): nothing was requested.',
        },
      });
      return;
    }
    if (!storm.ok) {
      await ack({ response_action: 'errors', errors: { [INPUT.reasonBlock]: storm.message } });
      return;
    }
    const allowed = await services.reads.visible(storm.cluster, { user: body.user.id, channel: storm.channel });
    if (!allowed.ok) {
      await ack({ response_action: 'errors', errors: { [INPUT.reasonBlock]: readFailurePlain(allowed) } });
      return;
    }
    await ack();
    let message: string;
    try {
      const result = await services.requests.requestFrozenCancel({
        cluster: storm.cluster,
        members: storm.members,
        reason,
        requester: body.user.id,
        channel: storm.channel,
      });
      if (result.ok) return;
      message = result.message;
    } catch (error) {
      logger.error({ err: error }, 'storm request failed');
      message =
        stateTroubleText(error) ??
        'pgsessions could not record the request (its state database may be unreachable): nothing was requested.';
    }
    await client.chat
      .postEphemeral({ channel: storm.channel, user: body.user.id, text: message })
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'could not tell the requester');
      });
  });
}
