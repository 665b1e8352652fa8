// A connection storm's relief: "Request terminate of the N idle sessions of app X…" on a connections alert
// opens the form; its submission asks for the request. Both carry only the incident id: the application
// comes from the incident store and the sessions from the server, never from the payload.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { READ_ONLY_TEXT } from '../../domain/messages.js';
import type { Logger } from '../../logger.js';
import { buildReliefModal, INCLUDE_ACTIVE } from '../blocks/relief.js';
import { verbatim } from '../blocks/mrkdwn.js';
import { readFailureText } from '../blocks/read.js';
import { ACTION, decodeStorm, decodeStormMetadata, INPUT, VIEW } from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { type FormValues, registerRequestForm, UNREADABLE } from './forms.js';
import { clicker, notOurs } from './glue.js';

/** The widening checkbox: ticked only when its one option, exactly, comes back selected. */
function includesActive(values: FormValues): boolean {
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
      const tell = clicker({ body, client, respond }, logger);
      const ref = decodeStorm(action.value ?? '');
      if (!ref || !services.watch) return tell(notOurs());
      if (services.readOnly) return tell(READ_ONLY_TEXT);
      try {
        const found = await services.watch.relief(ref.incidentId);
        if (!found.ok) return tell(found.message);
        const allowed = await services.reads.visible(found.cluster, { user: body.user.id, channel: found.channel });
        if (!allowed.ok) return tell(readFailureText(allowed.refusal));
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

  // The relief form: only the incident id comes back; the application is read from the incident store again.
  registerRequestForm(app, services, logger, {
    callbackId: VIEW.reliefRequest,
    what: 'relief request',
    decode: (metadata) => {
      const meta = decodeStormMetadata(metadata);
      return meta && services.watch ? { ...meta, watch: services.watch } : null;
    },
    find: async ({ incidentId, watch }, values) => {
      const found = await watch.relief(incidentId);
      if (!found.ok) return found.message;
      const { application, seenAt } = found.relief;
      return {
        cluster: found.cluster,
        channel: found.channel,
        ask: (reason, requester) =>
          services.requests.requestRelief({
            cluster: found.cluster,
            scope: { application, connectedBy: seenAt, includeActive: includesActive(values) },
            reason,
            requester,
            channel: found.channel,
          }),
      };
    },
  });
}
