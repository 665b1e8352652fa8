// The approver notices' Slack side against the Slack stand-in, with an in-memory record of DMs: `say` reaches
// every member of a group and records nothing; whom to message reuses a group's members briefly (one read for
// a burst), while each claim is still asked of the record.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { WebClient } from '@slack/web-api';
import type { ApproverMessage, ApproverMessagesStore } from '../../src/domain/approver-notices.js';
import type { KillRequest } from '../../src/domain/types.js';
import { createLogger } from '../../src/logger.js';
import { createApproverNotices } from '../../src/slack/adapters/approver-notices.js';
import { createGroups } from '../../src/slack/adapters/groups.js';
import { BOT_TOKEN } from '../helpers/app.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';

let slack: SlackApi;
before(async () => {
  slack = await startSlackApi();
});
after(async () => {
  await slack.close();
});

function memoryStore(): ApproverMessagesStore & { rows: Map<string, ApproverMessage | null> } {
  const rows = new Map<string, ApproverMessage | null>();
  const k = (s: { kind: string; id: string }, user: string) => `${s.kind}/${s.id}/${user}`;
  return {
    rows,
    async claim(s, user) {
      if (rows.has(k(s, user))) return false;
      rows.set(k(s, user), null);
      return true;
    },
    async sent(s, user, channel, ts) {
      rows.set(k(s, user), { user, channel, ts, tier: 0 });
    },
    async release(s, user) {
      rows.delete(k(s, user));
    },
    async list(s) {
      return [...rows.entries()]
        .filter(([key, v]) => key.startsWith(`${s.kind}/${s.id}/`) && v !== null)
        .map(([, v]) => v!);
    },
  };
}

function request(id: string): KillRequest {
  return {
    id,
    cluster: 'prod',
    action: 'cancel',
    targets: [],
    reason: 'slow report',
    requester: 'UREQ',
    channel: 'COPS',
    messageTs: '1700000000.000100',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: new Date().toISOString(),
    expiresAt: new Date(Date.now() + 600_000).toISOString(),
    escalateAfterSeconds: null,
    scope: null,
    result: null,
  };
}

function notices(store: ApproverMessagesStore) {
  const client = new WebClient(BOT_TOKEN, {
    slackApiUrl: slack.url.endsWith('/') ? slack.url : `${slack.url}/`,
    retryConfig: { retries: 0 },
  });
  const logger = createLogger('silent');
  return createApproverNotices({ client, groups: createGroups(client, logger), store, logger, queryText: 'full' });
}

test('a burst of requests reads a group once to choose whom to message; each person still told once per request', async () => {
  slack.usergroups.SBURST = ['UB1', 'UB2', 'UREQ'];
  const store = memoryStore();
  const n = notices(store);
  const reads = () => slack.callsTo('usergroups.users.list').filter((c) => c.params.usergroup === 'SBURST').length;
  const before = reads();
  for (let i = 0; i < 5; i++) {
    const told = await n.tell({ kind: 'request', request: request(`r${i}`) }, ['SBURST'], 0);
    assert.deepEqual(told.sort(), ['UB1', 'UB2'], 'the requester, a member too, is not told');
  }
  assert.equal(reads() - before, 1);
  assert.deepEqual(await n.tell({ kind: 'request', request: request('r0') }, ['SBURST', 'UB1'], 1), []);
});

test('say reaches every member of a group and a user, once each, and records nothing', async () => {
  slack.usergroups.SSAY = ['US1', 'US2'];
  const store = memoryStore();
  const from = slack.callsTo('chat.postMessage').length;
  const reached = await notices(store).say(['SSAY', 'US2', 'UX3', 'not-an-id'], { text: 'break-glass used' });
  assert.deepEqual(reached.sort(), ['US1', 'US2', 'UX3']);
  const posts = slack.callsTo('chat.postMessage').slice(from);
  assert.deepEqual(posts.map((c) => c.params.channel).sort(), ['DUS1', 'DUS2', 'DUX3']);
  assert.equal(store.rows.size, 0);
});
