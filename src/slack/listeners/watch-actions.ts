// Snooze on an alert: silences that incident for everyone for 30 min or 2 h, audited. The request buttons
// on an alert are the listing's own (ACTION.cancel / terminate): they need no listener here.
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import { ACTION, decodeSnooze } from '../ids.js';
import type { AppServices } from '../services.js';

export function registerWatchActions(app: App, services: AppServices, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(ACTION.watchSnooze, async ({ ack, body, action, respond }) => {
    await ack();
    const tell = async (text: string) => {
      if (typeof respond !== 'function') return;
      await respond({ response_type: 'ephemeral', replace_original: false, text }).catch((error: unknown) => logger.warn({ err: error }, 'could not answer the clicker'));
    };
    const snooze = decodeSnooze(action.value ?? '');
    if (!snooze || !services.watch) {
      await tell('That button is not one pgsessions made (or it is damaged): nothing was snoozed.');
      return;
    }
    try {
      const result = await services.watch.snooze(snooze.incidentId, snooze.minutes, body.user.id);
      await tell(result.ok ? `Snoozed for everyone for ${snooze.minutes < 60 ? `${snooze.minutes} min` : `${snooze.minutes / 60} h`} (audited).` : result.message);
    } catch (error) {
      logger.error({ err: error }, 'snooze failed');
      await tell('pgsessions could not record the snooze (its state database may be unreachable). Try again in a moment.');
    }
  });
}
