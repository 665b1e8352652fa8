// `/pgsessions cluster:*` (and its Share button): the fleet view's use case, rendered. Called by
// answerRead (commands.ts) before the single-cluster read path, which knows nothing of `*`.
import type { ListFilters } from '../../domain/types.js';
import type { Reader } from '../../domain/read-service.js';
import { buildFleetListing } from '../blocks/fleet.js';
import { readFailureText } from '../blocks/read.js';
import type { RenderedMessage } from '../blocks/mrkdwn.js';
import type { AppServices } from '../services.js';

export async function answerFleet(
  filters: ListFilters,
  reader: Reader,
  services: AppServices,
): Promise<{ message: RenderedMessage; outcome: 'ok' | 'refused' }> {
  const sentence = (text: string): RenderedMessage => ({
    text,
    blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }],
  });
  if (!services.fleet) return { message: sentence('cluster:* is not available here.'), outcome: 'refused' };
  const result = await services.fleet.list(reader.user, filters);
  if (!result.ok) return { message: sentence(readFailureText(result.refusal)), outcome: 'refused' };
  return { message: buildFleetListing(result.value, { queryHidden: services.queryText === 'none' }), outcome: 'ok' };
}
