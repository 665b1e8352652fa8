// Publishing a person's Home (views.publish): rendered by blocks/home.ts, skipped when its content is what
// this replica last published to them (Slack rate-limits views.publish per person; the content holds no clock,
// so an unchanged Home hashes the same). A failure is logged and reported, never thrown: one person's Home
// must not stop the others'.
import { createHash } from 'node:crypto';
import type { WebClient } from '@slack/web-api';
import type { HomeContent } from '../../domain/home.js';
import type { Published } from '../../domain/home-refresh.js';
import type { Logger } from '../../logger.js';
import { buildHomeView } from '../blocks/home.js';

export interface HomePublisher {
  publish(content: HomeContent, force: boolean): Promise<Published>;
  forget(user: string): void;
}

export function createHomePublisher(client: WebClient, logger: Logger): HomePublisher {
  const last = new Map<string, string>();
  return {
    async publish(content, force) {
      const view = buildHomeView(content);
      const hash = createHash('sha256').update(JSON.stringify(view)).digest('hex');
      if (!force && last.get(content.user) === hash) return 'unchanged';
      try {
        await client.views.publish({ user_id: content.user, view: view as never });
        last.set(content.user, hash);
        return 'published';
      } catch (error) {
        last.delete(content.user);
        logger.warn({ err: error, user: content.user }, 'could not publish a Home tab');
        return 'failed';
      }
    },
    forget(user) {
      last.delete(user);
    },
  };
}

/**
 * A private answer to someone who clicked in a view (the Home tab, a modal): there is no response_url and no
 * channel there, so it goes to their direct message with the app (chat.postMessage to the user id: the
 * app's Messages tab). Never throws.
 */
export async function tellDirect(client: WebClient, user: string, text: string, logger: Logger): Promise<void> {
  try {
    await client.chat.postMessage({ channel: user, text });
  } catch (error) {
    logger.warn({ err: error }, 'could not answer the person in a direct message');
  }
}
