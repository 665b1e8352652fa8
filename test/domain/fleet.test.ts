// The fleet view with in-memory fakes of its ports (as test/domain/reads.test.ts does): the order of one
// cluster's listing across clusters, the worst `limit` of all, viewers per cluster, a cluster that never
// answers named as not answering, a failure told by its kind; and its rendering within Slack's limits with
// 200 clusters, most of them silent.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createFleetView, type FleetDeps } from '../../src/domain/fleet.js';
import type { ReadClusterPort } from '../../src/domain/ports.js';
import type { SessionRow } from '../../src/domain/types.js';
import { buildFleetListing } from '../../src/slack/blocks/fleet.js';
import { checkMessageBlocks, checkMessageText } from '../../src/slack/blocks/limits-check.js';

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
    query: 'SELECT 1',
    ...over,
  };
}

function cluster(name: string, list: () => Promise<SessionRow[]>): ReadClusterPort {
  return {
    name,
    capabilities: () => Promise.reject(new Error('unused')),
    list: async (filters) => {
      const rows = (await list()).slice(0, filters.limit);
      return { rows, totalMatched: rows.length, hidden: 0 };
    },
    blocking: async () => [],
    replication: async () => [],
    byPid: async () => null,
  };
}

const never = () => new Promise<SessionRow[]>(() => undefined);

function deps(clusters: ReadClusterPort[], viewers: Record<string, string[]> = {}): FleetDeps {
  return {
    clusters: () => clusters,
    settings: {
      readOnly: false,
      queryText: 'full',
      protectedRoles: [],
      protectedApps: ['guarded'],
      viewers: (name) => viewers[name] ?? null,
    },
    groups: { members: async () => [] },
    classify: (error) => ((error as Error).message === 'down' ? 'unreachable' : null),
    timeoutMs: 50,
  };
}

test('rows across clusters sort as one listing does (blocking first, then longest) and keep the worst limit', async () => {
  const view = createFleetView(
    deps([
      cluster('a', async () => [row(1, { ageSeconds: 100 }), row(2, { ageSeconds: 5, blocking: 1 })]),
      cluster('b', async () => [row(3, { ageSeconds: 500 }), row(4, { ageSeconds: 5, blocking: 3 })]),
    ]),
  );
  const result = await view.list('U1', { limit: 3 });
  assert.ok(result.ok);
  assert.deepEqual(
    result.value.rows.map((r) => `${r.cluster}:${r.pid}`),
    ['b:4', 'a:2', 'b:3'],
  );
  assert.equal(result.value.totalMatched, 4);
});

test('a cluster that never answers is named as timed out, one that fails by its kind, the others still listed', async () => {
  const view = createFleetView(
    deps([
      cluster('ok', async () => [row(1)]),
      cluster('silent', never),
      cluster('down', () => Promise.reject(new Error('down'))),
    ]),
  );
  const result = await view.list('U1', { limit: 20 });
  assert.ok(result.ok);
  assert.deepEqual(result.value.answered, ['ok']);
  assert.deepEqual(result.value.missing, [
    { cluster: 'silent', why: 'timeout' },
    { cluster: 'down', why: 'unreachable' },
  ]);
  const shown = JSON.stringify(buildFleetListing(result.value, { queryHidden: false }));
  assert.match(shown, /not answered in [\d.]+ s: `silent`/);
  assert.match(shown, /cannot be reached: `down`/);
});

test('a bug in one cluster call is thrown, not passed off as a silent cluster', async () => {
  const view = createFleetView(deps([cluster('bug', () => Promise.reject(new Error('a bug')))]));
  await assert.rejects(view.list('U1', { limit: 20 }), /a bug/);
});

test('viewers apply per cluster: a cluster the person may not view is neither read nor named', async () => {
  let readSecret = false;
  const view = createFleetView(
    deps(
      [
        cluster('mine', async () => [row(1)]),
        cluster('secret', async () => {
          readSecret = true;
          return [row(2)];
        }),
      ],
      { secret: ['UOTHER'] },
    ),
  );
  const result = await view.list('U1', { limit: 20 });
  assert.ok(result.ok);
  assert.equal(readSecret, false);
  assert.ok(!JSON.stringify(buildFleetListing(result.value, { queryHidden: false })).includes('secret'));
  const none = await createFleetView(deps([cluster('secret', async () => [])], { secret: ['UOTHER'] })).list('U1', {
    limit: 20,
  });
  assert.equal(none.ok, false);
  assert.equal(!none.ok && none.refusal.code, 'not_viewer');
  assert.doesNotMatch(JSON.stringify(none), /secret/, 'the refusal does not name the cluster');
});

test('200 clusters, 199 of them silent, 200 rows with long queries: within Slack limits, and it says how many more', async () => {
  const long = 'SELECT '.padEnd(5_000, 'x');
  const clusters = [
    cluster('answers', async () =>
      Array.from({ length: 200 }, (_, i) => row(i + 1, { query: long, application: 'a'.repeat(63) })),
    ),
    ...Array.from({ length: 199 }, (_, i) => cluster(`silent-${'n'.repeat(40)}-${i}`, never)),
  ];
  const result = await createFleetView(deps(clusters)).list('U1', { limit: 200 });
  assert.ok(result.ok);
  const message = buildFleetListing(result.value, { queryHidden: false });
  assert.deepEqual(checkMessageBlocks(message.blocks), []);
  assert.deepEqual(checkMessageText(message.text), []);
  assert.ok(message.blocks.length <= 48, 'room left for the Share button');
  const shown = JSON.stringify(message);
  assert.match(shown, /and \d+ more/);
  assert.match(shown, /\d+ more not shown/);
  assert.ok(shown.length < 40_000, `${shown.length} characters`);
});

test('a cluster silent since an earlier answer is named first, before 200 clusters late for the first time', async () => {
  let slowNow = false;
  const names = Array.from({ length: 200 }, (_, i) => `c${String(i).padStart(3, '0')}`);
  // The stalled cluster comes last in configuration order, where "and N more" would hide it.
  const view = createFleetView(
    deps([
      ...names.map((name) => cluster(name, () => (slowNow ? never() : Promise.resolve([row(1)])))),
      cluster('stalled', never),
    ]),
  );
  const first = await view.list('U1', { limit: 20 });
  assert.ok(first.ok);
  assert.deepEqual(first.value.missing, [{ cluster: 'stalled', why: 'timeout' }]);
  slowNow = true;
  const second = await view.list('U1', { limit: 20 });
  assert.ok(second.ok);
  assert.equal(second.value.missing.length, 201);
  assert.equal(second.value.missing[0]!.cluster, 'stalled', 'silent the longest: named first');
  assert.deepEqual(
    second.value.missing.slice(1).map((m) => m.cluster),
    names,
    'the others in configuration order',
  );
  const shown = buildFleetListing(second.value, { queryHidden: false });
  assert.match(JSON.stringify(shown.blocks), /not answered in [\d.]+ s: `stalled`, `c000`.* and \d+ more/);
});

test('the rights check and the reads share one deadline: a slow user-group read leaves less time to the clusters', async () => {
  // The viewers name a user group, read from Slack for 100 ms; the cluster answers 120 ms after it is asked:
  // within its own 150 ms had its wait started after the group read, but past the answer's deadline.
  const view = createFleetView({
    ...deps([cluster('a', () => new Promise((resolve) => setTimeout(() => resolve([row(1)]), 120)))], {
      a: ['SVIEWERS'],
    }),
    groups: { members: () => new Promise((resolve) => setTimeout(() => resolve(['U1']), 100)) },
    timeoutMs: 150,
  });
  const result = await view.list('U1', { limit: 20 });
  assert.ok(result.ok);
  assert.deepEqual(result.value.missing, [{ cluster: 'a', why: 'timeout' }]);
});
