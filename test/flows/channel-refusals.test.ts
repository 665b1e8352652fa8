// The audit channel refusing posts (not_in_channel, channel_not_found, is_archived): said at start-up and by
// `/pgsessions status`, and the outbox keeps every entry and delivers each once when the channel is fixed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecordedCall } from '../helpers/slack-api.js';
import { sleepSession } from '../helpers/sessions.js';
import { AUDIT_CHANNEL, baseEnv, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { as, command, fresh, sessionTracker, stateQuery, textOf, typedRequest } from '../helpers/approval-flow.js';
import { describeChannelProblem, withChannelProblems } from '../../src/slack/blocks/channels.js';
import { checkMessageBlocks } from '../../src/slack/blocks/limits-check.js';
import { buildHelp } from '../../src/slack/blocks/help.js';
import { useTestApp } from '../helpers/use-test-app.js';

const sessions = sessionTracker();
const track = sessions.track;
// Each test starts its own app.
const { db, slack } = useTestApp({ database: 'channels', app: false, sessions, resetSlack: true });

const seqOf = (call: RecordedCall): number => Number(/audit #(\d+)/.exec(textOf(call.params.blocks))?.[1]);
const refusedByTest = new WeakSet<RecordedCall>();
const accepted = () =>
  slack
    .callsTo('chat.postMessage')
    .filter((c) => c.params.channel === AUDIT_CHANNEL && !c.fault && !c.refused && !refusedByTest.has(c));

test('the channel sentences say what Slack said and what to do, and fit in the status message', () => {
  assert.match(
    describeChannelProblem({ channel: 'CAUD1', role: 'audit', code: 'not_in_channel' }),
    /\/invite @pgsessions.*delivered once/,
  );
  assert.match(describeChannelProblem({ channel: 'CAUD1', role: 'audit', code: 'is_archived' }), /Unarchive/);
  assert.match(describeChannelProblem({ channel: 'CW1', role: 'watch', code: 'channel_not_found' }), /not found/);
  const many = Array.from({ length: 200 }, (_, i) => ({
    channel: `C${i}`,
    role: 'watch' as const,
    code: `odd_error_${'x'.repeat(100)}`,
  }));
  const clusters = Array.from({ length: 60 }, (_, i) => ({ name: `c${i}`, capabilities: null, reachable: false }));
  const status = withChannelProblems(buildHelp({ clusters, readOnly: false }), many);
  assert.deepEqual(checkMessageBlocks(status.blocks), []);
});

test('an audit channel that refuses posts is named at start-up and by status; every entry is kept and delivered once when it is fixed', async () => {
  let refusing = true;
  // The bot was removed from the audit channel: Slack refuses its posts there, and says so on conversations.info too.
  slack.handle('chat.postMessage', (p, call) => {
    if (!refusing || p.channel !== AUDIT_CHANNEL) return undefined;
    refusedByTest.add(call);
    return { ok: false, error: 'not_in_channel' };
  });
  slack.handle('conversations.info', (p) =>
    refusing && p.channel === AUDIT_CHANNEL ? { ok: false, error: 'not_in_channel' } : undefined,
  );
  const app: TestApp = await startTestApp(baseEnv(db.url, slack), { terminateTimeoutMs: 3_000 });
  sessions.defer(() => app.stop(), { first: true });
  await slack.waitFor(() => app.logs.some((l) => l.includes('cannot post in its audit channel (not_in_channel)')), {
    description: 'the start-up warning',
  });

  const channel = fresh('C');
  const status = await command(slack, app.port, 'status', as(REQUESTER, channel));
  assert.match(textOf(status.body.blocks), /audit channel <#CAUDIT01> refuses posts: the bot is not in it/);
  assert.match(textOf(status.body.blocks), /invite @pgsessions/);

  // Work goes on meanwhile: two requests, each with its audit entries.
  for (const name of ['first', 'second']) {
    const victim = track(await sleepSession(db.url, { seconds: 120, application: `chan-${name}` }));
    await typedRequest(slack, app.port, `cancel ${victim.pid} ${name}`, as(REQUESTER, channel));
  }
  const seqs = (
    await stateQuery<{ seq: number }>(db.url, 'SELECT seq::int AS seq FROM pgsessions.audit_log ORDER BY seq')
  ).map((r) => r.seq);
  assert.ok(seqs.length >= 2);
  await slack.waitFor(() => slack.callsTo('chat.postMessage').some((c) => c.params.channel === AUDIT_CHANNEL), {
    description: 'an attempt to post',
  });
  assert.equal(accepted().length, 0, 'nothing got through while refused');

  // Someone invites the bot again.
  refusing = false;
  const deliveredSeqs = () => accepted().map(seqOf);
  await slack.waitFor(() => seqs.every((s) => deliveredSeqs().includes(s)), {
    timeoutMs: 60_000,
    intervalMs: 100,
    description: 'every kept entry delivered',
  });
  // A refusal met by a post is remembered until a post goes through (conversations.info can say "fine" of a
  // public channel the bot may not post in): now one has.
  const fixed = await command(slack, app.port, 'status', as(REQUESTER, channel));
  assert.doesNotMatch(textOf(fixed.body.blocks), /refuses posts/);
  const counts = new Map<number, number>();
  for (const s of deliveredSeqs()) counts.set(s, (counts.get(s) ?? 0) + 1);
  assert.ok(
    [...counts.values()].every((n) => n === 1),
    `each entry once: ${JSON.stringify([...counts])}`,
  );
  assert.deepEqual(
    deliveredSeqs(),
    [...deliveredSeqs()].sort((a, b) => a - b),
    'in order',
  );
});

test('an archived watch channel is named at start-up and by status', async () => {
  slack.handle('conversations.info', (p) =>
    p.channel === 'CWATCH9'
      ? { ok: true, channel: { id: 'CWATCH9', name: 'watch', is_channel: true, is_archived: true, is_member: true } }
      : undefined,
  );
  const app: TestApp = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_WATCH_CHANNEL: 'CWATCH9' }));
  sessions.defer(() => app.stop(), { first: true });
  await slack.waitFor(() => app.logs.some((l) => l.includes('cannot post in its watch channel (is_archived)')), {
    description: 'the start-up warning',
  });
  const status = await command(slack, app.port, 'status', as(REQUESTER, fresh('C')));
  assert.match(textOf(status.body.blocks), /watch channel <#CWATCH9> is archived/);
});
