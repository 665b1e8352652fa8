// A connection storm's relief: "Request terminate of the N idle sessions of app X…" on a connections alert
// opens the form; its submission asks for the request. Both carry only the incident id: the application
// comes from the incident store and the sessions from the server, never from the payload.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import { buildReliefModal, INCLUDE_ACTIVE } from '../blocks/relief.js';
import { verbatim } from '../blocks/mrkdwn.js';
import { readFailurePlain, readFailureText } from '../blocks/read.js';
import { ACTION, decodeStorm, decodeStormMetadata, INPUT, VIEW } from '../blocks/ids.js';
import type { AppServices } from '../services.js';

const UNREADABLE =
  'pgsessions could not read that alert (its state database may be unreachable): nothing was requested. Try again in a moment.';

/** The widening checkbox: ticked only when its one option, exactly, comes back selected. */
function includesActive(values: Record<string, Record<string, unknown>>): boolean {
  const selected = (
    values[INPUT.includeActiveBlock]?.[INPUT.includeActiveAction] as { selected_options?: unknown } | undefined
  )?.selected_options;
  return Array.isArray(selected) && selected.some((o) => (o as { value?: unknown } | null)?.value === INCLUDE_ACTIVE);
}

export function registerRelief(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(
    ACTION.watchRelieveConnections,
    async ({ ack, body, action, client, respond }) => {
      await ack();
      const tell = async (text: string) => {
        if (typeof respond !== 'function') return;
        await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((error: unknown) =>
          logger.warn({ err: error }, 'could not answer the clicker'),
        );
      };
      const ref = decodeStorm(action.value ?? '');
      if (!ref || !services.watch)
        return tell('That button is not one pgsessions made (or it is damaged): nothing was done.');
      if (services.readOnly)
        return tell('pgsessions is in read-only mode (PGSESSIONS_READ_ONLY): nothing can be cancelled or terminated.');
      try {
        const found = await services.watch.relief(ref.incidentId);
        if (!found.ok) return tell(found.message);
        const allowed = await services.reads.visible(found.cluster, { user: body.user.id, channel: found.channel });
        if (!allowed.ok) return tell(readFailureText(allowed));
        await client.views.open({
          trigger_id: body.trigger_id,
          view: verbatim(
            buildReliefModal({
              cluster: found.cluster,
              incidentId: ref.incidentId,
              channel: found.channel,
              relief: found.relief,
            }),
          ) as never,
        });
      } catch (error) {
        logger.error({ err: error }, 'could not open the relief form');
        await tell(UNREADABLE);
      }
    },
  );

  app.view(VIEW.reliefRequest, async ({ ack, body, view, client }) => {
    const meta = decodeStormMetadata(view.private_metadata);
    const typed: unknown = view.state.values[INPUT.reasonBlock]?.[INPUT.reasonAction]?.value;
    const reason = typeof typed === 'string' ? typed.trim() : '';
    const refuse = (message: string) => ack({ response_action: 'errors', errors: { [INPUT.reasonBlock]: message } });
    if (!meta || !services.watch) return refuse('This form is damaged: close it and press the button again.');
    if (reason.length === 0) return refuse('Give a reason: it goes into the audit trail.');
    let found: Awaited<ReturnType<NonNullable<AppServices['watch']>['relief']>>;
    try {
      found = await services.watch.relief(meta.incidentId);
    } catch (error) {
      logger.error({ err: error }, 'could not read the connections alert');
      return refuse(UNREADABLE);
    }
    if (!found.ok) return refuse(found.message);
    const allowed = await services.reads.visible(found.cluster, { user: body.user.id, channel: found.channel });
    if (!allowed.ok) return refuse(readFailurePlain(allowed));
    await ack();
    const { application, seenAt } = found.relief;
    let message: string;
    try {
      const scope = {
        application,
        connectedBy: seenAt,
        includeActive: includesActive(view.state.values as Record<string, Record<string, unknown>>),
      };
      const result = await services.requests.requestRelief({
        cluster: found.cluster,
        scope,
        reason,
        requester: body.user.id,
        channel: found.channel,
      });
      if (result.ok) return;
      message = result.message;
    } catch (error) {
      logger.error({ err: error }, 'relief request failed');
      message =
        'pgsessions could not record the request (its state database may be unreachable): nothing was requested.';
    }
    await client.chat
      .postEphemeral({ channel: found.channel, user: body.user.id, text: message })
      .catch((error: unknown) => {
        logger.warn({ err: error }, 'could not tell the requester');
      });
  });
}
