// Keeping Homes current without Slack or pg: who sees what (approve where they may, never their own, nothing
// of a cluster they may not view), when the remembered Homes are republished (the marker moved; a failed
// publish is retried), and who is remembered (capped, forgotten after a while).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { homeFor, roundGroups, type HomeContent, type HomeState } from '../../src/domain/home.js';
import { createHomeRefresher, type Published } from '../../src/domain/home-refresh.js';
import type { KillRequest } from '../../src/domain/types.js';

const req = (id: string, cluster: string, requester: string) => ({ id, cluster, requester }) as unknown as KillRequest;

const STATE: HomeState = {
  pending: [req('a1', 'alpha', 'UREQ'), req('b1', 'beta', 'UREQ'), req('a2', 'alpha', 'UAPP')],
  rules: [],
  incidents: [],
  unreviewed: null,
};
const ACCESS = {
  rules: (cluster: string) => ({ requesters: null, approvers: cluster === 'beta' ? ['UBETA'] : ['SAPPROVERS'] }),
  viewers: (cluster: string) => (cluster === 'beta' ? ['UBETA', 'UAPP'] : null),
  groups: { members: async (g: string) => (g === 'SAPPROVERS' ? ['UAPP', 'UREQ'] : []) },
};

test('approvers see what waits for them (never their own), requesters their own, nothing of clusters they may not view', async () => {
  const approver = await homeFor(STATE, 'UAPP', ACCESS);
  assert.deepEqual(
    approver.waiting.requests.map((r) => r.id),
    ['a1'],
  );
  assert.deepEqual(
    approver.mine.requests.map((r) => r.id),
    ['a2'],
  );
  const requester = await homeFor(STATE, 'UREQ', ACCESS);
  assert.deepEqual(
    requester.waiting.requests.map((r) => r.id),
    ['a2'],
  );
  assert.deepEqual(
    requester.mine.requests.map((r) => r.id),
    ['a1'],
    'beta is not theirs to view',
  );
  const beta = await homeFor(STATE, 'UBETA', ACCESS);
  assert.deepEqual(
    beta.waiting.requests.map((r) => r.id),
    ['b1'],
  );
});

test('the escalation tier finds on its Home what waited past the deadline, and nothing before', async () => {
  const asked = Date.parse('2026-12-03T03:00:00Z');
  const request = { ...req('a9', 'alpha', 'UREQ'), createdAt: new Date(asked).toISOString() } as KillRequest;
  const state: HomeState = { pending: [request], rules: [], incidents: [], unreviewed: null };
  const routing = () => ({
    quorum: { cancel: 1, terminate: 1 },
    escalate: { afterSeconds: 300, to: ['SONCALL'] },
    breakGlass: { kinds: [], afterSeconds: 600 },
  });
  const access = {
    ...ACCESS,
    routing,
    groups: { members: async (g: string) => (g === 'SONCALL' ? ['UONCALL'] : g === 'SAPPROVERS' ? ['UAPP'] : []) },
  };
  const before = await homeFor(state, 'UONCALL', access, asked + 299_000);
  assert.deepEqual(before.waiting.requests, [], 'not theirs to decide before the escalation is due');
  const after = await homeFor(state, 'UONCALL', access, asked + 300_000);
  assert.deepEqual(
    after.waiting.requests.map((r) => r.id),
    ['a9'],
  );
  const bystander = await homeFor(state, 'USAM', access, asked + 300_000);
  assert.deepEqual(bystander.waiting.requests, [], 'only the tier, not everyone');
});

test('a group Slack will not read counts as not listed on the Home', async () => {
  const failing = {
    ...ACCESS,
    groups: { members: async (): Promise<string[]> => Promise.reject(new Error('rate limited')) },
  };
  const home = await homeFor(STATE, 'UAPP', { ...failing, groups: roundGroups(failing.groups) });
  assert.deepEqual(home.waiting.requests, []);
});

function rig(results: Published[] = []) {
  let marker = 'm1';
  let now = 0;
  const published: string[] = [];
  const refresher = createHomeRefresher(
    {
      sources: { pending: async () => STATE.pending, incidents: async () => [] },
      access: ACCESS,
      marker: async () => marker,
      publish: async (content: HomeContent) => {
        published.push(content.user);
        return results.shift() ?? 'published';
      },
      now: () => now,
    },
    { rememberMs: 1000, maxPeople: 2, concurrency: 2, retryMs: 100 },
  );
  return {
    refresher,
    published,
    move: (next: string) => {
      marker = next;
    },
    at: (ms: number) => {
      now = ms;
    },
  };
}

test('remembered Homes are republished when the marker moves, not otherwise; a failed publish is retried', async () => {
  const r = rig();
  await r.refresher.show('UAPP');
  assert.deepEqual(r.published, ['UAPP']);
  await r.refresher.tick(); // first look at the marker: a round
  await r.refresher.tick(); // unchanged: nothing
  assert.deepEqual(r.published, ['UAPP', 'UAPP']);
  r.move('m2');
  await r.refresher.tick();
  assert.deepEqual(r.published, ['UAPP', 'UAPP', 'UAPP']);

  const failing = rig(['published', 'failed']);
  await failing.refresher.show('UAPP');
  await failing.refresher.tick(); // fails
  await failing.refresher.tick(); // same marker, too soon: not yet
  assert.deepEqual(failing.published, ['UAPP', 'UAPP']);
  failing.at(150);
  await failing.refresher.tick(); // same marker, after retryMs: tried again
  assert.deepEqual(failing.published, ['UAPP', 'UAPP', 'UAPP']);
});

test('at most maxPeople are remembered (the least recently seen go first), and nobody beyond rememberMs', async () => {
  const r = rig();
  await r.refresher.show('U1');
  await r.refresher.show('U2');
  await r.refresher.show('U3');
  assert.deepEqual(r.refresher.known(), ['U2', 'U3']);
  r.at(5000);
  r.move('m9');
  r.published.length = 0;
  await r.refresher.tick();
  assert.deepEqual(r.published, [], 'forgotten after rememberMs: no Home published');
  assert.deepEqual(r.refresher.known(), []);
});

test('unreviewed break-glass uses show on the Homes of those who may view their cluster, and not at all when unwired', async () => {
  const use = (cluster: string) => ({
    seq: 1,
    requestId: `r-${cluster}`,
    cluster,
    requester: 'UREQ',
    action: 'terminate',
    why: 'nobody answered',
    at: '2026-12-03T00:00:00Z',
  });
  const state: HomeState = { ...STATE, unreviewed: [use('alpha'), use('beta')] };
  assert.deepEqual(
    (await homeFor(state, 'UREQ', ACCESS)).unreviewed?.map((u) => u.cluster),
    ['alpha'],
  );
  assert.deepEqual(
    (await homeFor(state, 'UAPP', ACCESS)).unreviewed?.map((u) => u.cluster),
    ['alpha', 'beta'],
  );
  assert.equal((await homeFor(STATE, 'UAPP', ACCESS)).unreviewed, null);
});

test('with a quorum, a request someone already approved no longer waits for them, and still waits for the others', async () => {
  const halfway = { ...req('q1', 'alpha', 'UREQ'), quorum: 2, approvers: ['UAPP'] };
  const state: HomeState = { ...STATE, pending: [halfway] };
  const access = { ...ACCESS, groups: { members: async () => ['UAPP', 'UAPP2'] } };
  assert.deepEqual((await homeFor(state, 'UAPP', access)).waiting.requests, []);
  assert.deepEqual(
    (await homeFor(state, 'UAPP2', access)).waiting.requests.map((r) => r.id),
    ['q1'],
  );
});
