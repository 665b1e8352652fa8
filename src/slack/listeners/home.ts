// The App Home tab: `app_home_opened` (the Home tab only, not Messages or About) publishes the person's Home
// (after the workspace guard, like every event). A decision clicked on the Home goes to the same listeners as
// the channel message's buttons (same action ids); they call homeActed() after deciding so the clicker's Home
// shows the outcome at once.
import type { App, BlockAction } from '@slack/bolt';
import type { Logger } from '../../logger.js';
import type { AppServices } from '../services.js';

/** The click came from a view (the Home tab or a modal), which has no channel and no response_url. */
export function fromView(body: BlockAction): boolean {
  return (body.container as { type?: unknown } | undefined)?.type === 'view' || body.view !== undefined;
}

/** After a decision: the clicker's Home again when they clicked on it (the poll republishes everyone else's). */
export async function homeActed(services: AppServices, body: BlockAction, logger: Logger): Promise<void> {
  if (!services.home || body.view?.type !== 'home') return;
  await services.home.acted(body.user.id).catch((error: unknown) => {
    logger.warn({ err: error }, 'could not republish the Home after a decision');
  });
}

export function registerHome(app: App, services: AppServices, logger: Logger): void {
  app.event('app_home_opened', async ({ event }) => {
    if (event.tab !== 'home' || !services.home) return;
    try {
      await services.home.opened(event.user);
    } catch (error) {
      logger.warn({ err: error, user: event.user }, 'could not show the Home tab');
    }
  });
}
