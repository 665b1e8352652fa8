// Snooze on an alert: silences that incident for everyone for 30 min or 2 h, audited. "Request cancel of
// these N…" on a storm alert opens the storm form; its sessions come from the incident store, never from
// the button. The other request buttons on an alert are the listing's own (ACTION.cancel / terminate).
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { READ_ONLY_TEXT } from '../../domain/messages.js';
import type { Logger } from '../../logger.js';
import { buildStormModal } from '../blocks/request-form.js';
import { verbatim } from '../blocks/mrkdwn.js';
import { readFailureText } from '../blocks/read.js';
import { ACTION, decodeSnooze, decodeStorm, SNOOZE_ACTION } from '../blocks/ids.js';
import type { AppServices } from '../services.js';
import { troubleSentence } from '../adapters/tell.js';
import { clicker, notOurs } from './glue.js';

export function registerWatchActions(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(SNOOZE_ACTION, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = clicker({ body, client, respond }, logger);
    const snooze = decodeSnooze(action.value ?? '');
    if (!snooze || !services.watch) {
      await tell(notOurs('snoozed'));
      return;
    }
    try {
      const reader = { user: body.user.id, channel: body.channel?.id ?? '' };
      const mayView = async (cluster: string) => {
        const allowed = await services.reads.visible(cluster, reader);
        return allowed.ok ? null : readFailureText(allowed.refusal);
      };
      const result = await services.watch.snooze(snooze.incidentId, snooze.minutes, body.user.id, mayView);
      await tell(
        result.ok
          ? `Snoozed for everyone for ${snooze.minutes < 60 ? `${snooze.minutes} min` : `${snooze.minutes / 60} h`} (audited).`
          : result.message,
      );
    } catch (error) {
      logger.error({ err: error }, 'snooze failed');
      await tell(
        'pgsessions could not record the snooze (its state database may be unreachable). Try again in a moment.',
      );
    }
  });

  app.action<BlockAction<ButtonAction>>(ACTION.watchCancelStorm, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = clicker({ body, client, respond }, logger);
    const ref = decodeStorm(action.value ?? '');
    if (!ref || !services.watch) {
      await tell(notOurs());
      return;
    }
    if (services.readOnly) {
      await tell(READ_ONLY_TEXT);
      return;
    }
    try {
      const storm = await services.watch.storm(ref.incidentId);
      if (!storm.ok) {
        await tell(storm.message);
        return;
      }
      // The form shows the statement and applications: only for those who may look at this cluster here.
      const allowed = await services.reads.visible(storm.cluster, { user: body.user.id, channel: storm.channel });
      if (!allowed.ok) {
        await tell(readFailureText(allowed.refusal));
        return;
      }
      await client.views.open({
        trigger_id: body.trigger_id,
        view: verbatim(
          buildStormModal({
            cluster: storm.cluster,
            incidentId: ref.incidentId,
            channel: storm.channel,
            count: storm.members.length,
            query: storm.query,
            applications: storm.applications,
            oldestSeconds: storm.oldestSeconds,
          }),
        ) as never,
      });
    } catch (error) {
      logger.error({ err: error }, 'could not open the storm request form');
      await tell(
        troubleSentence(
          error,
          'pgsessions could not read that alert (its state database may be unreachable): nothing was done. Try again in a moment.',
        ),
      );
    }
  });
}
