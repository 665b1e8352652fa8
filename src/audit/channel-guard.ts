// A global Bolt middleware: the audit channel carries audit entries and nothing else, so a slash command
// run there, or a click on a button in it (Share, a row's Cancel/Terminate), is answered with one sentence
// and goes no further. A listing or request posted there would put text others chose next to the entries.
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import type { Logger } from '../logger.js';

export const AUDIT_CHANNEL_MESSAGE =
  'The audit channel carries audit entries only: run /pgsessions in another channel.';

type Body = Record<string, unknown>;

/** The channel a command was run in or a button was clicked in; null for anything else. */
export function channelOfPayload(body: Body): string | null {
  if (typeof body.command === 'string') return typeof body.channel_id === 'string' ? body.channel_id : null;
  if (body.type === 'block_actions') {
    const channel =
      (body.channel as { id?: unknown } | undefined)?.id ??
      (body.container as { channel_id?: unknown } | undefined)?.channel_id;
    return typeof channel === 'string' ? channel : null;
  }
  return null;
}

export function auditChannelGuard(
  auditChannel: string,
  logger: Logger,
  onRefused: () => void = () => undefined,
): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const body = args.body as unknown as Body;
    if (channelOfPayload(body) !== auditChannel) return args.next();
    onRefused();
    logger.info(
      { channel: auditChannel, kind: typeof body.command === 'string' ? 'command' : 'click' },
      'refused: a command or click in the audit channel',
    );
    const { ack, respond } = args as {
      ack?: (response?: unknown) => Promise<void>;
      respond?: (message: object) => Promise<unknown>;
    };
    if (typeof body.command === 'string') {
      await ack?.({ response_type: 'ephemeral', text: AUDIT_CHANNEL_MESSAGE });
      return;
    }
    await ack?.();
    await respond?.({ response_type: 'ephemeral', replace_original: false, text: AUDIT_CHANNEL_MESSAGE }).catch(
      (error: unknown) => {
        logger.warn({ err: error }, 'could not answer a click in the audit channel');
      },
    );
  };
}
