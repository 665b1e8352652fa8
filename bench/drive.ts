// Driving the app over signed HTTP: a slash command whose ack is timed, and whose response_url post is
// awaited without polling (the recorder's array is watched as entries are pushed).
import type { RecordedResponse, SlackApi } from '../test/helpers/slack-api.js';
import { slashCommand } from '../test/helpers/slack-requests.js';
import { REQUESTER, SIGNING_SECRET } from '../test/helpers/app.js';

export type Outcome = 'listing' | 'unreachable' | 'rate_limited' | 'other' | 'none';

export interface CommandResult {
  status: number;
  ackMs: number;
  /** From sending the command to the response_url post arriving; NaN when none arrived in time. */
  answerMs: number;
  outcome: Outcome;
}

export interface Driver {
  /** Send `/pgsessions text`; resolve after the ack, and (unless `ackOnly`) after the answer too. */
  command(
    text: string,
    options?: { ackOnly?: boolean; timeoutMs?: number; userId?: string },
  ): Promise<CommandResult & { answer: Promise<CommandResult> }>;
  close(): void;
}

export function classify(body: unknown): Outcome {
  const text = JSON.stringify(body);
  if (text.includes('Cannot reach cluster')) return 'unreachable';
  if (text.includes('*pid ')) return 'listing';
  if (text.includes('faster than pgsessions')) return 'rate_limited';
  return 'other';
}

export function createDriver(slack: SlackApi, port: number): Driver {
  const waiters = new Map<string, (response: RecordedResponse) => void>();
  const responses = slack.responses;
  const push = responses.push.bind(responses);
  // Resolve the waiter the moment the recorder stores the post: no polling delay in the measurement.
  responses.push = (...items: RecordedResponse[]) => {
    const n = push(...items);
    for (const item of items) {
      const resolve = waiters.get(item.id);
      if (resolve) {
        waiters.delete(item.id);
        resolve(item);
      }
    }
    return n;
  };
  let counter = 0;

  return {
    async command(text, options = {}) {
      const id = `cmd${++counter}`;
      const timeoutMs = options.timeoutMs ?? 20_000;
      let timer: NodeJS.Timeout | undefined;
      const arrived = new Promise<RecordedResponse | null>((resolve) => {
        waiters.set(id, resolve);
        timer = setTimeout(() => {
          waiters.delete(id);
          resolve(null);
        }, timeoutMs);
      });
      const sentAt = Date.now();
      const ack = await slashCommand(port, SIGNING_SECRET, {
        text,
        userId: options.userId ?? REQUESTER,
        channelId: 'CINC',
        responseUrl: slack.responseUrl(id),
      });
      // A refused read is answered in the acknowledgement itself (nothing comes to the response_url):
      // count it at once instead of waiting out the timeout, so a refused user asks again straight away.
      if (ack.body.length > 0 && classify(ack.json ?? ack.body) === 'rate_limited') {
        clearTimeout(timer);
        waiters.delete(id);
        const refused: CommandResult = { status: ack.status, ackMs: ack.ms, answerMs: ack.ms, outcome: 'rate_limited' };
        return { ...refused, answer: Promise.resolve(refused) };
      }
      const answer = arrived.then((response): CommandResult => {
        clearTimeout(timer);
        return {
          status: ack.status,
          ackMs: ack.ms,
          answerMs: response ? response.at - sentAt : Number.NaN,
          outcome: response ? classify(response.body) : 'none',
        };
      });
      if (options.ackOnly) return { status: ack.status, ackMs: ack.ms, answerMs: Number.NaN, outcome: 'none', answer };
      return { ...(await answer), answer };
    },
    close() {
      responses.push = push;
      for (const resolve of waiters.values()) resolve({ id: '', body: null, at: Number.NaN });
      waiters.clear();
    },
  };
}
