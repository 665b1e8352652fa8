// What Slack sends for the App Home, in its real shapes: the `app_home_opened` event (an Events API
// `event_callback`, JSON) and a button's `block_actions` from a view, whose container is the view itself —
// no channel, no message, no response_url. The playground sends these signed, as it sends everything else.
import { randomBytes } from 'node:crypto';
import { TEST_APP_ID, TEST_TEAM, triggerId, VERIFICATION_TOKEN } from './slack-requests.js';

export interface AppHomeOpenedOptions {
  userId: string;
  /** The app's direct-message channel with the person. */
  channelId: string;
  tab: 'home' | 'messages';
  /** The Home view Slack holds for the person, when the app published one. */
  view?: Record<string, unknown>;
  /** The bot user the event is delivered for. */
  botUserId?: string;
}

function eventTs(): string {
  const ms = Date.now();
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}${String(randomBytes(2).readUInt16BE() % 1000).padStart(3, '0')}`;
}

/** An `event_callback` carrying `app_home_opened`, as Slack posts it to the Events API request URL. */
export function appHomeOpenedEvent(o: AppHomeOpenedOptions): Record<string, unknown> {
  const ts = eventTs();
  return {
    token: VERIFICATION_TOKEN,
    team_id: TEST_TEAM.id,
    api_app_id: TEST_APP_ID,
    event: {
      type: 'app_home_opened',
      user: o.userId,
      channel: o.channelId,
      tab: o.tab,
      event_ts: ts,
      ...(o.view ? { view: o.view } : {}),
    },
    type: 'event_callback',
    event_id: `Ev${randomBytes(6).toString('hex').toUpperCase()}`,
    event_time: Math.floor(Date.now() / 1000),
    authorizations: [
      {
        enterprise_id: null,
        team_id: TEST_TEAM.id,
        user_id: o.botUserId ?? 'UBOT',
        is_bot: true,
        is_enterprise_install: false,
      },
    ],
    is_ext_shared_channel: false,
    event_context: `4-${randomBytes(12).toString('base64url')}`,
  };
}

export interface ViewActionOptions {
  userId: string;
  userName?: string;
  /** The view the button sits in, as Slack holds it (id, hash, blocks, type…). */
  view: Record<string, unknown>;
  actionId: string;
  value: string;
  blockId: string;
  /** Button label. */
  text?: string;
  triggerId?: string;
}

/** A button pressed in a view that is not a modal (the Home tab): `container: {type: 'view', view_id}`. */
export function viewActionPayload(o: ViewActionOptions): Record<string, unknown> {
  const userName = o.userName ?? o.userId.toLowerCase();
  const viewId = String(o.view.id ?? '');
  const ms = Date.now();
  return {
    type: 'block_actions',
    user: { id: o.userId, username: userName, name: userName, team_id: TEST_TEAM.id },
    api_app_id: TEST_APP_ID,
    token: VERIFICATION_TOKEN,
    container: { type: 'view', view_id: viewId },
    trigger_id: o.triggerId ?? triggerId(),
    team: { id: TEST_TEAM.id, domain: TEST_TEAM.domain },
    enterprise: null,
    is_enterprise_install: false,
    view: {
      team_id: TEST_TEAM.id,
      private_metadata: '',
      callback_id: '',
      external_id: '',
      state: { values: {} },
      app_id: TEST_APP_ID,
      app_installed_team_id: TEST_TEAM.id,
      bot_id: 'BBOT',
      root_view_id: viewId,
      previous_view_id: null,
      ...o.view,
      id: viewId,
    },
    actions: [
      {
        action_id: o.actionId,
        block_id: o.blockId,
        text: { type: 'plain_text', text: o.text ?? o.actionId, emoji: true },
        value: o.value,
        type: 'button',
        action_ts: `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}000`,
      },
    ],
  };
}
