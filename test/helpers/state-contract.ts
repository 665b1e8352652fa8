// What every implementation of the state port (src/domain/state-ports.ts) must do, as one set of cases:
// test/domain/state-contract.test.ts runs them against the in-memory fake the unit tests use and against the
// PostgreSQL store, so the fake cannot drift from the store it stands in for.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { CreateRequestInput, StatePort } from '../../src/domain/state-ports.js';
import type { ExecutionResult, TargetSnapshot } from '../../src/domain/types.js';

export interface StateUnderTest {
  store: StatePort;
  /** Moves the store's clock this many seconds on (the real store: every row's times moved back as much). */
  advance(seconds: number): Promise<void>;
  /** The audit events written about one request, oldest first. */
  events(id: string): Promise<string[]>;
}

/** A well-formed id that names no request. */
const NO_SUCH_ID = '00000000-0000-4000-8000-999999999999';

const target = (pid: number): TargetSnapshot => ({
  pid,
  backendStart: '2025-01-02T03:04:05.123456Z',
  queryStart: '2025-01-02T03:05:00.654321Z',
  xactStart: '2025-01-02T03:05:00.654321Z',
  backendType: 'client backend',
  user: 'app',
  database: 'shop',
  application: 'api',
  client: '10.0.0.7',
  state: 'active',
  query: 'SELECT pg_sleep(600)',
});

let clusters = 0;
/** A cluster name no other case uses, so that cases sharing one real store cannot see each other's requests. */
const freshCluster = () => `contract-${++clusters}-${Date.now().toString(36)}`;

const ask = (overrides: Partial<CreateRequestInput> = {}): CreateRequestInput => ({
  cluster: freshCluster(),
  action: 'terminate',
  targets: [target(4242)],
  reason: 'holding locks on orders',
  requester: 'UREQ',
  channel: 'CINCIDENT',
  escalateAfterSeconds: null,
  scope: null,
  ttlSeconds: 600,
  ...overrides,
});

const result = (outcome: 'terminated' | 'gone'): ExecutionResult => ({
  outcomes: [{ pid: 4242, outcome }],
  message: `the session was ${outcome}`,
});

/** Registers the contract's cases under `name`; `make` gives each case a store (a fresh one, or one shared). */
export function stateContract(name: string, make: () => Promise<StateUnderTest>): void {
  describe(`the state contract: ${name}`, () => {
    test('a new request is pending until its ttl, reads back as it was made, and is audited as requested', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask({ ttlSeconds: 600 }));
      assert.equal(made.status, 'pending');
      assert.equal(Date.parse(made.expiresAt) - Date.parse(made.createdAt), 600_000);
      assert.deepEqual(made.targets, [target(4242)]);
      assert.equal(made.decidedBy, null);
      assert.equal(made.messageTs, null);
      assert.equal(made.result, null);
      assert.deepEqual(await store.get(made.id), made);
      assert.deepEqual(await events(made.id), ['requested']);
    });

    test('an id that names no request: get is null, every decision says not_found, nothing is audited', async () => {
      const { store, events } = await make();
      assert.equal(await store.get(NO_SUCH_ID), null);
      assert.equal(await store.setMessageTs(NO_SUCH_ID, '1.2'), false);
      for (const decided of [
        await store.approve(NO_SUCH_ID, 'UAPP'),
        await store.deny(NO_SUCH_ID, 'UAPP'),
        await store.withdraw(NO_SUCH_ID, 'UREQ'),
        await store.markExecuting(NO_SUCH_ID),
        await store.finish(NO_SUCH_ID, 'executed', result('terminated')),
      ]) {
        assert.deepEqual(decided, { ok: false, code: 'not_found' });
      }
      assert.deepEqual(await events(NO_SUCH_ID), []);
    });

    test('the message ts is recorded on the request', async () => {
      const { store } = await make();
      const made = await store.createRequest(ask());
      assert.equal(await store.setMessageTs(made.id, '1700000000.000100'), true);
      assert.equal((await store.get(made.id))?.messageTs, '1700000000.000100');
    });

    test('the requester cannot approve their own request: refused, still pending, nothing audited', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask({ requester: 'UREQ' }));
      const refused = await store.approve(made.id, 'UREQ');
      assert.equal(refused.ok, false);
      assert.equal(!refused.ok && refused.code, 'self_approval');
      assert.equal((await store.get(made.id))?.status, 'pending');
      assert.deepEqual(await events(made.id), ['requested']);
    });

    test('a second person approves once: the decision is recorded, and every later decision is already_decided', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask());
      const approved = await store.approve(made.id, 'UAPP');
      assert.ok(approved.ok);
      assert.equal(approved.request.status, 'approved');
      assert.equal(approved.request.decidedBy, 'UAPP');
      assert.ok(approved.request.decidedAt);
      for (const again of [
        await store.approve(made.id, 'UAPP'),
        await store.approve(made.id, 'UOTHER'),
        await store.deny(made.id, 'UOTHER'),
        await store.withdraw(made.id, 'UREQ'),
      ]) {
        assert.equal(again.ok, false);
        assert.equal(!again.ok && again.code, 'already_decided');
        assert.equal(!again.ok && again.request?.decidedBy, 'UAPP', 'the answer shows the decision that stands');
      }
      assert.deepEqual(await events(made.id), ['requested', 'approved']);
    });

    test('a denied request stays denied: it cannot be approved afterwards', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask());
      const denied = await store.deny(made.id, 'UAPP');
      assert.ok(denied.ok);
      assert.equal(denied.request.status, 'denied');
      assert.equal(denied.request.decidedBy, 'UAPP');
      const late = await store.approve(made.id, 'UOTHER');
      assert.equal(!late.ok && late.code, 'already_decided');
      assert.equal((await store.markExecuting(made.id)).ok, false);
      assert.deepEqual(await events(made.id), ['requested', 'denied']);
    });

    test('only the requester withdraws; once withdrawn, nobody approves', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask({ requester: 'UREQ' }));
      const other = await store.withdraw(made.id, 'UOTHER');
      assert.equal(!other.ok && other.code, 'not_requester');
      assert.equal((await store.get(made.id))?.status, 'pending');
      const withdrawn = await store.withdraw(made.id, 'UREQ');
      assert.ok(withdrawn.ok);
      assert.equal(withdrawn.request.status, 'withdrawn');
      const late = await store.approve(made.id, 'UAPP');
      assert.equal(!late.ok && late.code, 'already_decided');
      assert.deepEqual(await events(made.id), ['requested', 'withdrawn']);
    });

    test('at most one execution: only an approved request is marked executing, and only once', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask());
      const early = await store.markExecuting(made.id);
      assert.equal(!early.ok && early.code, 'not_approved', 'pending: nothing may be signalled yet');
      assert.ok((await store.approve(made.id, 'UAPP')).ok);
      const first = await store.markExecuting(made.id);
      assert.ok(first.ok);
      const second = await store.markExecuting(made.id);
      assert.equal(!second.ok && second.code, 'already_executing');
      assert.deepEqual(await events(made.id), ['requested', 'approved', 'executing']);
    });

    test('an outcome is recorded once, only after approval; afterwards nothing executes it again', async () => {
      const { store, events } = await make();
      const made = await store.createRequest(ask());
      const early = await store.finish(made.id, 'executed', result('terminated'));
      assert.equal(!early.ok && early.code, 'not_approved');
      assert.ok((await store.approve(made.id, 'UAPP')).ok);
      assert.ok((await store.markExecuting(made.id)).ok);
      const done = await store.finish(made.id, 'executed', result('terminated'));
      assert.ok(done.ok);
      assert.equal(done.request.status, 'executed');
      assert.deepEqual(done.request.result, result('terminated'));
      assert.deepEqual((await store.get(made.id))?.result, result('terminated'));
      const again = await store.finish(made.id, 'failed', result('gone'));
      assert.equal(!again.ok && again.code, 'not_approved');
      assert.equal((await store.get(made.id))?.status, 'executed', 'the first outcome stands');
      const rerun = await store.markExecuting(made.id);
      assert.equal(!rerun.ok && rerun.code, 'not_approved');
      assert.deepEqual(await events(made.id), ['requested', 'approved', 'executing', 'executed']);
    });

    test('past its ttl a request cannot be decided, leaves the pending list, and is expired once by the sweep', async () => {
      const { store, events, advance } = await make();
      const made = await store.createRequest(ask({ ttlSeconds: 60 }));
      const cluster = made.cluster;
      assert.deepEqual(
        (await store.listPending(cluster)).map((r) => r.id),
        [made.id],
      );
      await advance(61);
      assert.deepEqual(await store.listPending(cluster), []);
      for (const late of [
        await store.approve(made.id, 'UAPP'),
        await store.deny(made.id, 'UAPP'),
        await store.withdraw(made.id, 'UREQ'),
      ]) {
        assert.equal(!late.ok && late.code, 'expired');
      }
      const swept = (await store.expireDue()).filter((r) => r.id === made.id);
      assert.equal(swept.length, 1);
      assert.equal(swept[0]!.status, 'expired');
      assert.equal((await store.expireDue()).filter((r) => r.id === made.id).length, 0, 'expired once');
      assert.equal((await store.get(made.id))?.status, 'expired');
      const afterSweep = await store.approve(made.id, 'UAPP');
      assert.equal(!afterSweep.ok && afterSweep.code, 'expired');
      assert.deepEqual(await events(made.id), ['requested', 'expired']);
    });

    test('a request just short of its ttl can still be approved, and the sweep leaves it alone', async () => {
      const { store, advance } = await make();
      const made = await store.createRequest(ask({ ttlSeconds: 60 }));
      await advance(50);
      assert.equal((await store.expireDue()).filter((r) => r.id === made.id).length, 0);
      assert.ok((await store.approve(made.id, 'UAPP')).ok);
    });

    test('the pending list names one cluster’s pending requests, oldest first, and every cluster’s without one', async () => {
      const { store, advance } = await make();
      const cluster = freshCluster();
      const first = await store.createRequest(ask({ cluster }));
      await advance(1);
      const second = await store.createRequest(ask({ cluster }));
      const decided = await store.createRequest(ask({ cluster }));
      assert.ok((await store.deny(decided.id, 'UAPP')).ok);
      const elsewhere = await store.createRequest(ask());
      assert.deepEqual(
        (await store.listPending(cluster)).map((r) => r.id),
        [first.id, second.id],
      );
      const all = (await store.listPending()).map((r) => r.id);
      assert.ok(all.includes(elsewhere.id) && all.includes(first.id) && !all.includes(decided.id));
    });

    test('an approval with no outcome is interrupted only once older than asked (plus its escalation wait)', async () => {
      const { store, advance } = await make();
      const plain = await store.createRequest(ask());
      const escalating = await store.createRequest(ask({ action: 'cancel_then_terminate', escalateAfterSeconds: 30 }));
      const finished = await store.createRequest(ask());
      for (const r of [plain, escalating, finished]) assert.ok((await store.approve(r.id, 'UAPP')).ok);
      assert.ok((await store.finish(finished.id, 'failed', result('gone'))).ok);
      const ours = async (olderThanSeconds: number) =>
        (await store.findInterrupted(olderThanSeconds))
          .map((r) => r.id)
          .filter((id) => [plain.id, escalating.id, finished.id].includes(id));
      assert.deepEqual(await ours(60), [], 'just approved: still running, not interrupted');
      await advance(61);
      assert.deepEqual(await ours(60), [plain.id], 'the escalating one still has its 30 s to go');
      await advance(30);
      assert.deepEqual((await ours(60)).sort(), [plain.id, escalating.id].sort());
    });

    test('the count by status follows every decision', async () => {
      const { store } = await make();
      const before = await store.countByStatus();
      const a = await store.createRequest(ask());
      const b = await store.createRequest(ask());
      await store.createRequest(ask());
      assert.ok((await store.approve(a.id, 'UAPP')).ok);
      assert.ok((await store.deny(b.id, 'UAPP')).ok);
      const now = await store.countByStatus();
      const delta = (status: string) => (now[status] ?? 0) - (before[status] ?? 0);
      assert.deepEqual(
        { pending: delta('pending'), approved: delta('approved'), denied: delta('denied') },
        { pending: 1, approved: 1, denied: 1 },
      );
    });
  });
}
