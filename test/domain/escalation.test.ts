// Escalation's orchestration on its own (src/domain/escalation.ts), with an in-memory store whose claims
// behave like the table's unique row, and a recording stand-in for the approver notices (DMS) port. The same
// steps run end to end against PostgreSQL and the Slack stand-in in test/flows/escalation.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApproverNoticesPort, NoticeSubject } from '../../src/domain/approver-notices.js';
import {
  type ClaimResult,
  dueEscalations,
  type EscalationDeps,
  type EscalationStep,
  escalateDue,
  escalatedEntry,
  type Waiting,
} from '../../src/domain/escalation.js';
import type { AuditEntryInput } from '../../src/domain/audit.js';
import { type ApprovalRouting, DEFAULT_ROUTING } from '../../src/domain/routing.js';
import type { KillRequest } from '../../src/domain/types.js';

const ESCALATING: ApprovalRouting = { ...DEFAULT_ROUTING, escalate: { afterSeconds: 10, to: ['S0ONCALL', 'UBOSS'] } };
const routing = (cluster: string) => (cluster === 'quiet' ? DEFAULT_ROUTING : ESCALATING);

function request(id: string, overrides: Partial<KillRequest> = {}): KillRequest {
  return {
    id,
    cluster: 'main',
    action: 'terminate',
    targets: [],
    reason: 'stuck',
    requester: 'UREQ',
    channel: 'CINC',
    messageTs: '1.1',
    status: 'pending',
    decidedBy: null,
    decidedAt: null,
    createdAt: 'c',
    expiresAt: 'e',
    escalateAfterSeconds: null,
    scope: null,
    result: null,
    ...overrides,
  };
}

/** A store over a list of waiting rows; claims are unique per (id, tier) across every caller of `claim`. */
function memoryStore(rows: Waiting[], opts: { unsealed?: string[]; decided?: string[] } = {}) {
  const claims = new Map<string, string>();
  const audit: AuditEntryInput[] = [];
  return {
    claims,
    audit,
    store: {
      async waiting(tier: number) {
        return rows.filter((w) => !claims.has(`${w.id}|${tier}`));
      },
      async claim(due, replica, entry): Promise<ClaimResult> {
        const id = due.waiting.id;
        if (opts.decided?.includes(id)) return { skipped: 'decided' };
        if (opts.unsealed?.includes(id)) return { skipped: 'unsealed' };
        if (claims.has(`${id}|${due.tier}`)) return { skipped: 'taken' };
        claims.set(`${id}|${due.tier}`, replica);
        const subject: NoticeSubject = { kind: 'request', request: request(id, { cluster: due.waiting.cluster }) };
        audit.push(entry(subject));
        return { claimed: subject };
      },
    } satisfies EscalationDeps['store'],
  };
}

function recordingNotices(): ApproverNoticesPort & { told: Array<{ id: string; principals: string[]; tier: number }> } {
  const told: Array<{ id: string; principals: string[]; tier: number }> = [];
  return {
    told,
    async tell(subject, principals, tier) {
      told.push({ id: subject.kind === 'request' ? subject.request.id : subject.rule.id, principals, tier });
      return ['UONE', 'UTWO'];
    },
    async refresh() {},
    async say() {
      return [];
    },
  };
}

function recordingMessages() {
  const steps: Array<{ id: string; step: EscalationStep }> = [];
  return {
    steps,
    async escalated(subject: NoticeSubject, step: EscalationStep) {
      steps.push({ id: subject.kind === 'request' ? subject.request.id : subject.rule.id, step });
    },
  };
}

const waiting = (id: string, ageSeconds: number, cluster = 'main'): Waiting => ({
  kind: 'request',
  id,
  cluster,
  ageSeconds,
});

describe('dueEscalations', () => {
  test('due once the age reaches afterSeconds; the next one is timed; clusters without escalation never', () => {
    const { due, nextInSeconds } = dueEscalations(
      [waiting('a', 10), waiting('b', 4), waiting('c', 7.5), waiting('d', 500, 'quiet')],
      routing,
    );
    assert.deepEqual(
      due.map((d) => d.waiting.id),
      ['a'],
    );
    assert.equal(nextInSeconds, 2.5, 'c falls due next, in 2.5 s');
  });

  test('nothing waiting: no next deadline', () => {
    assert.deepEqual(dueEscalations([], routing), { due: [], nextInSeconds: null });
  });
});

describe('escalateDue', () => {
  test('a due request: claimed, the tier told with tier 1, the thread told who was reached, audited once', async () => {
    const mem = memoryStore([waiting('r1', 12), waiting('r2', 3)]);
    const notices = recordingNotices();
    const messages = recordingMessages();
    const result = await escalateDue({ store: mem.store, notices, messages, routing, replica: 'A' });
    assert.deepEqual(notices.told, [{ id: 'r1', principals: ['S0ONCALL', 'UBOSS'], tier: 1 }]);
    assert.deepEqual(messages.steps, [
      { id: 'r1', step: { tier: 1, afterSeconds: 10, to: ['S0ONCALL', 'UBOSS'], told: ['UONE', 'UTWO'] } },
    ]);
    assert.equal(mem.audit.length, 1);
    assert.equal(mem.audit[0]!.event, 'escalated');
    assert.equal(result.nextInSeconds, 7);
  });

  test('two replicas sweeping the same rows: each step happens once', async () => {
    const mem = memoryStore([waiting('r1', 12), waiting('r2', 30)]);
    const notices = recordingNotices();
    const messages = recordingMessages();
    const deps = (replica: string) => ({ store: mem.store, notices, messages, routing, replica });
    await Promise.all([escalateDue(deps('A')), escalateDue(deps('B')), escalateDue(deps('A'))]);
    assert.deepEqual(notices.told.map((t) => t.id).sort(), ['r1', 'r2']);
    assert.equal(messages.steps.length, 2);
    assert.equal(mem.audit.length, 2);
  });

  test('decided or unsealed subjects: nobody messaged, nothing audited; the unsealed one reported', async () => {
    const mem = memoryStore([waiting('done', 60), waiting('forged', 60)], { decided: ['done'], unsealed: ['forged'] });
    const notices = recordingNotices();
    const messages = recordingMessages();
    const reported: unknown[] = [];
    await escalateDue({
      store: mem.store,
      notices,
      messages,
      routing,
      replica: 'A',
      onTrouble: (_what, context) => reported.push(context),
    });
    assert.deepEqual(notices.told, []);
    assert.deepEqual(messages.steps, []);
    assert.deepEqual(mem.audit, []);
    assert.deepEqual(reported, [{ subject: 'request', id: 'forged' }]);
  });

  test('Slack failing the direct messages still leaves the thread reply, and the claim is not repeated', async () => {
    const mem = memoryStore([waiting('r1', 12)]);
    const messages = recordingMessages();
    const failing: ApproverNoticesPort = {
      ...recordingNotices(),
      tell: async () => {
        throw new Error('ratelimited');
      },
    };
    const troubles: string[] = [];
    const deps = {
      store: mem.store,
      notices: failing,
      messages,
      routing,
      replica: 'A',
      onTrouble: (what: string) => troubles.push(what),
    };
    await escalateDue(deps);
    await escalateDue(deps);
    assert.equal(messages.steps.length, 1);
    assert.deepEqual(messages.steps[0]!.step.told, []);
    assert.equal(mem.audit.length, 1);
    assert.match(troubles.join(' '), /direct messages failed/);
  });
});

test('the escalated entry names the subject, the requester, the tier and the configured tier list', () => {
  const entry = escalatedEntry(
    { kind: 'request', request: request('r9', { targets: [{ pid: 42 } as KillRequest['targets'][number]] }) },
    1,
    { afterSeconds: 300, to: ['S0DBA'] },
  );
  assert.equal(entry.event, 'escalated');
  assert.equal(entry.requestId, 'r9');
  assert.deepEqual(entry.details, {
    subject: 'request',
    id: 'r9',
    requester: 'UREQ',
    what: 'terminate of pid 42 on main',
    tier: 1,
    to: ['S0DBA'],
    afterSeconds: 300,
  });
});
