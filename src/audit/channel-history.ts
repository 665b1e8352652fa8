// Reads the audit channel back for `npm run audit:verify -- --against-slack`: every message the bot itself
// posted there (conversations.history, page by page), with the witness each one carries. Messages from
// anyone else are ignored: a member cannot vouch for an entry by posting a look-alike.
import type { WebClient } from '@slack/web-api';
import { witnessOfMessage, type Witness } from '../domain/audit-witness.js';

export interface ChannelWitnesses {
  witnesses: Witness[];
  /** Messages read from the bot that carry no witness (before this feature, or not audit entries). */
  withoutWitness: number;
  /** Messages from other users or apps, not trusted. */
  ignored: number;
}

export async function readChannelWitnesses(client: WebClient, channel: string): Promise<ChannelWitnesses> {
  const auth = await client.auth.test();
  const botUser = auth.user_id;
  const botId = auth.bot_id;
  const result: ChannelWitnesses = { witnesses: [], withoutWitness: 0, ignored: 0 };
  let cursor: string | undefined;
  do {
    // The Web API client waits out a 429 for as long as Retry-After says, then retries.
    const page = await client.conversations.history({ channel, limit: 200, ...(cursor ? { cursor } : {}) });
    for (const message of page.messages ?? []) {
      const fromBot =
        (botId !== undefined && message.bot_id === botId) || (botUser !== undefined && message.user === botUser);
      if (!fromBot) {
        result.ignored += 1;
        continue;
      }
      const witness = witnessOfMessage(message.blocks);
      if (witness) result.witnesses.push(witness);
      else result.withoutWitness += 1;
    }
    cursor = page.has_more ? page.response_metadata?.next_cursor || undefined : undefined;
  } while (cursor);
  return result;
}
