// Standing approvals and the workspace guard on GET /metrics, after real flows: rules proposed, refused,
// approved, denied, withdrawn, revoked, expired and exhausted over signed HTTP; a rule that cancels a real
// queued DDL and a dry run that does not; commands from another workspace and from a guest.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FORM_CONTENT_TYPE, postSigned, slashCommandBody } from '../helpers/slack-requests.js';
import { activityRow, blockedQuery, longRead } from '../helpers/sessions.js';
import { APPROVER, SIGNING_SECRET } from '../helpers/app.js';
import { fresh, sessionTracker, sleep, stateQuery } from '../helpers/approval-flow.js';
import { watchEnv } from '../helpers/watch.js';
import { ruleDriver, type RuleDriver } from '../helpers/rules.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const PROPOSER = 'UAPP2';
const CHANNEL = 'CRULEMET1';

const sessions = sessionTracker();
const track = sessions.track;
let column = 0;
// probeCacheMs 0: every scrape reads the state database, so the gauge can be compared with it right away.
const { db, slack, app } = useTestApp({
  database: 'rulemetrics',
  async prepare(database) {
    await stateQuery(database.url, 'CREATE TABLE orders (id int PRIMARY KEY)');
  },
  env: watchEnv({ PGSESSIONS_APPROVERS: `${APPROVER},${PROPOSER}` }),
  start: { probeCacheMs: 0, watchUpdateGapSeconds: 1 },
  sessions,
});
const rules: RuleDriver = ruleDriver(
  slack,
  () => app.port,
  () => db.url,
  CHANNEL,
);

async function scrape(): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${app.port}/metrics`);
  assert.equal(res.status, 200);
  return res.text();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Scrapes until `series` reads `expected` (counters of the watcher's work arrive a look later). */
async function until(series: string, expected: number, timeoutMs = 15_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = await scrape();
    if (value(text, series) === expected) return text;
    if (Date.now() > deadline) throw new Error(`${series} is ${value(text, series)}, expected ${expected}`);
    await sleep(100);
  }
}

/** Proposes as PROPOSER; the rule's id. */
const propose = async (text: string) => (await rules.propose(text, PROPOSER)).id;

async function lockQueue(application: string) {
  track(await longRead(db.url, 'orders', { seconds: 120, application: 'reporting' }));
  const ddl = track(
    await blockedQuery(db.url, 'orders', {
      statement: `ALTER TABLE orders ADD COLUMN IF NOT EXISTS c${++column} int`,
      application,
    }),
  );
  track(await blockedQuery(db.url, 'orders', { application: 'puma' }));
  return ddl;
}

const active = 'pgsessions_rules_active{cluster="default"}';
const decision = (d: string) => `pgsessions_rule_decisions_total{decision="${d}"}`;

test('rule decisions, executions (cancelled and dry run) and the active rules per cluster are exact on /metrics', async () => {
  assert.equal(value(await scrape(), active), 0, 'a watched cluster without rules reads 0');

  // Proposed, refused to its proposer, approved: one active rule.
  const real = await propose('cancel lock-queue-head app:rails-migrate waiting:1s for:1h max:1 deploy');
  assert.match(await rules.press(ACTION.ruleApprove, real, PROPOSER), /second person/);
  assert.match(await rules.press(ACTION.ruleApprove, real, APPROVER), /Rule approved/);
  let text = await scrape();
  assert.equal(value(text, decision('proposed')), 1);
  assert.equal(value(text, decision('refused_self_approval')), 1);
  assert.equal(value(text, decision('approved')), 1);
  assert.equal(value(text, active), 1);

  // The watcher cancels the DDL under it; max:1, so that ends the rule.
  const ddl = await lockQueue('rails-migrate');
  assert.match(String((await ddl.finished)?.message), /canceling statement/);
  text = await until('pgsessions_rule_executions_total{action="cancel",outcome="cancelled"}', 1);
  assert.equal(value(text, decision('exhausted')), 1);
  assert.equal(value(text, active), 0);
  await sessions.endAll();

  // A dry run: counted as such, nothing signalled.
  const dry = await propose('cancel lock-queue-head app:dry-migrate waiting:1s for:1h max:1 dry-run watch it first');
  assert.match(await rules.press(ACTION.ruleApprove, dry, APPROVER), /Rule approved/);
  const waiting = await lockQueue('dry-migrate');
  text = await until('pgsessions_rule_executions_total{action="cancel",outcome="dry_run"}', 1);
  assert.equal((await activityRow(db.url, waiting.pid))?.wait_event_type, 'Lock', 'the dry run signalled nothing');
  assert.equal(
    value(text, 'pgsessions_rule_executions_total{action="cancel",outcome="cancelled"}'),
    1,
    'still the one real cancel',
  );
  assert.equal(value(text, decision('exhausted')), 2);

  // Denied, withdrawn, revoked, expired.
  assert.match(
    await rules.press(
      ACTION.ruleDeny,
      await propose('terminate idle-in-transaction user:reporting idle:15m for:1h r'),
      APPROVER,
    ),
    /denied/,
  );
  assert.match(
    await rules.press(
      ACTION.ruleWithdraw,
      await propose('terminate idle-in-transaction user:reporting idle:15m for:1h r'),
      PROPOSER,
    ),
    /withdrawn/,
  );
  const revoked = await propose('terminate idle-in-transaction user:reporting idle:15m for:1h r');
  assert.match(await rules.press(ACTION.ruleApprove, revoked, APPROVER), /Rule approved/);
  assert.equal(value(await scrape(), active), 1);
  assert.match(await rules.press(ACTION.ruleRevoke, revoked, APPROVER), /revoked/);
  const brief = await propose('terminate idle-in-transaction user:reporting idle:15m for:1s r');
  assert.match(await rules.press(ACTION.ruleApprove, brief, APPROVER), /Rule approved/);
  text = await until(decision('expired'), 1);
  assert.equal(value(text, decision('denied')), 1);
  assert.equal(value(text, decision('withdrawn')), 1);
  assert.equal(value(text, decision('revoked')), 1);
  assert.equal(value(text, decision('proposed')), 6);
  assert.equal(value(text, decision('approved')), 4);
  assert.equal(value(text, active), 0);
  const [stored] = await stateQuery<{ n: number }>(
    db.url,
    "SELECT count(*)::int AS n FROM pgsessions.rules WHERE status = 'approved'",
  );
  assert.equal(stored!.n, 0, 'the gauge agrees with the state database');
});

test('commands refused by the workspace guard are counted by reason', async () => {
  const before = await scrape();
  const slash = async (fields: Record<string, string>) => {
    const body = new URLSearchParams(
      slashCommandBody({ text: 'status', responseUrl: slack.responseUrl(fresh('guard')) }),
    );
    for (const [k, v] of Object.entries(fields)) body.set(k, v);
    const res = await postSigned(app.port, SIGNING_SECRET, body.toString(), FORM_CONTENT_TYPE);
    assert.equal(res.status, 200);
  };
  await slash({ team_id: 'TOTHER' });
  await slash({ user_team: 'TOTHER' });
  slack.users.UGUEST = { id: 'UGUEST', is_restricted: true };
  await slash({ user_id: 'UGUEST' });
  await slash({}); // from home: not refused
  const text = await scrape();
  const delta = (reason: string) =>
    (value(text, `pgsessions_guard_refusals_total{reason="${reason}"}`) ?? 0) -
    (value(before, `pgsessions_guard_refusals_total{reason="${reason}"}`) ?? 0);
  assert.equal(delta('foreign_workspace'), 2);
  assert.equal(delta('guest'), 1);
  assert.equal(delta('unverified'), 0);
});
