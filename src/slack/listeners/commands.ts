// `/pgsessions`: acknowledge at once (never waiting on a database), parse, call one use case, reply to the
// person who asked through response_url (ephemeral), or post the approval request in the channel.
import type { App } from '@slack/bolt';
import { z } from 'zod';
import { parseCommand, type ParsedCommand } from '../../domain/command.js';
import { isReadCommand, type Reader } from '../../domain/read-service.js';
import type { Logger } from '../../logger.js';
import { buildUsageError } from '../blocks/help.js';
import { sealed, type RenderedMessage } from '../blocks/mrkdwn.js';
import { buildReadAnswer, readFailureText } from '../blocks/read.js';
import { withShareButton } from '../blocks/share.js';
import { buildRulesList } from '../blocks/rule.js';
import { withUnreviewed } from '../blocks/break-glass.js';
import { withChannelProblems } from '../blocks/channels.js';
import type { AppServices } from '../services.js';
import { tellPerson, troubleSentence } from '../adapters/tell.js';
import { logTrouble } from './glue.js';
import { ALL_CLUSTERS } from '../../domain/fleet.js';
import { answerFleet } from './fleet.js';
import { answerDrain, withDrains } from './drain-commands.js';

const commandFields = z.object({
  user_id: z.string().min(1),
  channel_id: z.string().min(1),
  response_url: z.url(),
  text: z.string().default(''),
});

export const plain = (text: string): RenderedMessage => ({
  text,
  blocks: [{ type: 'section', text: { type: 'mrkdwn', text } }],
});

type Outcome = 'ok' | 'invalid' | 'refused' | 'unreachable' | 'error';
export interface Answer {
  message: RenderedMessage;
  outcome: Outcome;
}
const ok = (message: RenderedMessage): Answer => ({ message, outcome: 'ok' });

/** Listings a person may share in the channel (kill requests are posted there anyway). */
export const SHAREABLE: ReadonlySet<ParsedCommand['kind']> = new Set(['top', 'blocking', 'replication']);

/** Request failures that are about the connection (counted as unreachable), not a refusal of the ask. */
const CONNECTION_FAILURES: ReadonlySet<string> = new Set([
  'unreachable',
  'cluster_full',
  'pooler_full',
  'cluster_busy',
]);
const FAILURE_OUTCOME = {
  unknown_cluster: 'invalid',
  choose_cluster: 'invalid',
  not_viewer: 'refused',
  unreachable: 'unreachable',
  slow: 'unreachable',
  full: 'unreachable',
} as const;

/** A read command through the read use cases, rendered; shared with the Share button. */
export async function answerRead(command: ParsedCommand, reader: Reader, services: AppServices): Promise<Answer> {
  if (command.kind === 'invalid') return { message: buildUsageError(command.message), outcome: 'invalid' };
  if (!isReadCommand(command)) return { message: plain('That is not a listing.'), outcome: 'invalid' };
  if (command.kind === 'top' && command.cluster === ALL_CLUSTERS) return answerFleet(command.filters, reader, services);
  const result = await services.reads.answer(command, reader);
  if (!result.ok)
    return { message: plain(readFailureText(result.refusal)), outcome: FAILURE_OUTCOME[result.refusal.code] };
  const message = buildReadAnswer(result.value, {
    readOnly: services.readOnly,
    queryHidden: services.queryText === 'none',
    ...(services.audit ? { audit: services.audit } : {}),
  });
  // `status` also lists unreviewed break-glass uses on the clusters shown, and which channels refuse posts.
  if (command.kind === 'status') {
    const shown = result.value.kind === 'status' ? result.value.clusters.map((c) => c.name) : [];
    const listed = services.breakGlass
      ? withUnreviewed(message, await services.breakGlass.listUnreviewed(shown).catch(() => null))
      : message;
    return ok(services.channels ? withChannelProblems(listed, await services.channels.check()) : listed);
  }
  if (command.kind === 'top') return ok(await withDrains(message, command.cluster, services));
  return ok(message);
}

async function answerRules(
  command: Extract<ParsedCommand, { kind: 'allow' | 'rules' }>,
  reader: Reader,
  services: AppServices,
): Promise<Answer> {
  if (!services.rules) return { message: plain('Standing approvals are not available here.'), outcome: 'refused' };
  const chosen =
    command.cluster === undefined && command.kind === 'rules'
      ? null
      : await services.reads.visible(command.cluster, reader);
  if (chosen && !chosen.ok)
    return { message: plain(readFailureText(chosen.refusal)), outcome: FAILURE_OUTCOME[chosen.refusal.code] };
  if (command.kind === 'rules') {
    // Without cluster:, only the rules of clusters this person may look at (PGSESSIONS_VIEWERS).
    const listed = await services.rules.list(chosen?.value);
    const mayView = new Map<string, boolean>();
    for (const name of new Set(listed.map((r) => r.cluster)))
      mayView.set(name, chosen ? true : (await services.reads.visible(name, reader)).ok);
    return ok(buildRulesList(listed.filter((r) => mayView.get(r.cluster))));
  }
  const result = await services.rules.propose({
    cluster: chosen!.value,
    spec: command.rule,
    proposer: reader.user,
    channel: reader.channel,
  });
  if (!result.ok) return { message: plain(result.refusal.message), outcome: 'refused' };
  return ok(plain('Rule proposed: it does nothing until a second person approves it.'));
}

async function answer(command: ParsedCommand, reader: Reader, services: AppServices): Promise<Answer> {
  if (command.kind === 'allow' || command.kind === 'rules') return answerRules(command, reader, services);
  if (command.kind === 'drain' || command.kind === 'undrain') return answerDrain(command, reader, services);
  if (command.kind !== 'cancel' && command.kind !== 'terminate' && command.kind !== 'terminate-all') {
    return answerRead(command, reader, services);
  }
  const chosen = await services.reads.visible(command.cluster, reader);
  if (!chosen.ok)
    return { message: plain(readFailureText(chosen.refusal)), outcome: FAILURE_OUTCOME[chosen.refusal.code] };
  const cluster = chosen.value;
  const { user, channel } = reader;
  const result =
    command.kind === 'terminate-all'
      ? await services.requests.requestAll({
          cluster,
          scope: {
            database: command.database,
            ...(command.user !== undefined ? { user: command.user } : {}),
            ...(command.application !== undefined ? { application: command.application } : {}),
          },
          reason: command.reason,
          requester: user,
          channel,
        })
      : await services.requests.requestOne({
          cluster,
          action:
            command.kind === 'cancel' && command.escalateAfterSeconds !== null ? 'cancel_then_terminate' : command.kind,
          pid: command.pid,
          escalateAfterSeconds: command.kind === 'cancel' ? command.escalateAfterSeconds : null,
          reason: command.reason,
          requester: user,
          channel,
        });
  if (!result.ok)
    return {
      message: plain(result.refusal.message),
      outcome: CONNECTION_FAILURES.has(result.refusal.code) ? 'unreachable' : 'refused',
    };
  return command.kind === 'terminate-all'
    ? ok(
        plain(
          `Request posted for ${result.value.targets.length} sessions: an approver has to approve it before anything happens.`,
        ),
      )
    : ok(plain('Request posted: an approver has to approve it before anything happens.'));
}

export function registerCommands(app: App, services: AppServices, logger: Logger): void {
  app.command('/pgsessions', async ({ ack, command, respond, client }) => {
    await ack();
    // Slack always sends these; a payload without them is not Slack's, and nobody could be answered anyway.
    const fields = commandFields.safeParse(command);
    if (!fields.success) {
      logger.warn({ missing: fields.error.issues.map((i) => i.path.join('.')) }, 'malformed slash command ignored');
      return;
    }
    const { user_id: user, channel_id: channel } = fields.data;
    let parsed: ParsedCommand | undefined;
    let result: Answer;
    try {
      parsed = parseCommand(fields.data.text);
      logger.info({ kind: parsed.kind, user, channel }, 'command');
      result = await answer(parsed, { user, channel }, services);
    } catch (error) {
      // A bug becomes a short apology to the user and a logged error, never a stack trace; a read-only state
      // database or rate-limited group read is said as it is.
      logTrouble(logger, error, {}, 'command');
      result = {
        message: plain(
          troubleSentence(error, 'Something went wrong on our side; nothing was changed. The error is in the app log.'),
        ),
        outcome: 'error',
      };
    }
    // A parser bug leaves no kind: counted as an error of an unknown command.
    services.metrics.command(parsed?.kind ?? 'unparsed', result.outcome);
    const message =
      result.outcome === 'ok' && parsed && SHAREABLE.has(parsed.kind)
        ? withShareButton(result.message, fields.data.text.trim())
        : result.message;
    // Through response_url; when Slack refuses it, chat.postEphemeral (see tell.ts).
    await tellPerson(client, { user, channel, respond }, sealed(message), logger);
  });
}
