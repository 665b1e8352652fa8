// End drain now, on a drain request's message: carries only the drain id; who may end it is decided by the
// drain use case at click time (the requester, the approver, anyone who may approve on the cluster).
import type { App, BlockAction, ButtonAction } from '@slack/bolt';
import { z } from 'zod';
import type { Logger } from '../../logger.js';
import type { DrainService } from '../../domain/drain-service.js';
import { ACTION } from '../blocks/ids.js';
import { tellPerson, troubleSentence } from '../adapters/tell.js';

const drainId = z.uuid();

export function registerDrainActions(app: App, drains: DrainService | undefined, logger: Logger): void {
  app.action<BlockAction<ButtonAction>>(ACTION.drainEnd, async ({ ack, body, action, client, respond }) => {
    await ack();
    const tell = (text: string) =>
      tellPerson(client, { user: body.user.id, channel: body.channel?.id ?? null, respond }, { text }, logger);
    const id = drainId.safeParse(action.value);
    if (!id.success || !drains) {
      await tell('That button is not one pgsessions made (or it is damaged): nothing was done.');
      return;
    }
    try {
      const result = await drains.endNow(id.data, body.user.id);
      logger.info({ drain: id.data, user: body.user.id, ok: result.ok }, 'end drain');
      await tell(result.ok ? result.value : result.message);
    } catch (error) {
      logger.error({ err: error, drain: id.data }, 'end drain failed');
      await tell(troubleSentence(error, 'Something went wrong on our side; the drain still ends at its time.'));
    }
  });
}
