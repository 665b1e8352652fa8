// Requests as Slack sends them to the app’s `POST /slack/events`: real payload shapes, signed with the
// signing secret (`v0=` HMAC-SHA256 of `v0:{timestamp}:{rawBody}`), so the real Bolt receiver verifies them.
import { createHmac, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import type { BlockAction, ButtonAction, SlashCommand, ViewStateValue, ViewSubmitAction } from '@slack/bolt';

// Bolt parses a body as a form only when the content type is exactly this (no `; charset=`), as Slack sends it.
export const FORM_CONTENT_TYPE = 'application/x-www-form-urlencoded';
export const JSON_CONTENT_TYPE = 'application/json';

export const TEST_TEAM = { id: 'T1', domain: 'pgsessions-test' } as const;
export const TEST_APP_ID = 'A1';
// The deprecated verification token Slack still puts in every payload; Bolt ignores it.
export const VERIFICATION_TOKEN = 'verification-token-unused';

export interface SignedHeaders {
  'X-Slack-Signature': string;
  'X-Slack-Request-Timestamp': string;
}

export interface PostOptions {
  /** Unix seconds; defaults to now. An old one tests replay protection. */
  timestamp?: number;
  /** Sent instead of the computed signature (to forge). */
  signature?: string;
  /** Send neither signature nor timestamp header. */
  omitSignature?: boolean;
  path?: string;
  /** Give up on an answer after this long (default 15 s). */
  timeoutMs?: number;
}

export interface PostResult {
  status: number;
  body: string;
  json?: unknown;
  headers: Record<string, string | string[] | undefined>;
  /** Time to the end of the response: Slack gives up after 3 s. */
  ms: number;
}

export function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}

export function sign(secret: string, body: string, timestamp: number = nowSeconds()): SignedHeaders {
  const hash = createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex');
  return { 'X-Slack-Signature': `v0=${hash}`, 'X-Slack-Request-Timestamp': String(timestamp) };
}

export async function postSigned(
  port: number,
  secret: string,
  body: string,
  contentType: string,
  options: PostOptions = {},
): Promise<PostResult> {
  const headers: Record<string, string> = {
    'Content-Type': contentType,
    'Content-Length': String(Buffer.byteLength(body)),
  };
  if (!options.omitSignature) {
    const signed = sign(secret, body, options.timestamp ?? nowSeconds());
    headers['X-Slack-Signature'] = options.signature ?? signed['X-Slack-Signature'];
    headers['X-Slack-Request-Timestamp'] = signed['X-Slack-Request-Timestamp'];
  }
  const started = performance.now();
  return new Promise<PostResult>((resolve, reject) => {
    // agent: false — one connection per request, so no keep-alive socket outlives the app under test.
    const req = request(
      { host: '127.0.0.1', port, method: 'POST', path: options.path ?? '/slack/events', headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const result: PostResult = {
            status: res.statusCode ?? 0,
            body: text,
            headers: res.headers,
            ms: performance.now() - started,
          };
          if (text.length > 0) {
            try {
              result.json = JSON.parse(text);
            } catch {
              // Not JSON (e.g. a plain-text ack): body has it.
            }
          }
          resolve(result);
        });
      },
    );
    req.on('error', reject);
    // A request the app never answers fails the test instead of hanging it (Slack itself gives up after 3 s).
    req.setTimeout(options.timeoutMs ?? 15_000, () =>
      req.destroy(new Error(`no answer within ${options.timeoutMs ?? 15_000} ms`)),
    );
    req.end(body);
  });
}

export function triggerId(): string {
  return `${Date.now()}.${randomBytes(4).readUInt32BE()}.${randomBytes(16).toString('hex')}`;
}

function actionTs(): string {
  const ms = Date.now();
  return `${Math.floor(ms / 1000)}.${String(ms % 1000).padStart(3, '0')}${String(Math.floor(Math.random() * 1000)).padStart(3, '0')}`;
}

export interface SlashCommandOptions {
  text: string;
  userId?: string;
  userName?: string;
  channelId?: string;
  channelName?: string;
  responseUrl: string;
  triggerId?: string;
  command?: string;
  teamId?: string;
}

export function slashCommandBody(o: SlashCommandOptions): string {
  const fields: SlashCommand = {
    token: VERIFICATION_TOKEN,
    team_id: o.teamId ?? TEST_TEAM.id,
    team_domain: TEST_TEAM.domain,
    channel_id: o.channelId ?? 'CINC',
    channel_name: o.channelName ?? 'incidents',
    user_id: o.userId ?? 'UREQ',
    user_name: o.userName ?? (o.userId ?? 'UREQ').toLowerCase(),
    command: o.command ?? '/pgsessions',
    text: o.text,
    api_app_id: TEST_APP_ID,
    is_enterprise_install: 'false',
    response_url: o.responseUrl,
    trigger_id: o.triggerId ?? triggerId(),
  };
  return new URLSearchParams(fields as unknown as Record<string, string>).toString();
}

export async function slashCommand(
  port: number,
  secret: string,
  options: SlashCommandOptions,
  post: PostOptions = {},
): Promise<PostResult> {
  return postSigned(port, secret, slashCommandBody(options), FORM_CONTENT_TYPE, post);
}

export interface BlockActionOptions {
  userId: string;
  userName?: string;
  channelId: string;
  channelName?: string;
  actionId: string;
  value: string;
  responseUrl: string;
  /** The message the button sits on; defaults to a fresh ts. */
  messageTs?: string;
  blockId?: string;
  /** Button label. */
  text?: string;
  isEphemeral?: boolean;
  /** The message as Slack includes it (non-ephemeral messages only); a minimal bot message by default. */
  message?: Record<string, unknown>;
  triggerId?: string;
}

export function blockActionPayload(o: BlockActionOptions): BlockAction<ButtonAction> {
  const messageTs = o.messageTs ?? '1700000000.000100';
  const isEphemeral = o.isEphemeral ?? false;
  const userName = o.userName ?? o.userId.toLowerCase();
  const payload: BlockAction<ButtonAction> = {
    type: 'block_actions',
    user: { id: o.userId, username: userName, name: userName, team_id: TEST_TEAM.id },
    api_app_id: TEST_APP_ID,
    token: VERIFICATION_TOKEN,
    container: { type: 'message', message_ts: messageTs, channel_id: o.channelId, is_ephemeral: isEphemeral },
    trigger_id: o.triggerId ?? triggerId(),
    team: { id: TEST_TEAM.id, domain: TEST_TEAM.domain },
    is_enterprise_install: false,
    channel: { id: o.channelId, name: o.channelName ?? o.channelId.toLowerCase() },
    state: { values: {} },
    response_url: o.responseUrl,
    actions: [
      {
        action_id: o.actionId,
        block_id: o.blockId ?? 'actions',
        text: { type: 'plain_text', text: o.text ?? o.actionId, emoji: true },
        value: o.value,
        type: 'button',
        action_ts: actionTs(),
      },
    ],
  };
  // Slack leaves `message` out for ephemeral messages.
  if (!isEphemeral) {
    payload.message = o.message
      ? { type: 'message', ts: messageTs, ...o.message }
      : {
          type: 'message',
          subtype: 'bot_message',
          text: '',
          user: 'UBOT',
          bot_id: 'BBOT',
          app_id: TEST_APP_ID,
          team: TEST_TEAM.id,
          ts: messageTs,
          blocks: [],
        };
  }
  return payload;
}

export async function blockAction(
  port: number,
  secret: string,
  options: BlockActionOptions,
  post: PostOptions = {},
): Promise<PostResult> {
  return postSigned(port, secret, formPayload(blockActionPayload(options)), FORM_CONTENT_TYPE, post);
}

export type ViewStateValues = Record<string, Record<string, ViewStateValue>>;

export interface ViewSubmissionOptions {
  userId: string;
  userName?: string;
  callbackId: string;
  privateMetadata: string;
  /** `view.state.values`: block_id → action_id → { type, value | selected_… }. */
  values: ViewStateValues;
  viewId?: string;
  title?: string;
  blocks?: unknown[];
}

export function viewSubmissionPayload(o: ViewSubmissionOptions): ViewSubmitAction {
  const viewId = o.viewId ?? 'V000001';
  const userName = o.userName ?? o.userId.toLowerCase();
  return {
    type: 'view_submission',
    team: { id: TEST_TEAM.id, domain: TEST_TEAM.domain },
    user: { id: o.userId, name: userName, team_id: TEST_TEAM.id },
    api_app_id: TEST_APP_ID,
    token: VERIFICATION_TOKEN,
    trigger_id: triggerId(),
    is_enterprise_install: false,
    view: {
      id: viewId,
      team_id: TEST_TEAM.id,
      type: 'modal',
      blocks: (o.blocks ?? []) as ViewSubmitAction['view']['blocks'],
      private_metadata: o.privateMetadata,
      callback_id: o.callbackId,
      state: { values: o.values },
      hash: `${nowSeconds()}.${randomBytes(4).toString('hex')}`,
      title: { type: 'plain_text', text: o.title ?? 'pgsessions', emoji: true },
      clear_on_close: false,
      notify_on_close: false,
      close: { type: 'plain_text', text: 'Cancel', emoji: true },
      submit: { type: 'plain_text', text: 'Submit', emoji: true },
      previous_view_id: null,
      root_view_id: viewId,
      app_id: TEST_APP_ID,
      external_id: '',
      app_installed_team_id: TEST_TEAM.id,
      bot_id: 'BBOT',
    },
    response_urls: [],
  };
}

export async function viewSubmission(
  port: number,
  secret: string,
  options: ViewSubmissionOptions,
  post: PostOptions = {},
): Promise<PostResult> {
  return postSigned(port, secret, formPayload(viewSubmissionPayload(options)), FORM_CONTENT_TYPE, post);
}

/** Interactivity payloads arrive as `payload=<url-encoded JSON>`. */
export function formPayload(payload: unknown): string {
  return new URLSearchParams({ payload: JSON.stringify(payload) }).toString();
}
