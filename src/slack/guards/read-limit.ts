// Listings (and every other read of a database: status, help, pending, Share in channel, a row button
// looking up its session) cost a token of the user's read bucket. Checked as Bolt middleware, before any
// listener: a refused read is acknowledged with a plain ephemeral sentence and touches no database.
// Kill requests and decisions are limited by the request service's own decorator (domain/rate-limit.ts).
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import { parseCommand, type ParsedCommand } from '../../domain/command.js';
import type { Limiter } from '../../domain/rate-limit.js';
import type { Logger } from '../../logger.js';
import { ACTION } from '../blocks/ids.js';

export const READ_LIMITED_MESSAGE =
  'You are asking for listings faster than pgsessions answers one person (PGSESSIONS_LISTING_RATE): wait a little and try again.';

const READ_KINDS: ReadonlySet<ParsedCommand['kind']> = new Set([
  'top',
  'blocking',
  'replication',
  'status',
  'help',
  'pending',
]);
const READ_ACTIONS: ReadonlySet<string> = new Set([
  ACTION.share,
  ACTION.cancel,
  ACTION.terminate,
  ACTION.terminateWalsender,
]);

interface Read {
  user: string;
  /** The slash command's kind, for the commands metric; null for a button. */
  kind: ParsedCommand['kind'] | null;
}

/** The user and kind when this payload is a read, else null. Fields are checked, never trusted. */
function readOf(body: unknown): Read | null {
  const b = body as Record<string, unknown> | null;
  if (!b || typeof b !== 'object') return null;
  if (b.command === '/pgsessions' && typeof b.user_id === 'string') {
    const kind = parseCommand(typeof b.text === 'string' ? b.text : '').kind;
    return READ_KINDS.has(kind) ? { user: b.user_id, kind } : null;
  }
  if (b.type === 'block_actions') {
    const user = (b.user as { id?: unknown } | undefined)?.id;
    const actions = Array.isArray(b.actions) ? (b.actions as Array<{ action_id?: unknown }>) : [];
    if (
      typeof user === 'string' &&
      actions.some((a) => typeof a?.action_id === 'string' && READ_ACTIONS.has(a.action_id))
    )
      return { user, kind: null };
  }
  return null;
}

export function readLimit(
  limiter: Limiter,
  logger: Logger,
  onRefused: (kind: ParsedCommand['kind'] | null) => void,
): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const read = readOf(args.body);
    if (!read || (await limiter.take(read.user))) {
      await args.next();
      return;
    }
    onRefused(read.kind);
    logger.info({ user: read.user, kind: read.kind ?? 'button' }, 'read refused: rate limit');
    const { ack, respond } = args as unknown as {
      ack?: (response?: unknown) => Promise<void>;
      respond?: (message: unknown) => Promise<unknown>;
    };
    if (read.kind !== null) {
      // A slash command's acknowledgement can carry the answer itself: no second request.
      await ack?.({ response_type: 'ephemeral', text: READ_LIMITED_MESSAGE });
      return;
    }
    await ack?.();
    await respond?.({ response_type: 'ephemeral', replace_original: false, text: READ_LIMITED_MESSAGE }).catch(
      (error: unknown) => {
        logger.warn({ err: error }, 'could not tell the clicker about the rate limit');
      },
    );
  };
}
