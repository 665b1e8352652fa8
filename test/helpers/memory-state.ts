// The state port in memory, with a clock the test moves: the unit tests of the request service run on it
// (test/domain/requests.test.ts). It keeps the same rules as the PostgreSQL store, and
// test/domain/state-contract.test.ts holds it to them: one set of cases (state-contract.ts) runs against both.
import type { AuditEntry, AuditEntryInput } from '../../src/domain/audit.js';
import type { StatePort } from '../../src/domain/state-ports.js';
import type { KillRequest } from '../../src/domain/types.js';

type Row = KillRequest & { executingAt: number | null };

export function createMemoryState() {
  let now = Date.parse('2025-06-01T12:00:00Z');
  let ids = 0;
  const requests = new Map<string, Row>();
  const audit: AuditEntryInput[] = [];
  const iso = (ms: number) => new Date(ms).toISOString();
  const plain = (r: Row): KillRequest => {
    const { executingAt: _executingAt, ...rest } = r;
    return structuredClone(rest);
  };
  const summary = (r: KillRequest) => ({
    action: r.action,
    reason: r.reason,
    requester: r.requester,
    targets: r.targets.map(({ pid, user, database, application, backendType, backendStart, queryStart }) => ({
      pid,
      user,
      database,
      application,
      backendType,
      backendStart,
      queryStart,
    })),
  });
  const pendingCheck = (r: Row | undefined) => {
    if (!r) return { ok: false as const, code: 'not_found' as const };
    if (r.status === 'expired' || (r.status === 'pending' && Date.parse(r.expiresAt) <= now))
      return { ok: false as const, code: 'expired' as const, request: plain(r) };
    if (r.status !== 'pending') return { ok: false as const, code: 'already_decided' as const, request: plain(r) };
    return null;
  };
  const port: StatePort = {
    async createRequest(input) {
      const { ttlSeconds, ...rest } = input;
      const id = `00000000-0000-4000-8000-${String(++ids).padStart(12, '0')}`;
      const r = {
        ...rest,
        id,
        status: 'pending' as const,
        decidedBy: null,
        decidedAt: null,
        createdAt: iso(now),
        expiresAt: iso(now + ttlSeconds * 1000),
        messageTs: null,
        result: null,
        executingAt: null,
      };
      requests.set(id, r);
      audit.push({
        requestId: id,
        event: 'requested',
        actor: r.requester,
        cluster: r.cluster,
        details: {
          ...summary(r),
          channel: r.channel,
          expiresAt: r.expiresAt,
          escalateAfterSeconds: r.escalateAfterSeconds,
          scope: r.scope,
          targets: r.targets,
        },
      });
      return plain(r);
    },
    async setMessageTs(id, ts) {
      const r = requests.get(id);
      if (r) r.messageTs = ts;
      return r !== undefined;
    },
    async get(id) {
      const r = requests.get(id);
      return r ? plain(r) : null;
    },
    async listPending(cluster) {
      // Oldest first: the map keeps the order of creation.
      return [...requests.values()]
        .filter((r) => r.status === 'pending' && Date.parse(r.expiresAt) > now)
        .filter((r) => cluster === undefined || r.cluster === cluster)
        .map(plain);
    },
    async approve(id, approver) {
      const r = requests.get(id);
      const no = pendingCheck(r);
      if (no) return no;
      if (r!.requester === approver) return { ok: false, code: 'self_approval', request: plain(r!) };
      Object.assign(r!, { status: 'approved', decidedBy: approver, decidedAt: iso(now) });
      audit.push({
        requestId: id,
        event: 'approved',
        actor: approver,
        cluster: r!.cluster,
        details: { ...summary(r!), approver },
      });
      return { ok: true, request: plain(r!) };
    },
    async deny(id, actor) {
      const r = requests.get(id);
      const no = pendingCheck(r);
      if (no) return no;
      Object.assign(r!, { status: 'denied', decidedBy: actor, decidedAt: iso(now) });
      audit.push({
        requestId: id,
        event: 'denied',
        actor,
        cluster: r!.cluster,
        details: { ...summary(r!), deniedBy: actor },
      });
      return { ok: true, request: plain(r!) };
    },
    async withdraw(id, actor) {
      const r = requests.get(id);
      const no = pendingCheck(r);
      if (no) return no;
      if (r!.requester !== actor) return { ok: false, code: 'not_requester', request: plain(r!) };
      Object.assign(r!, { status: 'withdrawn', decidedBy: actor, decidedAt: iso(now) });
      audit.push({
        requestId: id,
        event: 'withdrawn',
        actor,
        cluster: r!.cluster,
        details: { ...summary(r!), withdrawnBy: actor },
      });
      return { ok: true, request: plain(r!) };
    },
    async markExecuting(id) {
      const r = requests.get(id);
      if (!r) return { ok: false, code: 'not_found' };
      if (r.status !== 'approved') return { ok: false, code: 'not_approved', request: plain(r) };
      if (r.executingAt !== null) return { ok: false, code: 'already_executing', request: plain(r) };
      r.executingAt = now;
      audit.push({
        requestId: id,
        event: 'executing',
        cluster: r.cluster,
        details: { ...summary(r), approver: r.decidedBy },
      });
      return { ok: true, request: plain(r) };
    },
    async finish(id, status, result) {
      const r = requests.get(id);
      if (!r) return { ok: false, code: 'not_found' };
      if (r.status !== 'approved') return { ok: false, code: 'not_approved', request: plain(r) };
      Object.assign(r, { status, result });
      audit.push({
        requestId: id,
        event: status,
        cluster: r.cluster,
        details: { ...summary(r), approver: r.decidedBy, result },
      });
      return { ok: true, request: plain(r) };
    },
    async expireDue() {
      const due = [...requests.values()].filter((r) => r.status === 'pending' && Date.parse(r.expiresAt) <= now);
      for (const r of due) {
        r.status = 'expired';
        audit.push({
          requestId: r.id,
          event: 'expired',
          cluster: r.cluster,
          details: { ...summary(r), expiresAt: r.expiresAt },
        });
      }
      return due.map(plain);
    },
    async findInterrupted(olderThanSeconds) {
      // As the store: long after the start of execution (or the approval), plus any escalation wait.
      const since = (r: Row) => r.executingAt ?? Date.parse(r.decidedAt!);
      const wait = (r: Row) => ((r.escalateAfterSeconds ?? 0) + olderThanSeconds) * 1000;
      return [...requests.values()]
        .filter((r) => r.status === 'approved' && r.result === null && since(r) + wait(r) < now)
        .map(plain);
    },
    async countByStatus() {
      const counts: Record<string, number> = {};
      for (const r of requests.values()) counts[r.status] = (counts[r.status] ?? 0) + 1;
      return counts;
    },
    async appendAudit(entry) {
      audit.push(entry);
      return {
        ...entry,
        seq: audit.length,
        at: iso(now),
        requestId: entry.requestId ?? null,
        actor: entry.actor ?? null,
        cluster: entry.cluster ?? null,
        prevHash: '',
        hash: '',
        hashAlg: 'sha256',
      } as AuditEntry;
    },
  };
  return {
    port,
    audit,
    events: (id: string) => audit.filter((e) => e.requestId === id).map((e) => e.event),
    advance(seconds: number) {
      now += seconds * 1000;
    },
    /** An approval an hour ago that never reached its outcome (a crash between approval and signal). */
    approveWithoutOutcome(id: string, approver: string) {
      const anHourAgo = now - 3_600_000;
      Object.assign(requests.get(id)!, {
        status: 'approved',
        decidedBy: approver,
        decidedAt: iso(anHourAgo),
        executingAt: anHourAgo,
      });
    },
  };
}
