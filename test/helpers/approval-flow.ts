// Driving the two-person rule over signed HTTP and reading back what really happened: the request rows
// and audit log in the state database, the Web API calls the app made, and what it said to the clicker.
import assert from 'node:assert/strict';
import pg from 'pg';
import type { RecordedCall, SlackApi } from './slack-api.js';
import { blockAction, slashCommand } from './slack-requests.js';
import { SIGNING_SECRET } from './app.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

let counter = 0;
/** A fresh id for a response_url or a channel, unique within the process. */
export const fresh = (prefix: string): string => `${prefix}${++counter}${Date.now().toString(36)}`.toUpperCase();

export interface Button {
  action_id: string;
  value: string;
  text?: { text?: string };
}

/** Every button anywhere in a block list (actions elements and section accessories). */
export function buttonsIn(blocks: unknown): Button[] {
  const found: Button[] = [];
  const walk = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walk);
    if (typeof node !== 'object' || node === null) return;
    const o = node as Record<string, unknown>;
    if (o.type === 'button' && typeof o.action_id === 'string') found.push(o as unknown as Button);
    for (const value of Object.values(o)) walk(value);
  };
  walk(blocks);
  return found;
}

/** All visible text of a message or view, for `includes` checks. */
export const textOf = (value: unknown): string => JSON.stringify(value);

/** Runs `/pgsessions …` and returns the ephemeral reply's body. */
export async function command(
  slack: SlackApi,
  port: number,
  text: string,
  options: { user: string; channel: string },
): Promise<{ text: string; body: Record<string, unknown> }> {
  const id = fresh('cmd');
  const res = await slashCommand(port, SIGNING_SECRET, {
    text,
    userId: options.user,
    channelId: options.channel,
    responseUrl: slack.responseUrl(id),
  });
  assert.equal(res.status, 200, `slash command answered ${res.status}: ${res.body}`);
  const reply = await slack.waitFor(() => slack.responsesTo(id)[0], {
    timeoutMs: 10_000,
    description: `reply to /pgsessions ${text}`,
  });
  const body = reply.body as Record<string, unknown>;
  return { text: String(body.text ?? ''), body };
}

/** Approval messages posted in a channel (the ones with decision buttons). */
export function approvalPosts(slack: SlackApi, channel: string): RecordedCall[] {
  return slack
    .callsTo('chat.postMessage')
    .filter(
      (c) =>
        c.params.channel === channel &&
        !c.fault &&
        buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.approve),
    );
}

export function requestIdOf(post: RecordedCall): string {
  const approve = buttonsIn(post.params.blocks).find((b) => b.action_id === ACTION.approve);
  assert.ok(approve, 'the approval message has an Approve button');
  return approve.value;
}

/** Types a cancel/terminate/terminate-all command and returns the request id from the approval message it posted. */
export async function typedRequest(
  slack: SlackApi,
  port: number,
  text: string,
  options: { user: string; channel: string },
): Promise<{ id: string; post: RecordedCall; reply: string }> {
  const before = approvalPosts(slack, options.channel).length;
  const { text: reply } = await command(slack, port, text, options);
  assert.match(reply, /Request posted/, `the request was refused: ${reply}`);
  const post = await slack.waitFor(() => approvalPosts(slack, options.channel)[before], {
    description: 'approval message',
  });
  return { id: requestIdOf(post), post, reply };
}

/**
 * Clicks a decision button (Approve, Deny, Withdraw) carrying `requestId`. `reply()` waits for what the app
 * said to the clicker alone (response_url); the approval itself runs after the ack.
 */
export async function click(
  slack: SlackApi,
  port: number,
  actionId: string,
  requestId: string,
  options: { user: string; channel: string },
): Promise<{ status: number; responseId: string; reply(timeoutMs?: number): Promise<string> }> {
  const responseId = fresh('click');
  const res = await blockAction(port, SIGNING_SECRET, {
    userId: options.user,
    channelId: options.channel,
    actionId,
    value: requestId,
    responseUrl: slack.responseUrl(responseId),
  });
  return {
    status: res.status,
    responseId,
    async reply(timeoutMs = 5_000) {
      const r = await slack.waitFor(() => slack.responsesTo(responseId)[0], {
        timeoutMs,
        description: `answer to ${actionId} by ${options.user}`,
      });
      return String((r.body as { text?: unknown }).text ?? '');
    },
  };
}

// ---- the state database ------------------------------------------------------------------------------

export async function stateQuery<T extends pg.QueryResultRow = Record<string, unknown>>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url, application_name: 'test-observer' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

export interface RequestRow {
  id: string;
  status: string;
  decided_by: string | null;
  message_ts: string | null;
  targets: Array<{ pid: number; backendStart: string; queryStart: string | null }>;
  result: {
    outcomes: Array<{ pid: number; outcome: string; message?: string }>;
    interrupted?: boolean;
    message?: string;
  } | null;
}

export async function requestRow(url: string, id: string): Promise<RequestRow> {
  const rows = await stateQuery<RequestRow>(
    url,
    'SELECT id::text, status, decided_by, message_ts, targets, result FROM pgsessions.requests WHERE id = $1',
    [id],
  );
  assert.ok(rows[0], `request ${id} exists`);
  return rows[0];
}

/** Waits until the request reaches one of `statuses` (an approval executes after the click is acknowledged). */
export async function waitForStatus(
  url: string,
  id: string,
  statuses: string[],
  timeoutMs = 15_000,
): Promise<RequestRow> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const row = await requestRow(url, id);
    if (statuses.includes(row.status)) return row;
    if (Date.now() > deadline)
      throw new Error(`request ${id} is ${row.status}, not ${statuses.join('/')}, after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface AuditRow {
  seq: number;
  event: string;
  actor: string | null;
  cluster: string | null;
  details: Record<string, unknown>;
}

export async function auditOf(url: string, requestId: string): Promise<AuditRow[]> {
  return stateQuery<AuditRow>(
    url,
    'SELECT seq::int AS seq, event, actor, cluster, details FROM pgsessions.audit_log WHERE request_id = $1 ORDER BY seq',
    [requestId],
  );
}

export async function auditEvents(url: string, requestId: string): Promise<string[]> {
  return (await auditOf(url, requestId)).map((a) => a.event);
}

/** chat.update calls that rewrote the approval message of a request. */
export async function updatesOf(slack: SlackApi, url: string, requestId: string): Promise<RecordedCall[]> {
  const { message_ts: ts } = await requestRow(url, requestId);
  assert.ok(ts, 'the approval message ts was recorded');
  return slack.callsTo('chat.update').filter((c) => c.params.ts === ts);
}

/** Waits for a chat.update of the request's message whose text matches. */
export async function waitForUpdate(
  slack: SlackApi,
  url: string,
  requestId: string,
  pattern: RegExp,
  timeoutMs = 10_000,
): Promise<RecordedCall> {
  const { message_ts: ts } = await requestRow(url, requestId);
  return slack.waitFor(
    () => slack.callsTo('chat.update').find((c) => c.params.ts === ts && pattern.test(textOf(c.params))),
    { timeoutMs, description: `chat.update matching ${pattern}` },
  );
}

/** Who clicks or types, and in which channel. */
export const as = (user: string, channel: string) => ({ user, channel });

/** The sessions (and other things) a test opened, ended after it whatever happened (afterEach: `await sessions.endAll()`). */
export function sessionTracker() {
  const cleanups: Array<() => Promise<unknown>> = [];
  return {
    track<T extends { end(): Promise<void> }>(session: T): T {
      cleanups.push(() => session.end());
      return session;
    },
    /** Any other clean-up; `first` runs it before everything deferred so far (e.g. stop an app before dropping its role). */
    defer(end: () => Promise<unknown>, options: { first?: boolean } = {}): void {
      if (options.first) cleanups.unshift(end);
      else cleanups.push(end);
    },
    async endAll(): Promise<void> {
      for (const end of cleanups.splice(0)) await end().catch(() => undefined);
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
