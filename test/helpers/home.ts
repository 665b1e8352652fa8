// The App Home as Slack drives it: a signed `app_home_opened` event (Events API, JSON), and a signed
// block_actions payload whose container is the Home view (no channel, no message, no response_url).
import { randomBytes } from 'node:crypto';
import type { SlackApi } from './slack-api.js';
import { SIGNING_SECRET } from './app.js';
import {
  FORM_CONTENT_TYPE,
  formPayload,
  JSON_CONTENT_TYPE,
  nowSeconds,
  postSigned,
  type PostResult,
  TEST_APP_ID,
  TEST_TEAM,
  triggerId,
  VERIFICATION_TOKEN,
} from './slack-requests.js';

export function homeOpenedBody(user: string, options: { team?: string; tab?: 'home' | 'messages' } = {}): string {
  const team = options.team ?? TEST_TEAM.id;
  return JSON.stringify({
    token: VERIFICATION_TOKEN,
    team_id: team,
    api_app_id: TEST_APP_ID,
    event: {
      type: 'app_home_opened',
      user,
      channel: `D${user}`,
      tab: options.tab ?? 'home',
      event_ts: `${nowSeconds()}.000100`,
    },
    type: 'event_callback',
    event_id: `Ev${randomBytes(6).toString('hex').toUpperCase()}`,
    event_time: nowSeconds(),
    authorizations: [
      { enterprise_id: null, team_id: team, user_id: 'UBOT', is_bot: true, is_enterprise_install: false },
    ],
    is_ext_shared_channel: false,
  });
}

export function openHome(
  port: number,
  user: string,
  options: { team?: string; tab?: 'home' | 'messages' } = {},
): Promise<PostResult> {
  return postSigned(port, SIGNING_SECRET, homeOpenedBody(user, options), JSON_CONTENT_TYPE);
}

/** A button pressed on the person's Home (the view as the stand-in keeps it). */
export function clickOnHome(
  port: number,
  options: { user: string; actionId: string; value: string; view: Record<string, unknown> },
): Promise<PostResult> {
  const viewId = String(options.view.id ?? 'VHOME');
  const payload = {
    type: 'block_actions',
    user: {
      id: options.user,
      username: options.user.toLowerCase(),
      name: options.user.toLowerCase(),
      team_id: TEST_TEAM.id,
    },
    api_app_id: TEST_APP_ID,
    token: VERIFICATION_TOKEN,
    container: { type: 'view', view_id: viewId },
    trigger_id: triggerId(),
    team: { id: TEST_TEAM.id, domain: TEST_TEAM.domain },
    is_enterprise_install: false,
    view: {
      ...options.view,
      id: viewId,
      type: 'home',
      team_id: TEST_TEAM.id,
      app_id: TEST_APP_ID,
      state: { values: {} },
    },
    actions: [
      {
        action_id: options.actionId,
        block_id: 'home',
        text: { type: 'plain_text', text: options.actionId, emoji: true },
        value: options.value,
        type: 'button',
        action_ts: `${nowSeconds()}.000200`,
      },
    ],
  };
  return postSigned(port, SIGNING_SECRET, formPayload(payload), FORM_CONTENT_TYPE);
}

/** Waits until the person's published Home satisfies `ok` (the stand-in keeps the last views.publish). */
export function waitForHome(
  slack: SlackApi,
  user: string,
  ok: (home: Record<string, unknown>, text: string) => boolean,
  description: string,
  timeoutMs = 20_000,
): Promise<Record<string, unknown>> {
  return slack.waitFor(
    () => {
      const home = slack.workspace.homeOf(user);
      return home && ok(home, JSON.stringify(home)) ? home : undefined;
    },
    { timeoutMs, description },
  );
}
