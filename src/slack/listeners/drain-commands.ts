// `/pgsessions drain …` and `/pgsessions undrain …`, and the drained lines on top of a listing.
import type { ParsedCommand } from '../../domain/command.js';
import type { Reader } from '../../domain/read-service.js';
import { withDrainedHeader } from '../blocks/drain.js';
import type { RenderedMessage } from '../blocks/mrkdwn.js';
import { readFailureText } from '../blocks/read.js';
import type { AppServices } from '../services.js';
import { plain, type Answer } from './commands.js';

export async function answerDrain(
  command: Extract<ParsedCommand, { kind: 'drain' | 'undrain' }>,
  reader: Reader,
  services: AppServices,
): Promise<Answer> {
  if (!services.drains) return { message: plain('Drains are not available here.'), outcome: 'refused' };
  const chosen = await services.reads.visible(command.cluster, reader);
  if (!chosen.ok) return { message: plain(readFailureText(chosen.refusal)), outcome: 'refused' };
  if (command.kind === 'undrain') {
    const ended = await services.drains.undrain(chosen.value, command.database, reader.user);
    return ended.ok
      ? { message: plain(ended.value), outcome: 'ok' }
      : { message: plain(ended.message), outcome: 'refused' };
  }
  const result = await services.drains.request({
    cluster: chosen.value,
    database: command.database,
    windowSeconds: command.windowSeconds,
    reason: command.reason,
    requester: reader.user,
    channel: reader.channel,
  });
  if (!result.ok) return { message: plain(result.message), outcome: 'refused' };
  return {
    message: plain(
      `Request posted to drain ${command.database}: an approver has to approve it before anything happens.`,
    ),
    outcome: 'ok',
  };
}

/** A listing says which databases of its cluster(s) are drained, until when and by whom. */
export async function withDrains(
  message: RenderedMessage,
  cluster: string | undefined,
  services: AppServices,
): Promise<RenderedMessage> {
  if (!services.drains) return message;
  const live = await services.drains.live(cluster).catch(() => []);
  return withDrainedHeader(message, live);
}
