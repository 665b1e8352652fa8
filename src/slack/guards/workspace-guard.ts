// A global Bolt middleware in front of every listener: commands, clicks (block_actions, view_submission)
// and events (app_home_opened, which Bolt has acknowledged already) from another workspace (Slack Connect)
// or from a guest account are answered with one sentence (an event with nothing) and go no further. It
// runs before a listener acknowledges, so it acknowledges what it refuses.
import type { AnyMiddlewareArgs, Middleware } from '@slack/bolt';
import {
  checkOrigin,
  ORIGIN_MESSAGES,
  type Origin,
  type OriginRefusal,
  type PeoplePort,
} from '../../domain/workspaces.js';
import type { Logger } from '../../logger.js';
import { INPUT } from '../blocks/ids.js';

type Body = Record<string, unknown>;
const text = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
const field = (value: unknown, key: string): unknown =>
  typeof value === 'object' && value !== null ? (value as Body)[key] : undefined;

/** Who and where, from a slash command or an interactivity payload; null for anything else (not ours to judge). */
export function originOf(body: Body): Origin | null {
  if (typeof body.command === 'string') {
    const user = text(body.user_id);
    if (!user) return null;
    const teams = [text(body.team_id), text(body.user_team)].filter((t): t is string => t !== null);
    return { user, teams, enterprise: text(body.enterprise_id) };
  }
  if (body.type === 'block_actions' || body.type === 'view_submission') {
    const user = text(field(body.user, 'id'));
    if (!user) return null;
    const teams = [text(field(body.user, 'team_id')), text(field(body.team, 'id'))].filter(
      (t): t is string => t !== null,
    );
    return { user, teams, enterprise: text(field(body.enterprise, 'id')) };
  }
  // Events API (app_home_opened): the person is event.user, the place the envelope's team.
  if (body.type === 'event_callback') {
    const user = text(field(body.event, 'user'));
    if (!user) return null;
    const teams = [text(body.team_id), text(field(field(body.event, 'view'), 'team_id'))].filter(
      (t): t is string => t !== null,
    );
    return { user, teams, enterprise: text(body.enterprise_id) };
  }
  return null;
}

/** onRefused: counts each refusal by its code (metrics); the guard decides the same without it. */
export function workspaceGuard(
  people: PeoplePort,
  allowedTeams: readonly string[],
  logger: Logger,
  onRefused: (code: OriginRefusal) => void = () => undefined,
): Middleware<AnyMiddlewareArgs> {
  return async (args) => {
    const { body, next } = args;
    const origin = originOf(body as unknown as Body);
    if (origin === null) return next();
    const verdict = await checkOrigin(origin, people, allowedTeams);
    if (verdict.ok) return next();
    logger.warn(
      { user: origin.user, teams: origin.teams, enterprise: origin.enterprise, refused: verdict.code },
      'refused a command, click or event from outside the workspace',
    );
    onRefused(verdict.code);
    const message = ORIGIN_MESSAGES[verdict.code];
    const { ack, respond } = args as {
      ack?: (response?: unknown) => Promise<void>;
      respond?: (message: object) => Promise<unknown>;
    };
    const kind = (body as unknown as Body).type;
    if (kind === 'view_submission') {
      await ack?.({ response_action: 'errors', errors: { [INPUT.reasonBlock]: message } });
      return;
    }
    if (typeof (body as unknown as Body).command === 'string') {
      await ack?.({ response_type: 'ephemeral', text: message });
      return;
    }
    await ack?.();
    await respond?.({ response_type: 'ephemeral', replace_original: false, text: message }).catch((error: unknown) => {
      logger.warn({ err: error }, 'could not answer a refused click');
    });
  };
}
