// The request service (the two-person rule) on its own, with in-memory fakes of its ports: who may approve,
// self-approval, read-only refusals, expiry, escalation from cancel to terminate, reconciliation. The same
// rules run end to end against PostgreSQL and Slack in test/flows/.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  createRequestService,
  type ClusterPort,
  type RequestMessagesPort,
  type RequestSettings,
  type SignalTargetPort,
} from '../../src/domain/request-service.js';
import type { KillRequest, SessionRow, TargetOutcome } from '../../src/domain/types.js';
import { createMemoryState as fakeState } from '../helpers/memory-state.js';

const session = (pid: number, overrides: Partial<SessionRow> = {}): SessionRow => ({
  pid,
  user: 'app',
  database: 'shop',
  application: 'api',
  client: '10.0.0.7',
  state: 'active',
  backendType: 'client backend',
  backendStart: '2025-06-01T11:00:00.000000Z',
  xactStart: '2025-06-01T11:59:00.000000Z',
  queryStart: '2025-06-01T11:59:00.000000Z',
  ageSeconds: 60,
  queryAgeSeconds: 60,
  xactAgeSeconds: 60,
  waitEventType: null,
  waitEvent: null,
  blockedBy: [],
  blocking: 0,
  parallelWorkers: 0,
  queryId: null,
  query: 'SELECT pg_sleep(600)',
  ...overrides,
});

/** One cluster in memory: sessions by pid, a script of signal outcomes, and every signal it was sent. */
function fakeCluster(rows: SessionRow[]) {
  const sessions = new Map(rows.map((r) => [r.pid, r]));
  const signals: Array<{ kind: 'cancel' | 'terminate'; target: SignalTargetPort }> = [];
  const outcomes: Array<(kind: 'cancel' | 'terminate', pid: number) => TargetOutcome['outcome']> = [];
  let stillActive = false;
  const port: ClusterPort = {
    name: 'default',
    async byPid(pid) {
      return sessions.get(pid) ?? null;
    },
    async bulkTargets(scope) {
      return [...sessions.values()].filter((s) => s.database === scope.database);
    },
    async reliefTargets(scope) {
      return [...sessions.values()].filter((s) => s.application === scope.application);
    },
    async signal(kind, target) {
      signals.push({ kind, target });
      const next = outcomes.shift();
      return {
        pid: target.pid,
        outcome: next ? next(kind, target.pid) : kind === 'cancel' ? 'cancelled' : 'terminated',
      };
    },
    async stillThere(target) {
      return sessions.has(target.pid) ? { state: stillActive ? 'active' : 'idle' } : null;
    },
  };
  return {
    port,
    signals,
    /** The next signal answers with this outcome. */
    answerNext(outcome: TargetOutcome['outcome']) {
      outcomes.push(() => outcome);
    },
    keepRunning(active: boolean) {
      stillActive = active;
    },
    end(pid: number) {
      sessions.delete(pid);
    },
  };
}

function fakeMessages() {
  const posted: KillRequest[] = [];
  const updated: KillRequest[] = [];
  const told: KillRequest[] = [];
  let failPost = false;
  const port: RequestMessagesPort = {
    async post(request) {
      if (failPost) throw new Error('channel_not_found');
      posted.push(request);
      return `1700000000.${String(posted.length).padStart(6, '0')}`;
    },
    async update(request) {
      updated.push(request);
    },
    async notifyRequester(request) {
      told.push(request);
    },
  };
  return { port, posted, updated, told, failPosts: () => (failPost = true) };
}

function setup(
  options: { settings?: Partial<RequestSettings>; sessions?: SessionRow[]; groups?: Record<string, string[]> } = {},
) {
  const state = fakeState();
  const cluster = fakeCluster(options.sessions ?? [session(4242)]);
  const messages = fakeMessages();
  const groups = options.groups ?? { SONCALL: ['UGROUPIE'] };
  const slept: number[] = [];
  const settings: RequestSettings = {
    readOnly: false,
    ttlSeconds: 900,
    queryText: 'truncated',
    bulkCap: 200,
    terminateTimeoutMs: 5_000,
    protectedRoles: ['postgres'],
    protectedApps: [],
    rules: () => ({ requesters: null, approvers: ['UAPP', 'SONCALL'] }),
    ...options.settings,
  };
  const service = createRequestService({
    state: state.port,
    cluster: (name) => (name === 'default' ? cluster.port : undefined),
    messages: messages.port,
    groups: { members: async (id) => groups[id] ?? [] },
    settings,
    isUnreachable: (error) => (error as { code?: string }).code === 'ECONNREFUSED',
    sleep: async (ms) => {
      slept.push(ms);
    },
  });
  return { state, cluster, messages, service, slept };
}

const ask = (overrides: Partial<Parameters<ReturnType<typeof createRequestService>['requestOne']>[0]> = {}) => ({
  cluster: 'default',
  action: 'terminate' as const,
  pid: 4242,
  reason: 'holding locks on orders',
  requester: 'UREQ',
  channel: 'CINC',
  ...overrides,
});

describe('approval rules', () => {
  test('an approver who is not the requester approves; the target is signalled once and the outcome shown and told', async () => {
    const { service, state, cluster, messages } = setup();
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    assert.equal(messages.posted.length, 1);
    const approved = await service.approve(asked.value.id, 'UAPP');
    assert.ok(approved.ok);
    assert.equal(approved.value.status, 'executed');
    assert.deepEqual(
      cluster.signals.map((s) => [s.kind, s.target.pid]),
      [['terminate', 4242]],
    );
    assert.deepEqual(state.events(asked.value.id), ['requested', 'approved', 'executing', 'executed']);
    assert.equal(messages.told.at(-1)?.status, 'executed');
    // A second click finds it decided: nothing is signalled again.
    const again = await service.approve(asked.value.id, 'UAPP');
    assert.equal(!again.ok && again.refusal.code, 'already_decided');
    assert.equal(cluster.signals.length, 1);
  });

  test('the requester cannot approve their own request, even as an approver', async () => {
    const { service, cluster, state } = setup();
    const asked = await service.requestOne(ask({ requester: 'UAPP' }));
    assert.ok(asked.ok);
    const self = await service.approve(asked.value.id, 'UAPP');
    assert.equal(!self.ok && self.refusal.code, 'self_approval');
    assert.match(!self.ok ? self.refusal.message : '', /a second person has to approve it/);
    assert.equal(cluster.signals.length, 0);
    assert.deepEqual(state.events(asked.value.id), ['requested']);
  });

  test('someone who is not an approver cannot approve or deny; a member of an approver group can approve', async () => {
    const { service, cluster } = setup();
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    const outsider = await service.approve(asked.value.id, 'UOUT');
    assert.equal(!outsider.ok && outsider.refusal.code, 'not_approver');
    const denied = await service.deny(asked.value.id, 'UOUT');
    assert.equal(!denied.ok && denied.refusal.code, 'not_approver');
    assert.equal(cluster.signals.length, 0);
    const groupie = await service.approve(asked.value.id, 'UGROUPIE');
    assert.ok(groupie.ok);
    assert.equal(cluster.signals.length, 1);
  });

  test('only the requester may withdraw', async () => {
    const { service, state } = setup();
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    const other = await service.withdraw(asked.value.id, 'UAPP');
    assert.equal(!other.ok && other.refusal.code, 'not_the_requester');
    const own = await service.withdraw(asked.value.id, 'UREQ');
    assert.ok(own.ok);
    assert.deepEqual(state.events(asked.value.id), ['requested', 'withdrawn']);
  });

  test('read-only mode refuses requests, and refuses approvals with a refused entry in the audit', async () => {
    const normal = setup();
    const asked = await normal.service.requestOne(ask());
    assert.ok(asked.ok);
    const readOnly = setup({ settings: { readOnly: true } });
    const refusedAsk = await readOnly.service.requestOne(ask());
    assert.equal(!refusedAsk.ok && refusedAsk.refusal.code, 'read_only');
    // The same request, decided by an instance in read-only mode.
    const shared = createRequestService({
      state: normal.state.port,
      cluster: () => normal.cluster.port,
      messages: normal.messages.port,
      groups: { members: async () => [] },
      settings: {
        readOnly: true,
        ttlSeconds: 900,
        queryText: 'none',
        bulkCap: 1,
        terminateTimeoutMs: 1,
        protectedRoles: [],
        protectedApps: [],
        rules: () => ({ requesters: null, approvers: ['UAPP'] }),
      },
      isUnreachable: () => false,
    });
    // A workspace member who is no approver clicks Approve: refused as such, and nothing is audited.
    const auditBefore = normal.state.audit.length;
    const stranger = await shared.approve(asked.value.id, 'USTRANGER');
    assert.equal(!stranger.ok && stranger.refusal.code, 'not_approver');
    assert.equal(normal.state.audit.length, auditBefore, 'a non-approver made an audit entry');
    const refused = await shared.approve(asked.value.id, 'UAPP');
    assert.equal(!refused.ok && refused.refusal.code, 'read_only');
    assert.equal(normal.cluster.signals.length, 0);
    const entry = normal.state.audit.at(-1)!;
    assert.equal(entry.event, 'refused');
    assert.deepEqual(entry.details, { why: 'read_only' });
  });

  test('a protected role, a missing reason and a request that cannot be posted are refused before anyone approves', async () => {
    const { service, messages, state } = setup({ sessions: [session(1, { user: 'postgres' }), session(2)] });
    assert.equal(((r) => !r.ok && r.refusal.code)(await service.requestOne(ask({ pid: 1 }))), 'protected');
    assert.equal(
      ((r) => !r.ok && r.refusal.code)(await service.requestOne(ask({ pid: 2, reason: '   ' }))),
      'reason_required',
    );
    messages.failPosts();
    const unposted = await service.requestOne(ask({ pid: 2 }));
    assert.equal(!unposted.ok && unposted.refusal.code, 'post_failed');
    // The request nobody could see was withdrawn at once, not left pending.
    assert.deepEqual(await state.port.listPending(), []);
  });
});

describe('expiry', () => {
  test('a request past its expiry cannot be approved, and the sweep expires it and shows it', async () => {
    const { service, state, messages, cluster } = setup({ settings: { ttlSeconds: 60 } });
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    state.advance(61);
    const late = await service.approve(asked.value.id, 'UAPP');
    assert.equal(!late.ok && late.refusal.code, 'expired');
    assert.equal(cluster.signals.length, 0);
    const expired = await service.expireDue();
    assert.deepEqual(
      expired.map((r) => r.id),
      [asked.value.id],
    );
    assert.equal(messages.updated.at(-1)?.status, 'expired');
    assert.deepEqual(state.events(asked.value.id), ['requested', 'expired']);
    assert.deepEqual(await service.expireDue(), [], 'expired once');
  });

  test('a request still within its time is not expired', async () => {
    const { service, state } = setup({ settings: { ttlSeconds: 60 } });
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    state.advance(59);
    assert.deepEqual(await service.expireDue(), []);
    assert.ok((await service.approve(asked.value.id, 'UAPP')).ok);
  });
});

describe('escalation', () => {
  test('cancel, then terminate: a query still running after the grace period is terminated, the same session only', async () => {
    const { service, cluster } = setup();
    cluster.answerNext('still_running');
    cluster.keepRunning(true);
    const asked = await service.requestOne(ask({ action: 'cancel_then_terminate', escalateAfterSeconds: 0 }));
    assert.ok(asked.ok);
    assert.equal(asked.value.escalateAfterSeconds, 0);
    const approved = await service.approve(asked.value.id, 'UAPP');
    assert.ok(approved.ok);
    assert.deepEqual(
      cluster.signals.map((s) => s.kind),
      ['cancel', 'terminate'],
    );
    const terminate = cluster.signals[1]!.target;
    assert.equal(terminate.pid, 4242);
    assert.equal(terminate.backendStart, '2025-06-01T11:00:00.000000Z');
    assert.equal(
      terminate.queryStart,
      '2025-06-01T11:59:00.000000Z',
      'only while it still runs the query that was asked about',
    );
    assert.deepEqual(
      approved.value.result?.outcomes.map((o) => o.outcome),
      ['terminated'],
    );
  });

  test('cancel, then terminate: a cancel that worked is not followed by a terminate', async () => {
    const { service, cluster } = setup();
    const asked = await service.requestOne(ask({ action: 'cancel_then_terminate' }));
    assert.ok(asked.ok);
    assert.equal(asked.value.escalateAfterSeconds, 10, 'the default grace period');
    const approved = await service.approve(asked.value.id, 'UAPP');
    assert.ok(approved.ok);
    assert.deepEqual(
      cluster.signals.map((s) => s.kind),
      ['cancel'],
    );
    assert.deepEqual(
      approved.value.result?.outcomes.map((o) => o.outcome),
      ['cancelled'],
    );
  });

  test('cancel, then terminate: a query that stops during the grace period counts as cancelled, nothing terminated', async () => {
    const { service, cluster, slept } = setup();
    cluster.answerNext('still_running');
    cluster.keepRunning(false);
    const asked = await service.requestOne(ask({ action: 'cancel_then_terminate', escalateAfterSeconds: 5 }));
    assert.ok(asked.ok);
    const approved = await service.approve(asked.value.id, 'UAPP');
    assert.ok(approved.ok);
    assert.deepEqual(
      cluster.signals.map((s) => s.kind),
      ['cancel'],
    );
    assert.deepEqual(
      approved.value.result?.outcomes.map((o) => o.outcome),
      ['cancelled'],
    );
    assert.deepEqual(slept, []);
  });
});

describe('reconciliation', () => {
  test('an approval interrupted before its outcome is re-checked, recorded as failed and interrupted, never re-signalled', async () => {
    const { service, state, cluster, messages } = setup({ sessions: [session(4242), session(5151)] });
    const asked = await service.requestOne(ask());
    assert.ok(asked.ok);
    state.approveWithoutOutcome(asked.value.id, 'UAPP');
    cluster.end(4242);
    const done = await service.reconcile(60);
    assert.deepEqual(
      done.map((r) => r.id),
      [asked.value.id],
    );
    assert.equal(done[0]!.status, 'failed');
    assert.equal(done[0]!.result?.interrupted, true);
    assert.deepEqual(
      done[0]!.result?.outcomes.map((o) => o.outcome),
      ['gone'],
    );
    assert.equal(cluster.signals.length, 0);
    assert.equal(
      state.audit.at(-1)?.event,
      'failed',
      'audited as failed with result.interrupted (there is no separate reconciled event)',
    );
    assert.equal(messages.told.at(-1)?.id, asked.value.id);
  });
});

describe('connection storm relief', () => {
  const relief = (over: { includeActive?: boolean } = {}) => ({
    cluster: 'default',
    scope: { application: 'storm', connectedBy: '2025-06-01T12:00:00Z', includeActive: over.includeActive ?? false },
    reason: 'connection storm',
    requester: 'UREQ',
    channel: 'CWATCH',
  });

  test('freezes the sessions the server returns, without protected ones or those the bot may not signal, at most the bulk cap', async () => {
    const sessions = [
      ...[1, 2, 3, 4].map((pid) =>
        session(pid, { application: 'storm', state: 'idle', backendStart: `2025-06-01T11:00:0${pid}.000000Z` }),
      ),
      session(5, { application: 'storm', state: 'idle', user: 'postgres' }),
      session(6, { application: 'storm', state: 'idle', signalBlocker: 'superuser' }),
    ];
    const { service, state, cluster } = setup({ sessions, settings: { bulkCap: 3 } });
    const asked = await service.requestRelief(relief());
    assert.ok(asked.ok);
    assert.equal(asked.value.action, 'terminate_all');
    assert.deepEqual(asked.value.scope, { application: 'storm' });
    assert.deepEqual(
      asked.value.targets.map((t) => t.pid),
      [1, 2, 3],
      'the protected role, the superuser and the fourth beyond the cap are left out',
    );
    const approved = await service.approve(asked.value.id, 'UAPP');
    assert.ok(approved.ok);
    assert.deepEqual(
      cluster.signals.map((s) => [s.kind, s.target.pid, s.target.queryStart]),
      [
        ['terminate', 1, null],
        ['terminate', 2, null],
        ['terminate', 3, null],
      ],
    );
    assert.deepEqual(state.events(asked.value.id), ['requested', 'approved', 'executing', 'executed']);
  });

  test('nothing to end, read-only, or a requester who may not request: refused, nothing stored', async () => {
    const none = setup({ sessions: [session(9, { application: 'storm', user: 'postgres' })] });
    const empty = await none.service.requestRelief(relief());
    assert.equal(!empty.ok && empty.refusal.code, 'nothing_to_do');
    const readOnly = setup({ sessions: [session(1, { application: 'storm' })], settings: { readOnly: true } });
    const refused = await readOnly.service.requestRelief(relief());
    assert.equal(!refused.ok && refused.refusal.code, 'read_only');
    const closed = setup({
      sessions: [session(1, { application: 'storm' })],
      settings: { rules: () => ({ requesters: ['USOMEONE'], approvers: ['UAPP'] }) },
    });
    const outsider = await closed.service.requestRelief(relief());
    assert.equal(!outsider.ok && outsider.refusal.code, 'not_requester');
    for (const s of [none, readOnly, closed]) assert.equal(s.messages.posted.length, 0);
  });
});
