// The request forms' submissions: a row's request form (one session) and a storm's bulk cancel. Both go
// through the one path in forms.ts; here is only what each form is about and what it asks for.
import type { App } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import {
  decodeModalMetadata,
  decodeStormMetadata,
  ESCALATE_CHOICE,
  INPUT,
  MODAL_ESCALATE_SECONDS,
  VIEW,
} from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { type FormValues, registerRequestForm } from './forms.js';

function escalates(values: FormValues): boolean {
  const choice = values[INPUT.escalateBlock]?.[INPUT.escalateAction] as
    | { selected_option?: { value?: unknown } | null }
    | undefined;
  return choice?.selected_option?.value === ESCALATE_CHOICE.cancelThenTerminate;
}

export function registerViews(app: App, services: AppServices, logger: Logger): void {
  // The session comes from the form's metadata (the row clicked); the request re-checks it against the server.
  registerRequestForm(app, services, logger, {
    callbackId: VIEW.request,
    what: 'request',
    decode: decodeModalMetadata,
    find: async ({ target, channel }, values) => {
      const escalate = escalates(values);
      const action = target.kind === 'cancel' ? (escalate ? 'cancel_then_terminate' : 'cancel') : target.kind;
      return {
        cluster: target.cluster,
        channel,
        ask: (reason, requester) =>
          services.requests.requestOne({
            cluster: target.cluster,
            action,
            pid: target.pid,
            seen: { backendStart: target.backendStart, queryStart: target.queryStart },
            escalateAfterSeconds: escalate ? MODAL_ESCALATE_SECONDS : null,
            reason,
            requester,
            channel,
          }),
      };
    },
  });

  // The storm form: only an incident id comes back; the sessions are read from the incident store again
  // now and frozen into the request (each re-checked against the live server), posted in the watch channel.
  registerRequestForm(app, services, logger, {
    callbackId: VIEW.stormRequest,
    what: 'storm request',
    decode: (metadata) => {
      const meta = decodeStormMetadata(metadata);
      return meta && services.watch ? { ...meta, watch: services.watch } : null;
    },
    find: async ({ incidentId, watch }) => {
      const storm = await watch.storm(incidentId);
      if (!storm.ok) return storm.message;
      return {
        cluster: storm.cluster,
        channel: storm.channel,
        ask: (reason, requester) =>
          services.requests.requestFrozenCancel({
            cluster: storm.cluster,
            members: storm.members,
            reason,
            requester,
            channel: storm.channel,
          }),
      };
    },
  });
}
