// `/pgsessions`: acknowledge at once (never waiting on a database), parse, call one use case, reply to the
// person who asked through response_url (ephemeral), or post the approval request in the channel.
import type { App, RespondFn } from '@slack/bolt';
import { z } from 'zod';
import { parseCommand, type ParsedCommand } from '../../domain/command.js';
import { isProtected } from '../../domain/policy.js';
import type { SessionRow } from '../../domain/types.js';
import type { Logger } from '../../logger.js';
import { buildBlocking } from '../blocks/blocking.js';
import { buildHelp, buildUsageError } from '../blocks/help.js';
import { buildListing } from '../blocks/listing.js';
import type { RenderedMessage } from '../blocks/mrkdwn.js';
import { buildPendingList } from '../blocks/request.js';
import { buildReplication } from '../blocks/replication.js';
import { withShareButton } from '../blocks/share.js';
import type { AppServices } from '../services.js';

const commandFields = z.object({
  user_id: z.string().min(1),
  channel_id: z.string().min(1),
  response_url: z.url(),
  text: z.string().default(''),
});

const ephemeral = (message: RenderedMessage) => ({ response_type: 'ephemeral' as const, replace_original: false, ...message });
export const plain = (text: string): RenderedMessage => ({ text, blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }] });

type Outcome = 'ok' | 'invalid' | 'refused' | 'unreachable' | 'error';
export interface Answer {
  message: RenderedMessage;
  outcome: Outcome;
}
const ok = (message: RenderedMessage): Answer => ({ message, outcome: 'ok' });

/** Listings a person may share in the channel (kill requests are posted there anyway). */
export const SHAREABLE: ReadonlySet<ParsedCommand['kind']> = new Set(['top', 'blocking', 'replication']);

export async function answer(command: ParsedCommand, user: string, channel: string, services: AppServices): Promise<Answer> {
  switch (command.kind) {
    case 'invalid':
      return { message: buildUsageError(command.message), outcome: 'invalid' };
    case 'help':
      return ok(buildHelp({ clusters: await services.status(), readOnly: services.readOnly }));
    case 'status': {
      // `status cluster:NAME` is about that cluster only, and an unknown name is an error like everywhere else.
      const only = command.cluster;
      if (only !== undefined) {
        const chosen = services.chooseCluster(only);
        if (!chosen.ok) return { message: plain(chosen.message), outcome: 'invalid' };
      }
      const clusters = (await services.status()).filter((c) => only === undefined || c.name === only);
      return ok(buildHelp({ clusters, readOnly: services.readOnly }));
    }
    case 'pending':
      return ok(buildPendingList(await services.requests.listPending(command.cluster)));
    default:
      break;
  }
  const chosen = services.chooseCluster(command.cluster);
  if (!chosen.ok) return { message: plain(chosen.message), outcome: 'invalid' };
  const cluster = chosen.cluster;
  const killable = (row: Pick<SessionRow, 'user' | 'application'>) => !services.readOnly && !isProtected(row, services);
  try {
    switch (command.kind) {
      case 'top': {
        const { rows, totalMatched, hidden, connections } = await cluster.list(command.filters);
        return ok(buildListing({ cluster: cluster.name, rows, totalMatched, filters: command.filters, killable, invisible: hidden, connections }));
      }
      case 'blocking':
        return ok(buildBlocking({ cluster: cluster.name, rows: await cluster.blocking(), killable }));
      case 'replication':
        return ok(buildReplication({ cluster: cluster.name, rows: await cluster.replication(), killable: !services.readOnly }));
      case 'cancel':
      case 'terminate': {
        const result = await services.requests.requestOne({
          cluster: cluster.name,
          action: command.kind === 'cancel' && command.escalateAfterSeconds !== null ? 'cancel_then_terminate' : command.kind,
          pid: command.pid,
          escalateAfterSeconds: command.kind === 'cancel' ? command.escalateAfterSeconds : null,
          reason: command.reason,
          requester: user,
          channel,
        });
        return result.ok
          ? ok(plain('Request posted: an approver has to approve it before anything happens.'))
          : { message: plain(result.message), outcome: result.code === 'unreachable' ? 'unreachable' : 'refused' };
      }
      case 'terminate-all': {
        const result = await services.requests.requestAll({
          cluster: cluster.name,
          scope: {
            database: command.database,
            ...(command.user !== undefined ? { user: command.user } : {}),
            ...(command.application !== undefined ? { application: command.application } : {}),
          },
          reason: command.reason,
          requester: user,
          channel,
        });
        return result.ok
          ? ok(plain(`Request posted for ${result.value.targets.length} sessions: an approver has to approve it before anything happens.`))
          : { message: plain(result.message), outcome: result.code === 'unreachable' ? 'unreachable' : 'refused' };
      }
    }
  } catch (error) {
    const unreachable = services.describeUnreachable(cluster.name, error);
    if (unreachable) return { message: plain(unreachable), outcome: 'unreachable' };
    throw error;
  }
}

export function registerCommands(app: App, services: AppServices, logger: Logger): void {
  app.command('/pgsessions', async ({ ack, command, respond }) => {
    await ack();
    // Slack always sends these; a payload without them is not Slack's, and nobody could be answered anyway.
    const fields = commandFields.safeParse(command);
    if (!fields.success) {
      logger.warn({ missing: fields.error.issues.map((i) => i.path.join('.')) }, 'malformed slash command ignored');
      return;
    }
    const { user_id: user, channel_id: channel } = fields.data;
    const parsed = parseCommand(fields.data.text);
    logger.info({ kind: parsed.kind, user, channel }, 'command');
    let result: Answer;
    try {
      result = await answer(parsed, user, channel, services);
    } catch (error) {
      // A bug becomes a short apology to the user and a logged error, never a stack trace.
      logger.error({ err: error }, 'command failed');
      result = { message: plain('Something went wrong on our side; nothing was changed. The error is in the app log.'), outcome: 'error' };
    }
    services.metrics.command(parsed.kind, result.outcome);
    const message = result.outcome === 'ok' && SHAREABLE.has(parsed.kind) ? withShareButton(result.message, fields.data.text.trim()) : result.message;
    await reply(respond, logger, message);
  });
}

async function reply(respond: RespondFn, logger: Logger, message: RenderedMessage): Promise<void> {
  try {
    await respond(ephemeral(message));
  } catch (error) {
    logger.warn({ err: error }, 'could not reply through response_url');
  }
}
