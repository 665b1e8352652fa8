// Ask the running app a slash command over signed HTTP and read back what it posted to the response_url,
// with the listing's rows picked out of the Block Kit (a row is a section starting with `*pid N*`, its
// buttons the actions block right after it).
import assert from 'node:assert/strict';
import { ACTION, decodeTarget, type ButtonTarget } from '../../src/slack/blocks/ids.js';
import { SIGNING_SECRET, type TestApp } from './app.js';
import type { SlackApi } from './slack-api.js';
import { slashCommand, type PostResult } from './slack-requests.js';

export interface Block {
  type: string;
  text?: { type: string; text: string };
  elements?: Array<{ type: string; text?: string | { text: string }; action_id?: string; value?: string }>;
  accessory?: { type: string; action_id?: string; value?: string };
  [key: string]: unknown;
}

export interface Reply {
  response_type?: string;
  replace_original?: boolean;
  text: string;
  blocks: Block[];
}

export interface Asked {
  ack: PostResult;
  /** When the HTTP ack came back, and when the reply reached the response_url (epoch ms). */
  ackAt: number;
  postedAt: number;
  reply: Reply;
}

let counter = 0;

/** `/pgsessions TEXT` as user `userId`; resolves with the ack and the reply posted to the response_url. */
export async function ask(
  app: TestApp,
  slack: SlackApi,
  text: string,
  options: { userId?: string; timeoutMs?: number } = {},
): Promise<Asked> {
  const id = `ask-${++counter}-${Date.now()}`;
  const ack = await slashCommand(app.port, SIGNING_SECRET, {
    text,
    responseUrl: slack.responseUrl(id),
    ...(options.userId ? { userId: options.userId } : {}),
  });
  const ackAt = Date.now();
  assert.equal(ack.status, 200, `ack of ${JSON.stringify(text)}: ${ack.body}`);
  const posted = await slack.waitFor(() => slack.responsesTo(id)[0], {
    timeoutMs: options.timeoutMs ?? 8000,
    description: `reply to ${text}`,
  });
  return { ack, ackAt, postedAt: posted.at, reply: posted.body as Reply };
}

export interface ListedRow {
  pid: number;
  text: string;
  buttons: Array<{ actionId: string; label: string; value: string; target: ButtonTarget | null }>;
}

/** The session rows of a listing or blocking reply, in display order. */
export function rowsOf(reply: Reply): ListedRow[] {
  const rows: ListedRow[] = [];
  reply.blocks.forEach((block, i) => {
    if (block.type !== 'section' || !block.text) return;
    const m = /^[^*\n]*\*pid (\d+)\*/.exec(block.text.text);
    if (!m) return;
    const next = reply.blocks[i + 1];
    // A row's buttons are the actions block right after it; "Share in channel" belongs to the whole listing.
    const elements = next?.type === 'actions' ? (next.elements ?? []).filter((e) => e.action_id !== ACTION.share) : [];
    rows.push({
      pid: Number(m[1]),
      text: block.text.text,
      buttons: elements.map((e) => ({
        actionId: e.action_id ?? '',
        label: typeof e.text === 'object' && e.text ? e.text.text : String(e.text ?? ''),
        value: e.value ?? '',
        target: decodeTarget(e.value ?? ''),
      })),
    });
  });
  return rows;
}

/** Buttons that ask for a cancel or terminate, anywhere in a reply. */
export function killButtons(reply: Reply): string[] {
  const kills: string[] = [ACTION.cancel, ACTION.terminate, ACTION.terminateWalsender];
  return reply.blocks
    .flatMap((b) => [...(b.elements ?? []), ...(b.accessory ? [b.accessory] : [])])
    .map((e) => e.action_id ?? '')
    .filter((id) => kills.includes(id));
}

export function pidsOf(reply: Reply): number[] {
  return rowsOf(reply).map((r) => r.pid);
}

export function rowFor(reply: Reply, pid: number): ListedRow {
  const row = rowsOf(reply).find((r) => r.pid === pid);
  assert.ok(row, `pid ${pid} is not listed; rows: ${pidsOf(reply).join(', ')}\n${allText(reply)}`);
  return row;
}

/** All visible text of a reply (section, header and context text), one block a line. */
export function allText(reply: Reply): string {
  return reply.blocks
    .flatMap((b) => [
      b.text?.text ?? '',
      ...(b.elements ?? []).map((e) => (typeof e.text === 'string' ? e.text : (e.text?.text ?? ''))),
    ])
    .filter((t) => t !== '')
    .join('\n');
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
