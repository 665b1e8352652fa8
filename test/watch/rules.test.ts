// Standing approvals end to end: real sessions on a real server, the real app over signed HTTP with its
// watcher on a 1 s interval, the local Web API recorder standing in for Slack. Two people agree a rule; the
// watcher then cancels the matching DDL by itself, and leaves everything else alone.
import { after, afterEach, before, test } from 'node:test';
import assert from 'node:assert/strict';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/pg.js';
import { startSlackApi, type SlackApi } from '../helpers/slack-api.js';
import { blockedQuery, longRead, activityRow } from '../helpers/sessions.js';
import { APPROVER, baseEnv, OUTSIDER, REQUESTER, startTestApp, type TestApp } from '../helpers/app.js';
import { buttonsIn, click, command, sessionTracker, sleep, stateQuery, textOf } from '../helpers/approval-flow.js';
import { incidents, waitForAlertText, WATCH_CHANNEL, watchEnv } from '../helpers/watch.js';
import { ruleDriver, type RuleDriver } from '../helpers/rules.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const APPROVER_2 = 'UAPP2';
const CHANNEL = 'COPS01';

let db: TestDatabase;
let slack: SlackApi;
let app: TestApp;
const sessions = sessionTracker();
const track = sessions.track;
let column = 0;
let rules: RuleDriver;

/** OUTSIDER may not look at sessions (PGSESSIONS_VIEWERS), so not at rules either. */
const env = () =>
  baseEnv(
    db.url,
    slack,
    watchEnv({
      PGSESSIONS_APPROVERS: `${APPROVER},${APPROVER_2}`,
      PGSESSIONS_VIEWERS: `${REQUESTER},${APPROVER},${APPROVER_2}`,
    }),
  );

before(async () => {
  db = await createTestDatabase('rules');
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  await c.query('CREATE TABLE orders (id int PRIMARY KEY, note text)');
  await c.query('INSERT INTO orders SELECT g, null FROM generate_series(1, 10) g');
  await c.end();
  slack = await startSlackApi();
  rules = ruleDriver(
    slack,
    () => app.port,
    () => db.url,
    CHANNEL,
  );
  app = await startTestApp(env(), { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 });
});
afterEach(async () => {
  await stateQuery(
    db.url,
    "UPDATE pgsessions.rules SET status = 'revoked', ended_at = now() WHERE status IN ('proposed', 'approved')",
  );
  await sessions.endAll();
  const deadline = Date.now() + 15_000;
  while ((await incidents(db.url)).some((i) => i.status === 'open') && Date.now() < deadline) await sleep(200);
  slack.reset();
});
after(async () => {
  await app?.stop();
  await slack?.close();
  await db?.drop();
});

/** A DDL of `application` queued behind a long read, with `readers` readers queued behind the DDL. */
async function lockQueue(application: string, readers = 2) {
  const read = track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: `ALTER TABLE orders ADD COLUMN IF NOT EXISTS c${++column} int`,
      application,
    }),
  );
  const behind = [];
  for (let n = 0; n < readers; n++) behind.push(track(await blockedQuery(db.url, 'orders', { application: 'puma' })));
  return { read, ddl, behind };
}

test('two people agree a rule; the watcher then cancels the queued DDL by itself, audited with both names', async () => {
  const { id, post } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s blocking:2 for:1h max:3 deploy window',
    APPROVER_2,
  );
  const proposal = textOf(post.params);
  assert.match(
    proposal,
    /cancel any statement of app rails-migrate that has waited ≥ 1 s on a lock, at the head of a lock queue while ≥ 2 sessions wait behind it — at most 3 times, for 1h once approved/,
  );
  assert.match(proposal, /deploy window/);
  assert.match(proposal, /Would match right now/);
  assert.ok(buttonsIn(post.params.blocks).some((b) => b.action_id === ACTION.ruleDeny));
  assert.ok(buttonsIn(post.params.blocks).some((b) => b.action_id === ACTION.ruleWithdraw));

  assert.match(await rules.approve(id, APPROVER_2), /second person/, 'the proposer cannot approve');
  assert.match(await rules.approve(id, REQUESTER), /Only an approver/);
  assert.equal((await rules.rules()).find((r) => r.id === id)?.status, 'proposed');
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  await rules.waitForRule(id, (r) => r.status === 'approved' && r.approver === APPROVER, 'the approval');

  const { read, ddl, behind } = await lockQueue('rails-migrate');
  // Nobody clicks: the DDL's statement is cancelled (its session stays), the read and the readers go on.
  const error = await ddl.finished;
  assert.match(String(error?.message), /canceling statement due to user request/);
  const row = await activityRow(db.url, ddl.pid);
  assert.ok(row, 'a cancel leaves the session');
  assert.notEqual(row.state, 'active');
  assert.equal((await activityRow(db.url, read.pid))?.state, 'active', 'the long read is untouched');
  for (const b of behind) assert.ok(await activityRow(db.url, b.pid));

  const done = await rules.waitForRule(id, (r) => r.used === 1, 'the execution to be counted');
  assert.equal(done.status, 'approved');
  const runs = await rules.executions(id);
  assert.deepEqual(
    runs.map((r) => [r.pid, r.dry_run]),
    [[ddl.pid, false]],
  );
  const audit = await rules.audit(id);
  assert.deepEqual(
    audit.map((a) => a.event),
    ['rule_proposed', 'rule_approved', 'rule_executed'],
  );
  const executed = audit[2]!.details as {
    proposer: string;
    approver: string;
    target: { pid: number; query: string };
    result: { outcomes: Array<{ outcome: string }> };
  };
  assert.equal(executed.proposer, APPROVER_2);
  assert.equal(executed.approver, APPROVER);
  assert.equal(executed.target.pid, ddl.pid);
  assert.match(executed.target.query, /ALTER TABLE orders/);
  assert.equal(executed.result.outcomes[0]?.outcome, 'cancelled');
  // Counted on the rule's message, in place; posted to the audit channel with both names.
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) =>
            c.params.ts === done.message_ts &&
            new RegExp(`1 of 3 used, last at .* pid ${ddl.pid}.*ALTER TABLE orders`).test(textOf(c.params)),
        ),
    {
      description: 'the usage line on the rule message',
    },
  );
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find(
          (c) =>
            /rule_executed/.test(textOf(c.params)) &&
            new RegExp(`proposed by ${APPROVER_2}, approved by ${APPROVER}`).test(textOf(c.params)),
        ),
    { description: 'the audit channel post' },
  );
  // The watch alert says the rule relieved it.
  await waitForAlertText(slack, /relieved by standing approval/);
});

test('an active rule leaves a DDL of another application alone', async () => {
  const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h deploy', APPROVER_2);
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const { ddl } = await lockQueue('other-migrate');
  await waitForAlertText(slack, /DDL waits at the head/, 15_000, WATCH_CHANNEL);
  await sleep(3_000); // a few more looks
  assert.equal((await activityRow(db.url, ddl.pid))?.wait_event_type, 'Lock', 'still queued');
  assert.deepEqual(await rules.executions(id), []);
});

test('the cap: after max executions the rule ends and the next match is left alone', async () => {
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:1 deploy',
    APPROVER_2,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const first = await lockQueue('rails-migrate', 1);
  assert.match(String((await first.ddl.finished)?.message), /canceling statement/);
  await rules.waitForRule(id, (r) => r.status === 'exhausted' && r.used === 1, 'the rule to end at its cap');
  const second = track(
    await blockedQuery(db.url, 'orders', {
      statement: `ALTER TABLE orders ADD COLUMN IF NOT EXISTS c${++column} int`,
      application: 'rails-migrate',
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  await sleep(3_000);
  assert.equal((await activityRow(db.url, second.pid))?.wait_event_type, 'Lock', 'the second DDL still waits');
  assert.equal((await rules.executions(id)).length, 1);
  assert.ok((await rules.audit(id)).some((a) => a.event === 'rule_ended'));
});

test('Revoke: anyone allowed to request may revoke, and nothing executes after it', async () => {
  const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h deploy', APPROVER_2);
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const list = await command(slack, app.port, 'rules', { user: REQUESTER, channel: CHANNEL });
  const revoke = buttonsIn(list.body.blocks).find((b) => b.action_id === ACTION.ruleRevoke && b.value === id);
  assert.ok(revoke, 'the rules list offers Revoke');
  assert.match(await rules.press(ACTION.ruleRevoke, id, REQUESTER), /revoked/);
  assert.equal((await rules.rules()).find((r) => r.id === id)?.status, 'revoked');
  const { ddl } = await lockQueue('rails-migrate');
  await waitForAlertText(slack, /DDL waits at the head/, 15_000, WATCH_CHANNEL);
  await sleep(3_000);
  assert.equal((await activityRow(db.url, ddl.pid))?.wait_event_type, 'Lock');
  assert.deepEqual(await rules.executions(id), []);
  assert.ok((await rules.audit(id)).some((a) => a.event === 'rule_revoked' && a.actor === REQUESTER));
});

test('a rule without a narrowing filter, or longer than 24 h, is refused and nothing is stored', async () => {
  const before = (await rules.rules()).length;
  const a = await command(slack, app.port, 'allow cancel lock-queue-head waiting:1s for:1h deploy', {
    user: APPROVER_2,
    channel: CHANNEL,
  });
  assert.match(a.text, /at least one narrowing filter/);
  const b = await command(slack, app.port, 'allow cancel lock-queue-head app:x for:25h deploy', {
    user: APPROVER_2,
    channel: CHANNEL,
  });
  assert.match(b.text, /at most 24h/);
  assert.equal((await rules.rules()).length, before);
  assert.equal(rules.posts().length, 0);
});

test('a forged Approve with a made-up rule id changes nothing', async () => {
  const clicked = await click(slack, app.port, ACTION.ruleApprove, '00000000-0000-4000-8000-000000000000', {
    user: APPROVER,
    channel: CHANNEL,
  });
  assert.match(await clicked.reply(), /does not exist/);
  const junk = await click(slack, app.port, ACTION.ruleRevoke, "'; DROP TABLE pgsessions.rules; --", {
    user: OUTSIDER,
    channel: CHANNEL,
  });
  assert.match(await junk.reply(), /not one pgsessions made/);
});

test('dry-run says what it would have done and signals nothing', async () => {
  const { id } = await rules.propose(
    'cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:2 dry-run try it first',
    APPROVER_2,
  );
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  const { ddl } = await lockQueue('rails-migrate');
  const done = await rules.waitForRule(id, (r) => r.used === 1, 'the dry run');
  await sleep(1_500);
  assert.equal((await activityRow(db.url, ddl.pid))?.wait_event_type, 'Lock', 'the DDL still waits');
  const runs = await rules.executions(id);
  assert.equal(runs.length, 1, 'once per statement, also in a dry run');
  assert.equal(runs[0]?.dry_run, true);
  const audit = (await rules.audit(id)).find((a) => a.event === 'rule_executed')!;
  assert.equal(audit.details.dryRun, true);
  await slack.waitFor(
    () =>
      slack
        .callsTo('chat.update')
        .find(
          (c) =>
            c.params.ts === done.message_ts &&
            new RegExp(`would have used 1 of 2, last at .* pid ${ddl.pid}.*dry run: nothing signalled`).test(
              textOf(c.params),
            ),
        ),
    {
      description: 'the rule message saying what it would have done',
    },
  );
});

test('read-only mode stops every rule at once; a restart without it applies the rule again, once', async () => {
  const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h deploy', APPROVER_2);
  assert.match(await rules.approve(id, APPROVER), /Rule approved/);
  await app.stop();
  app = await startTestApp(
    { ...env(), PGSESSIONS_READ_ONLY: 'true' },
    { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 },
  );
  const { ddl } = await lockQueue('rails-migrate');
  await waitForAlertText(slack, /DDL waits at the head/, 15_000, WATCH_CHANNEL);
  await sleep(3_000);
  assert.equal((await activityRow(db.url, ddl.pid))?.wait_event_type, 'Lock', 'read-only: the DDL still waits');
  assert.deepEqual(await rules.executions(id), []);
  const refused = await command(slack, app.port, 'allow cancel lock-queue-head app:rails-migrate for:1h deploy', {
    user: APPROVER_2,
    channel: CHANNEL,
  });
  assert.match(refused.text, /read-only/);
  await app.stop();
  app = await startTestApp(env(), { terminateTimeoutMs: 3_000, watchUpdateGapSeconds: 1 });
  assert.match(String((await ddl.finished)?.message), /canceling statement/);
  await sleep(2_500);
  assert.equal((await rules.executions(id)).length, 1, 'executed once');
});

test('only the proposer withdraws, and a withdrawn proposal cannot be approved', async () => {
  const { id } = await rules.propose(
    'terminate idle-in-transaction user:reporting idle:15m for:8h reporting tool',
    APPROVER_2,
  );
  assert.match(await rules.press(ACTION.ruleWithdraw, id, APPROVER), /Only the proposer/);
  assert.match(await rules.press(ACTION.ruleWithdraw, id, APPROVER_2), /withdrawn/);
  assert.match(await rules.approve(id, APPROVER), /already decided/);
  assert.equal((await rules.rules()).find((r) => r.id === id)?.status, 'withdrawn');
});

test('someone who may not look at sessions sees no rules', async () => {
  const { id } = await rules.propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h deploy', APPROVER_2);
  const mine = await command(slack, app.port, 'rules', { user: REQUESTER, channel: CHANNEL });
  assert.match(textOf(mine.body), new RegExp(id));
  const all = await command(slack, app.port, 'rules', { user: OUTSIDER, channel: CHANNEL });
  assert.doesNotMatch(textOf(all.body), new RegExp(id));
  assert.doesNotMatch(textOf(all.body), /rails-migrate/);
  const one = await command(slack, app.port, 'rules cluster:default', { user: OUTSIDER, channel: CHANNEL });
  assert.doesNotMatch(textOf(one.body), /rails-migrate/);
  const proposed = await command(slack, app.port, 'allow cancel lock-queue-head app:x for:1h r', {
    user: OUTSIDER,
    channel: CHANNEL,
  });
  assert.doesNotMatch(proposed.text, /Rule proposed/);
});
