// Reading back what the watcher did: alert messages in the watch channel (posts and in-place updates),
// and its incidents in the state database.
import type { RecordedCall, SlackApi } from './slack-api.js';
import { buttonsIn, stateQuery, textOf } from './approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

export const WATCH_CHANNEL = 'CWATCH01';

/** Settings for a fast watcher: 1 s looks, 1 s lock waits, the other thresholds off unless given. */
export function watchEnv(extra: Record<string, string> = {}): Record<string, string> {
  return {
    PGSESSIONS_WATCH_CHANNEL: WATCH_CHANNEL,
    PGSESSIONS_WATCH_INTERVAL: '1s',
    PGSESSIONS_WATCH_LOCK_WAIT: '1s',
    PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: 'off',
    PGSESSIONS_WATCH_ACTIVE: 'off',
    PGSESSIONS_WATCH_CONNECTIONS: 'off',
    ...extra,
  };
}

/** Alert messages posted (successfully) to the watch channel: they carry a Snooze button or a `cause` line. */
export function alertPosts(slack: SlackApi, channel = WATCH_CHANNEL): RecordedCall[] {
  return slack
    .callsTo('chat.postMessage')
    .filter((c) => c.params.channel === channel && !c.fault && /cause `/.test(textOf(c.params.blocks)));
}

export function alertPostsAbout(slack: SlackApi, pattern: RegExp, channel = WATCH_CHANNEL): RecordedCall[] {
  return alertPosts(slack, channel).filter((c) => pattern.test(textOf(c.params)));
}

export function updatesOfMessage(slack: SlackApi, ts: string): RecordedCall[] {
  return slack.callsTo('chat.update').filter((c) => c.params.ts === ts && !c.fault);
}

export function snoozeButton(call: RecordedCall, minutes: 30 | 120) {
  return buttonsIn(call.params.blocks).find(
    (b) => b.action_id.startsWith(ACTION.watchSnooze) && b.value.includes(`"m":${minutes}`),
  );
}

export interface IncidentRow {
  id: string;
  key: string;
  cause: string;
  status: string;
  message_ts: string | null;
  clear_reason: {
    kind: string;
    requestId?: string;
    action?: string;
    approver?: string | null;
    counts?: { done: number; of: number };
  } | null;
  snoozed_by: string | null;
}

export async function incidents(url: string): Promise<IncidentRow[]> {
  return stateQuery<IncidentRow>(
    url,
    'SELECT id::text, key, cause, status, message_ts, clear_reason, snoozed_by FROM pgsessions.incidents ORDER BY opened_at',
  );
}

export async function waitForIncident(
  url: string,
  predicate: (row: IncidentRow) => boolean,
  timeoutMs = 15_000,
  what = 'incident',
): Promise<IncidentRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = (await incidents(url)).find(predicate);
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}: ${JSON.stringify(await incidents(url))}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Waits until an alert in the watch channel — its post or any update — reads `pattern` (counts settle over looks). */
export async function waitForAlertText(
  slack: SlackApi,
  pattern: RegExp,
  timeoutMs = 15_000,
  channel = WATCH_CHANNEL,
): Promise<RecordedCall> {
  return slack.waitFor(
    () =>
      slack.calls
        .filter(
          (c) =>
            (c.method === 'chat.postMessage' || c.method === 'chat.update') && c.params.channel === channel && !c.fault,
        )
        .find((c) => /cause `/.test(textOf(c.params.blocks)) && pattern.test(textOf(c.params))),
    { timeoutMs, description: `an alert reading ${pattern}` },
  );
}
