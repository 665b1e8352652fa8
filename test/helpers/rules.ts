// Standing approvals as a test drives them: propose over a signed slash command, approve by clicking the
// proposal's button, and read back rules, executions and their audit entries from the state database.
import assert from 'node:assert/strict';
import type { RecordedCall, SlackApi } from './slack-api.js';
import { buttonsIn, click, command, sleep, stateQuery } from './approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

export interface RuleRow {
  id: string;
  status: string;
  proposer: string;
  approver: string | null;
  used: number;
  message_ts: string | null;
  /** ended_at and expires_at in epoch ms, to compare with claims and with Date.now(). */
  ended_ms: number | null;
  expires_ms: number | null;
}

export interface ExecutionRow {
  id: string;
  pid: number;
  query_start: string;
  outcome: string | null;
  dry_run: boolean;
  /** claimed_at and finished_at in epoch ms. */
  claimed_ms: number;
  finished_ms: number | null;
}

/** An audit entry of a rule (details->>'rule'); `D` is what the test reads of its details. */
export interface RuleAuditRow<D = Record<string, unknown>> {
  event: string;
  actor: string | null;
  details: D;
}

export interface RuleDriver {
  /** Proposals (with an Approve button) posted to `channel`. */
  posts(): RecordedCall[];
  /** Proposes as `user` and returns the rule id from the posted proposal's Approve button. */
  propose(text: string, user: string): Promise<{ id: string; post: RecordedCall }>;
  /** Clicks Approve as `user`; the ephemeral answer. */
  approve(id: string, user: string): Promise<string>;
  /** Clicks any of the rule's buttons (Deny, Withdraw, Revoke…) as `user`; the ephemeral answer. */
  press(actionId: string, id: string, user: string): Promise<string>;
  rules(): Promise<RuleRow[]>;
  /** The one rule `id`; fails the test if there is none. */
  rule(id: string): Promise<RuleRow>;
  executions(ruleId: string): Promise<ExecutionRow[]>;
  /** The rule's audit entries, in order. */
  audit<D = Record<string, unknown>>(ruleId: string): Promise<Array<RuleAuditRow<D>>>;
  waitForRule(id: string, predicate: (r: RuleRow) => boolean, what: string, timeoutMs?: number): Promise<RuleRow>;
}

const RULE_COLUMNS = `SELECT id::text, status, proposer, approver, used, message_ts,
  (extract(epoch FROM ended_at) * 1000)::float8 AS ended_ms, (extract(epoch FROM expires_at) * 1000)::float8 AS expires_ms
  FROM pgsessions.rules`;
const EXECUTIONS_OF_RULE = `SELECT id::text, pid, query_start::text, outcome, dry_run,
  (extract(epoch FROM claimed_at) * 1000)::float8 AS claimed_ms, (extract(epoch FROM finished_at) * 1000)::float8 AS finished_ms
  FROM pgsessions.rule_executions WHERE rule_id = $1 ORDER BY claimed_at`;

export function ruleDriver(slack: SlackApi, port: () => number, dbUrl: () => string, channel: string): RuleDriver {
  const posts = () =>
    slack
      .callsTo('chat.postMessage')
      .filter(
        (c) =>
          c.params.channel === channel &&
          !c.fault &&
          buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.ruleApprove),
      );
  const rules = () => stateQuery<RuleRow>(dbUrl(), `${RULE_COLUMNS} ORDER BY created_at`);
  const press = async (actionId: string, id: string, user: string) => {
    const clicked = await click(slack, port(), actionId, id, { user, channel });
    assert.equal(clicked.status, 200);
    return clicked.reply();
  };
  return {
    posts,
    async propose(text, user) {
      const before = posts().length;
      const reply = await command(slack, port(), `allow ${text}`, { user, channel });
      assert.match(reply.text, /Rule proposed/, reply.text);
      const post = await slack.waitFor(() => posts()[before], { description: 'the proposal' });
      const approve = buttonsIn(post.params.blocks).find((b) => b.action_id === ACTION.ruleApprove)!;
      return { id: approve.value, post };
    },
    approve: (id, user) => press(ACTION.ruleApprove, id, user),
    press,
    rules,
    async rule(id) {
      const [row] = await stateQuery<RuleRow>(dbUrl(), `${RULE_COLUMNS} WHERE id = $1`, [id]);
      assert.ok(row, `rule ${id} is stored`);
      return row;
    },
    executions: (ruleId) => stateQuery<ExecutionRow>(dbUrl(), EXECUTIONS_OF_RULE, [ruleId]),
    audit: <D>(ruleId: string) =>
      stateQuery<RuleAuditRow<D>>(
        dbUrl(),
        "SELECT event, actor, details FROM pgsessions.audit_log WHERE details->>'rule' = $1 ORDER BY seq",
        [ruleId],
      ),
    async waitForRule(id, predicate, what, timeoutMs = 15_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const row = (await rules()).find((r) => r.id === id);
        if (row && predicate(row)) return row;
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(row)}`);
        await sleep(100);
      }
    },
  };
}

/** Polls `probe` every `everyMs` until it gives something truthy, and returns that; fails naming `what`. */
export async function waitUntil<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 15_000,
  everyMs = 50,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}
