// Standing approvals as a test drives them: propose over a signed slash command, approve by clicking the
// proposal's button, and read back rules, executions and their audit entries from the state database.
import assert from 'node:assert/strict';
import type { RecordedCall, SlackApi } from './slack-api.js';
import { buttonsIn, click, command, sleep, stateQuery } from './approval-flow.js';
import { ACTION } from '../../src/slack/ids.js';

export interface RuleRow {
  id: string;
  status: string;
  proposer: string;
  approver: string | null;
  used: number;
  message_ts: string | null;
}

export interface RuleDriver {
  /** Proposals (with an Approve button) posted to `channel`. */
  posts(): RecordedCall[];
  /** Proposes as `user` and returns the rule id from the posted proposal's Approve button. */
  propose(text: string, user: string): Promise<{ id: string; post: RecordedCall }>;
  /** Clicks Approve as `user`; the ephemeral answer. */
  approve(id: string, user: string): Promise<string>;
  rules(): Promise<RuleRow[]>;
  executions(ruleId: string): Promise<Array<{ pid: number; outcome: string | null; dry_run: boolean }>>;
  waitForRule(id: string, predicate: (r: RuleRow) => boolean, what: string, timeoutMs?: number): Promise<RuleRow>;
}

export function ruleDriver(slack: SlackApi, port: () => number, dbUrl: () => string, channel: string): RuleDriver {
  const posts = () =>
    slack.callsTo('chat.postMessage').filter((c) => c.params.channel === channel && !c.fault && buttonsIn(c.params.blocks).some((b) => b.action_id === ACTION.ruleApprove));
  const rules = () => stateQuery<RuleRow>(dbUrl(), 'SELECT id::text, status, proposer, approver, used, message_ts FROM pgsessions.rules ORDER BY created_at');
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
    async approve(id, user) {
      const clicked = await click(slack, port(), ACTION.ruleApprove, id, { user, channel });
      assert.equal(clicked.status, 200);
      return clicked.reply();
    },
    rules,
    executions: (ruleId) =>
      stateQuery(dbUrl(), 'SELECT pid, outcome, dry_run FROM pgsessions.rule_executions WHERE rule_id = $1 ORDER BY claimed_at', [ruleId]),
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
