// The read use cases with in-memory fakes of their ports: who may look (users, groups, per cluster), what
// pending shows where, query text shaped before anything leaves, no button for protected walsenders, and
// a cluster that is down told as a value (its error goes to the log hook, not to the answer).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadService, type ReadDeps } from '../../src/domain/reads.js';
import type { ReadClusterPort } from '../../src/domain/ports.js';
import type { KillRequest, ReplicationRow, SessionRow } from '../../src/domain/types.js';

const LONG = `SELECT 1 /* ${'x'.repeat(250)} TAIL */`;

function row(pid: number, over: Partial<SessionRow> = {}): SessionRow {
  return {
    pid,
    user: 'app',
    database: 'shop',
    application: 'web',
    client: null,
    state: 'active',
    backendType: 'client backend',
    backendStart: 'b',
    xactStart: null,
    queryStart: 'q',
    ageSeconds: 1,
    queryAgeSeconds: 1,
    xactAgeSeconds: null,
    waitEventType: null,
    waitEvent: null,
    blockedBy: [],
    blocking: 0,
    parallelWorkers: 0,
    queryId: null,
    query: LONG,
    ...over,
  };
}

function walsender(pid: number, application: string): ReplicationRow {
  return {
    pid,
    user: 'repl',
    application,
    client: null,
    state: 'streaming',
    backendStart: 'b',
    sentLsn: null,
    replayLsn: null,
    lagBytes: 0,
    replayLagSeconds: null,
    syncState: 'async',
    slotName: null,
  };
}

function cluster(name: string, over: Partial<ReadClusterPort> = {}): ReadClusterPort {
  return {
    name,
    capabilities: async () => ({
      role: 'bot',
      superuser: false,
      readAllStats: true,
      signalBackend: true,
      reservedConnections: null,
      serverVersion: '18',
      serverVersionNum: 180000,
    }),
    list: async () => ({ rows: [row(1)], totalMatched: 1, hidden: 0 }),
    blocking: async () => [{ ...row(2), blocksCount: 1, depth: 0 }],
    replication: async () => [walsender(3, 'standby'), walsender(4, 'guarded')],
    byPid: async (pid) => row(pid),
    ...over,
  };
}

function request(id: string, channel: string, clusterName = 'alpha'): KillRequest {
  return {
    id,
    cluster: clusterName,
    action: 'terminate',
    targets: [{ ...row(9), query: LONG }],
    reason: 'r',
    requester: 'UREQ',
    channel,
    messageTs: null,
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: 'c',
    expiresAt: 'e',
    escalateAfterSeconds: null,
    scope: null,
    result: null,
  };
}

function service(over: Partial<ReadDeps> = {}, settings: Partial<ReadDeps['settings']> = {}) {
  const troubles: string[] = [];
  const deps: ReadDeps = {
    clusters: () => [cluster('alpha'), cluster('beta')],
    pending: async () => [request('1', 'GPRIVATE'), request('2', 'CINC'), request('3', 'CINC', 'beta')],
    groups: { members: async (group) => (group === 'SVIEW' ? ['UGROUP'] : []) },
    settings: {
      readOnly: false,
      queryText: 'truncated',
      protectedRoles: [],
      protectedApps: ['guarded'],
      viewers: (name) => (name === 'beta' ? ['UBETA'] : ['UVIEW', 'SVIEW']),
      ...settings,
    },
    classify: (error) => ((error as { code?: string }).code === 'ECONNREFUSED' ? 'unreachable' : null),
    onTrouble: (name, error) => troubles.push(`${name}: ${(error as Error).message}`),
    ...over,
  };
  return { reads: createReadService(deps), troubles };
}

const at = (user: string, channel = 'CINC') => ({ user, channel });

test('viewers by id or group look; others are refused on every read, per cluster', async () => {
  const { reads } = service();
  for (const user of ['UVIEW', 'UGROUP']) {
    const listed = await reads.answer({ kind: 'top', cluster: 'alpha', filters: { limit: 20 } }, at(user));
    assert.ok(listed.ok && listed.answer.kind === 'top' && listed.answer.rows.length === 1, user);
  }
  for (const kind of ['blocking', 'replication', 'status', 'pending'] as const) {
    const refused = await reads.answer({ kind, cluster: 'alpha' }, at('USTRANGER'));
    assert.deepEqual(refused, { ok: false, code: 'not_viewer', cluster: 'alpha' }, kind);
  }
  assert.deepEqual(await reads.answer({ kind: 'status' }, at('USTRANGER')), { ok: false, code: 'not_viewer' });
  assert.deepEqual(await reads.answer({ kind: 'pending' }, at('USTRANGER')), { ok: false, code: 'not_viewer' });
  assert.deepEqual(await reads.answer({ kind: 'top', cluster: 'beta', filters: { limit: 20 } }, at('UVIEW')), {
    ok: false,
    code: 'not_viewer',
    cluster: 'beta',
  });
  const help = await reads.answer({ kind: 'help' }, at('UBETA'));
  assert.ok(help.ok && help.answer.kind === 'help');
  assert.deepEqual(
    help.answer.clusters.map((c) => c.name),
    ['beta'],
    'help names only the clusters one may look at',
  );
  assert.deepEqual(await reads.session('alpha', 7, at('USTRANGER')), {
    ok: false,
    code: 'not_viewer',
    cluster: 'alpha',
  });
});

test('pending shows the requests made in this conversation, on clusters one may look at; the rest are only counted', async () => {
  const { reads } = service();
  const here = await reads.answer({ kind: 'pending' }, at('UVIEW', 'CINC'));
  assert.ok(here.ok && here.answer.kind === 'pending');
  assert.deepEqual(
    here.answer.requests.map((r) => r.id),
    ['2'],
    'beta is not UVIEW’s; the private one is elsewhere',
  );
  assert.equal(here.answer.elsewhere, 1);
  const inside = await reads.answer({ kind: 'pending' }, at('UVIEW', 'GPRIVATE'));
  assert.ok(inside.ok && inside.answer.kind === 'pending');
  assert.deepEqual(
    inside.answer.requests.map((r) => r.id),
    ['1'],
  );
});

test('query text is shaped by PGSESSIONS_QUERY_TEXT in listings, the tree, one session and pending', async () => {
  for (const [mode, check] of [
    ['full', (q: string | null) => q === LONG],
    ['truncated', (q: string | null) => q !== null && !q.includes('TAIL') && q.endsWith('…')],
    ['none', (q: string | null) => q === null],
  ] as const) {
    const { reads } = service({}, { queryText: mode });
    const top = await reads.answer({ kind: 'top', cluster: 'alpha', filters: { limit: 20 } }, at('UVIEW'));
    const tree = await reads.answer({ kind: 'blocking', cluster: 'alpha' }, at('UVIEW'));
    const one = await reads.session('alpha', 5, at('UVIEW'));
    const pending = await reads.answer({ kind: 'pending' }, at('UVIEW'));
    assert.ok(
      top.ok &&
        top.answer.kind === 'top' &&
        tree.ok &&
        tree.answer.kind === 'blocking' &&
        one.ok &&
        pending.ok &&
        pending.answer.kind === 'pending',
    );
    for (const q of [
      top.answer.rows[0]!.query,
      tree.answer.rows[0]!.query,
      one.row!.query,
      pending.answer.requests[0]!.targets[0]!.query,
    ]) {
      assert.ok(check(q), `${mode}: ${String(q).slice(0, 40)}`);
    }
  }
});

test('walsenders of protected applications, and everything when read-only, get no button', async () => {
  const replication = async (readOnly: boolean) => {
    const result = await service({}, { readOnly }).reads.answer({ kind: 'replication', cluster: 'alpha' }, at('UVIEW'));
    assert.ok(result.ok && result.answer.kind === 'replication');
    const { rows, killable } = result.answer;
    return rows.map((r) => [r.application, killable(r)]);
  };
  assert.deepEqual(await replication(false), [
    ['standby', true],
    ['guarded', false],
  ]);
  assert.deepEqual(await replication(true), [
    ['standby', false],
    ['guarded', false],
  ]);
});

test('a cluster that is down is a value without its address; the address goes to the log hook; a bug is thrown', async () => {
  const down = Object.assign(new Error('connect ECONNREFUSED 10.0.3.7:5432'), { code: 'ECONNREFUSED' });
  const { reads, troubles } = service({
    clusters: () => [cluster('alpha', { list: async () => Promise.reject(down) })],
  });
  const result = await reads.answer({ kind: 'top', filters: { limit: 20 } }, at('UVIEW'));
  assert.deepEqual(result, { ok: false, code: 'unreachable', cluster: 'alpha' });
  assert.deepEqual(troubles, ['alpha: connect ECONNREFUSED 10.0.3.7:5432']);
  const bug = service({
    clusters: () => [cluster('alpha', { blocking: async () => Promise.reject(new TypeError('oops')) })],
  });
  await assert.rejects(bug.reads.answer({ kind: 'blocking' }, at('UVIEW')), TypeError);
});
