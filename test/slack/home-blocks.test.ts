// The Home renderer at its limits: many waiting requests, long hostile texts, many incidents — always at most
// 100 blocks, every string within Slack's limits (the stand-in's own check), and nothing someone else typed
// able to mention, link or format.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildHomeView } from '../../src/slack/blocks/home.js';
import { checkHomeView } from '../../src/slack/blocks/limits-check.js';
import type { HomeContent, HomeIncident } from '../../src/domain/home.js';
import type { KillRequest } from '../../src/domain/types.js';
import type { Rule } from '../../src/domain/rules.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const HOSTILE = `<!channel> *bold* \`tick\` <https://evil.example|x> ${'&<>'.repeat(900)}`;

function request(i: number, over: Partial<KillRequest> = {}): KillRequest {
  return {
    id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
    cluster: HOSTILE.slice(0, 200),
    action: 'terminate',
    targets: [
      {
        pid: 1000 + i,
        backendStart: '2026-12-03T00:00:00.000000Z',
        queryStart: '2026-12-03T00:00:01.000000Z',
        xactStart: null,
        backendType: 'client backend',
        user: HOSTILE,
        database: HOSTILE,
        application: HOSTILE,
        client: null,
        state: 'active',
        query: HOSTILE,
      },
    ],
    reason: HOSTILE,
    requester: 'UREQ',
    channel: 'CINC',
    messageTs: '1.2',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: '2026-12-03T00:00:00Z',
    expiresAt: '2026-12-03T00:15:00Z',
    escalateAfterSeconds: null,
    scope: null,
    result: null,
    ...over,
  };
}

function rule(i: number, status: Rule['status']): Rule {
  return {
    id: `00000000-0000-4000-9000-${String(i).padStart(12, '0')}`,
    cluster: 'alpha',
    spec: {
      action: 'cancel',
      cause: 'active',
      filters: { application: HOSTILE.slice(0, 500) },
      thresholds: { runningSeconds: 60 },
      lifetimeSeconds: 3600,
      maxExecutions: 5,
      dryRun: false,
      reason: HOSTILE,
    },
    status,
    proposer: 'UPROP',
    approver: status === 'approved' ? 'UAPP' : null,
    endedBy: null,
    channel: 'CRULES',
    messageTs: null,
    createdAt: '2026-12-03T00:00:00Z',
    proposalExpiresAt: '2026-12-03T00:15:00Z',
    expiresAt: status === 'approved' ? '2026-12-03T01:00:00Z' : null,
    used: 0,
    last: null,
  };
}

const incident = (i: number): HomeIncident => ({
  id: `inc-${i}`,
  cluster: 'alpha',
  cause: i % 2 === 0 ? 'root-blocker' : 'cluster-down',
  openedAt: '2026-12-03T00:00:00Z',
  root: { pid: i, user: HOSTILE, database: HOSTILE, application: HOSTILE },
  error: HOSTILE,
  channel: 'CWATCH',
  messageTs: null,
});

function everything(n: number): HomeContent {
  const requests = Array.from({ length: n }, (_, i) => request(i));
  const proposals = Array.from({ length: n }, (_, i) => rule(i, 'proposed'));
  return {
    user: 'UAPP',
    waiting: { requests, proposals },
    mine: { requests, proposals },
    incidents: Array.from({ length: n }, (_, i) => incident(i)),
    rules: Array.from({ length: n }, (_, i) => rule(i + n, 'approved')),
    unreviewed: Array.from({ length: n }, (_, i) => ({
      seq: i,
      requestId: `r${i}`,
      cluster: 'alpha',
      requester: 'UREQ',
      action: 'terminate',
      why: HOSTILE,
      at: '2026-12-03T00:00:00Z',
    })),
  };
}

test('a Home with far too much to show stays within 100 blocks and every Slack limit', () => {
  for (const n of [0, 1, 5, 30, 200]) {
    const view = buildHomeView(everything(n));
    assert.ok(view.blocks.length <= 100, `${n}: ${view.blocks.length} blocks`);
    assert.deepEqual(checkHomeView(view), [], `${n} of each`);
  }
});

test('nothing someone typed can mention, link or break out of a code span on the Home', () => {
  const text = JSON.stringify(buildHomeView(everything(3)).blocks);
  assert.ok(!text.includes('<!channel>'));
  assert.ok(!text.includes('<https://evil'));
  assert.ok(text.includes('&lt;!channel&gt;'));
  // Every mrkdwn text is verbatim: no bare URL or #channel turns live.
  const view = buildHomeView(everything(1));
  const mrkdwn: Array<Record<string, unknown>> = [];
  JSON.stringify(view.blocks, (_, v) => {
    if (v && typeof v === 'object' && (v as { type?: unknown }).type === 'mrkdwn') mrkdwn.push(v);
    return v;
  });
  assert.ok(mrkdwn.length > 0 && mrkdwn.every((t) => t.verbatim === true));
});

test('waiting items carry the channel message’s Approve / Deny, one’s own carry Withdraw, and nothing else is a button', () => {
  const content = everything(0);
  content.waiting.requests = [request(1)];
  content.waiting.proposals = [rule(2, 'proposed')];
  content.mine.requests = [request(3)];
  content.rules = [rule(4, 'approved')];
  const buttons = JSON.stringify(buildHomeView(content).blocks).match(
    /"action_id":"[^"]+","text":[^}]+},"value":"[^"]+"/g,
  );
  const pairs = (buttons ?? []).map((b) => {
    const [, action, value] = /"action_id":"([^"]+)".*"value":"([^"]+)"/.exec(b) ?? [];
    return `${action}=${value?.slice(-2)}`;
  });
  assert.deepEqual(
    pairs.sort(),
    [
      `${ACTION.approve}=01`,
      `${ACTION.deny}=01`,
      `${ACTION.ruleApprove}=02`,
      `${ACTION.ruleDeny}=02`,
      `${ACTION.withdraw}=03`,
    ].sort(),
  );
});

test('the Home holds no clock: the same content renders the same view (so an unchanged Home is not republished)', () => {
  const a = JSON.stringify(buildHomeView(everything(4)));
  const b = JSON.stringify(buildHomeView(everything(4)));
  assert.equal(a, b);
});

test('a request gathering a quorum shows its progress: who approved, how many of how many', () => {
  const content = everything(0);
  content.waiting.requests = [{ ...request(1), quorum: 2, approvers: ['UALEX'] } as KillRequest];
  const text = JSON.stringify(buildHomeView(content).blocks);
  assert.match(text, /1 of 2 approvals: <@UALEX>/);
  content.waiting.requests = [request(1)];
  assert.doesNotMatch(JSON.stringify(buildHomeView(content).blocks), /approvals/);
});
