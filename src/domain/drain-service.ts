// A maintenance drain (docs/drain.md), the use cases: ask (a request of action 'drain' under the two-person
// rule), execute on approval (record, close, empty), and end — by End drain now, `undrain` or the sweeper of
// any replica once the window is over — giving back exactly the recorded settings, or nothing at all.
import { randomUUID } from 'node:crypto';
import { sameBinding, type Binder } from './binding.js';
import {
  CONNECTION_LIMIT_ONLY,
  drainBinding,
  drainEndSeal,
  drainedValues,
  drainMethod,
  drainPlan,
  drainRefusal,
  drainSummary,
  endSentence,
  formatWindow,
  refusalText,
  utcTime,
  type DatabaseFacts,
  type Drain,
  type DrainEnd,
  type DrainEndOutcome,
  type DrainEndWhy,
} from './drain.js';
import { isProtected, mayApprove, mayRequest, type GroupsPort } from './policy.js';
import { snapshot } from './request-asks.js';
import { quorumFor, routingOf } from './routing.js';
import type { ClusterPort, RequestSettings } from './request-service.js';
import type { RequestStorePort } from './state-ports.js';
import type { ExecutionResult, KillRequest, SessionRow, TargetOutcome } from './types.js';
import type { DrainMessagesPort, DrainSqlPort, DrainStorePort } from './drain-ports.js';
import { createDrainRecovery } from './drain-recovery.js';

export type { DrainMessagesPort, DrainSqlPort, DrainStorePort } from './drain-ports.js';

export interface DrainDeps {
  drains: DrainStorePort;
  requests: Pick<RequestStorePort, 'createRequest' | 'setMessageTs' | 'withdraw' | 'get'>;
  cluster(name: string): (ClusterPort & { drain: DrainSqlPort }) | undefined;
  messages: DrainMessagesPort;
  groups: GroupsPort;
  binder: Binder;
  settings: RequestSettings & { drainMaxSeconds: number };
  /** The state database's cluster name and database, when it lives on a managed cluster. */
  isStateDatabase(cluster: string, database: string): boolean;
  isUnreachable(error: unknown): boolean;
  /** Who this replica is, for claims. */
  holder?: string;
}

export type DrainResult<T> = { ok: true; value: T } | { ok: false; message: string };
const no = <T>(message: string): DrainResult<T> => ({ ok: false, message });

export interface DrainAsk {
  cluster: string;
  database: string;
  windowSeconds: number;
  reason: string;
  requester: string;
  channel: string;
}

/** Ask for a drain: checked now, posted for approval with what it will do; nothing changes before approval. */
function drainRequests(deps: DrainDeps) {
  const { drains, settings } = deps;

  async function check(ask: DrainAsk): Promise<DrainResult<{ facts: DatabaseFacts; rows: SessionRow[] }>> {
    if (settings.readOnly) return no(refusalText('read_only'));
    const port = deps.cluster(ask.cluster);
    if (!port) return no('Unknown cluster.');
    if (!(await mayRequest(ask.requester, settings.rules(ask.cluster), deps.groups)))
      return no('You are not allowed to request a drain on this cluster.');
    if (ask.reason.trim() === '') return no(refusalText('reason_required'));
    if (ask.windowSeconds > settings.drainMaxSeconds)
      return no(`${refusalText('too_long')} (${formatWindow(settings.drainMaxSeconds)}). Nothing was done.`);
    try {
      const facts = await port.drain.facts(ask.database);
      // A drained database also refuses connections: say it is drained, not that it is closed.
      if (facts && (await drains.liveFor(ask.cluster, ask.database))) return no(refusalText('already_drained'));
      const refused = drainRefusal(facts, deps.isStateDatabase(ask.cluster, ask.database));
      if (refused) return no(refusalText(refused));
      const rows = await port.bulkTargets({ database: ask.database });
      return { ok: true, value: { facts: facts!, rows } };
    } catch (error) {
      if (deps.isUnreachable(error)) return no('The cluster cannot be reached right now. Nothing was done.');
      throw error;
    }
  }

  return async function request(ask: DrainAsk): Promise<DrainResult<KillRequest>> {
    const checked = await check(ask);
    if (!checked.ok) return checked;
    const { facts, rows } = checked.value;
    const plan = drainPlan({
      database: ask.database,
      sessions: rows,
      windowSeconds: ask.windowSeconds,
      method: drainMethod(facts),
    });
    const created = await deps.requests.createRequest({
      cluster: ask.cluster,
      action: 'drain',
      targets: rows.slice(0, settings.bulkCap).map((row) => snapshot(row, settings.queryText)),
      reason: ask.reason.trim(),
      requester: ask.requester,
      channel: ask.channel,
      // The window, in seconds: this column is covered by the request's binding.
      escalateAfterSeconds: ask.windowSeconds,
      scope: { database: ask.database },
      ttlSeconds: settings.ttlSeconds,
      // A drain ends sessions: it needs the terminate quorum, approved through the same code as any request.
      quorum: quorumFor(routingOf(settings, ask.cluster), 'drain'),
    });
    const shown = { ...created, result: { outcomes: [], message: plan.join('\n') } };
    try {
      const ts = await deps.messages.post(shown);
      await deps.requests.setMessageTs(created.id, ts);
      return { ok: true, value: { ...created, messageTs: ts } };
    } catch {
      await deps.requests.withdraw(created.id, created.requester);
      return no(
        'The approval request could not be posted in this channel (in a private channel, invite the app first). Nothing was requested.',
      );
    }
  };
}

/** Every session of the database now (not a frozen list: emptying it is the point), each identity-checked. */
async function emptyDatabase(
  port: ClusterPort,
  database: string,
  settings: DrainDeps['settings'],
): Promise<TargetOutcome[]> {
  const outcomes: TargetOutcome[] = [];
  for (let round = 0; round < 3; round++) {
    const rows = (await port.bulkTargets({ database })).filter((r) => !isProtected(r, settings) && !r.signalBlocker);
    if (rows.length === 0) break;
    for (const row of rows) {
      outcomes.push(
        await port.signal(
          'terminate',
          { pid: row.pid, backendStart: row.backendStart, queryStart: null, backendType: 'client backend' },
          {
            protectedRoles: settings.protectedRoles,
            protectedApps: settings.protectedApps,
            terminateTimeoutMs: settings.terminateTimeoutMs,
          },
        ),
      );
    }
  }
  return outcomes.sort((a, b) => a.pid - b.pid);
}

type End = (id: string, why: DrainEndWhy, by: string | null) => Promise<string | null>;

/** On approval (the request's binding already checked): record, close, then end every session of it. */
function drainExecutor(deps: DrainDeps, end: End) {
  const { drains, settings } = deps;

  /** On approval (the request's binding already checked): record, close, then end every session of it. */
  async function execute(request: KillRequest): Promise<{ status: 'executed' | 'failed'; result: ExecutionResult }> {
    const failed = (message: string) => ({ status: 'failed' as const, result: { outcomes: [], message } });
    const database = request.scope?.database;
    const windowSeconds = request.escalateAfterSeconds;
    const port = deps.cluster(request.cluster);
    if (!port || !database || windowSeconds === null || windowSeconds <= 0 || request.decidedBy === null)
      return failed('the drain request is incomplete or its cluster is no longer configured: nothing was done');
    if (windowSeconds > settings.drainMaxSeconds) return failed(refusalText('too_long'));
    const facts = await port.drain.facts(database);
    const refused = drainRefusal(facts, deps.isStateDatabase(request.cluster, database));
    if (refused) return failed(refusalText(refused));
    const method = drainMethod(facts!);
    const drain = await drains.record(
      {
        requestId: request.id,
        cluster: request.cluster,
        database,
        method,
        prevAllowConnections: facts!.allowConnections,
        prevConnectionLimit: facts!.connectionLimit,
        requester: request.requester,
        approver: request.decidedBy,
        channel: request.channel,
        windowSeconds,
      },
      (d) => drainBinding(deps.binder, d),
    );
    if (!drain) return failed(refusalText('already_drained'));
    try {
      await port.drain.close(database, method);
    } catch (error) {
      // Nothing was closed: the recorded drain ends now, restoring nothing (the values are the previous ones).
      await end(drain.id, 'ended', null);
      return failed(`the database could not be closed (${(error as Error).message}): nothing was changed`);
    }
    const outcomes = await emptyDatabase(port, database, settings);
    const ended = outcomes.filter((o) => o.outcome === 'terminated' || o.outcome === 'gone').length;
    const left = (await port.bulkTargets({ database }).catch(() => [])).length;
    await drains.appendAudit({
      requestId: request.id,
      event: 'drained',
      actor: request.decidedBy,
      cluster: request.cluster,
      details: { ...drainSummary(drain), ended, left },
    });
    const empty =
      left === 0
        ? 'the database is now empty'
        : `${left} ${left === 1 ? 'session is' : 'sessions are'} still there (protected, or not signallable by the bot)`;
    const message = [
      `Drained: ${ended} ${ended === 1 ? 'session' : 'sessions'} ended, ${empty}.`,
      `New connections to ${database} are refused until ${utcTime(drain.endsAt)}.`,
      method === 'connection_limit' ? CONNECTION_LIMIT_ONLY : '',
    ]
      .filter(Boolean)
      .join(' ');
    return {
      status: 'executed',
      result: { outcomes, message, drain: { id: drain.id, database, endsAt: drain.endsAt } },
    };
  }

  return execute;
}

/** Says a drain's end in its request's thread, and shows the request message without its End button. */
async function tellEnded(deps: DrainDeps, drain: Drain, sentence: string): Promise<void> {
  const request = await deps.requests.get(drain.requestId);
  await deps.messages.ended(drain, sentence, request?.messageTs ?? null).catch(() => undefined);
  if (request?.result?.drain) {
    const result = { ...request.result, drain: { ...request.result.drain, ended: sentence } };
    await deps.messages.update({ ...request, result }).catch(() => undefined);
  }
}

/** Ends drains, once across replicas (the claim), with what happened said in the thread and audited. */
function drainEnder(deps: DrainDeps, holder: string): End {
  const { drains } = deps;

  /** Ends one drain, once across replicas: restores exactly the recorded settings, or says why not. */
  async function end(id: string, why: DrainEndWhy, by: string | null): Promise<string | null> {
    const drain = await drains.claim(id, holder);
    if (!drain) return null;
    let outcome: DrainEndOutcome;
    if (!sameBinding(drain.binding, drainBinding(deps.binder, drain))) {
      outcome = { kind: 'tampered' };
      await drains.appendAudit({
        requestId: drain.requestId,
        event: 'tampering_detected',
        actor: null,
        cluster: drain.cluster,
        details: {
          subject: 'drain',
          id: drain.id,
          stage: 'drain_end',
          reason: 'the drain record does not match its binding: it was written or changed without the key',
          claims: {
            requester: drain.requester,
            approver: drain.approver,
            targets: [],
            what: `drain ${drain.database}`,
          },
        },
      });
    } else {
      const port = deps.cluster(drain.cluster);
      try {
        if (!port) throw new Error('the cluster is no longer configured');
        outcome = await port.drain.restore(drain.database, drain.method, drainedValues(drain), {
          allowConnections: drain.prevAllowConnections,
          connectionLimit: drain.prevConnectionLimit,
        });
      } catch (error) {
        // Worth another try (the cluster is down, say): left claimable again at once, said in the thread.
        await drains.release(drain.id, holder);
        return endSentence(drain, why, { kind: 'failed', message: (error as Error).message }, by);
      }
    }
    const sentence = endSentence(drain, why, outcome, by ? `<@${by}>` : null);
    const ending: DrainEnd = {
      state: outcome.kind === 'restored' || outcome.kind === 'already' ? 'ended' : 'refused',
      by,
      why,
      outcome: outcome.kind,
    };
    const finished = await drains.finish(
      drain.id,
      holder,
      { ...ending, seal: drainEndSeal(deps.binder, drain.id, ending) },
      (d) => ({
        requestId: d.requestId,
        event: 'drain_ended',
        actor: by,
        cluster: d.cluster,
        details: { ...drainSummary(d), why, endedBy: by, outcome: sentence },
      }),
    );
    if (finished) await tellEnded(deps, finished, sentence);
    return sentence;
  }

  return end;
}

export function createDrainService(deps: DrainDeps) {
  const { drains, settings } = deps;
  const end = drainEnder(deps, deps.holder ?? randomUUID());
  const request = drainRequests(deps);
  const execute = drainExecutor(deps, end);
  const recoverForgedEnds = createDrainRecovery({ ...deps, tell: (d, sentence) => tellEnded(deps, d, sentence) });

  async function mayEnd(drain: Drain, user: string): Promise<boolean> {
    return (
      user === drain.requester ||
      user === drain.approver ||
      (await mayApprove(user, settings.rules(drain.cluster), deps.groups))
    );
  }

  return {
    request,
    execute,
    /** End drain now (a button carrying the drain id). */
    async endNow(id: string, user: string): Promise<DrainResult<string>> {
      const drain = await drains.get(id);
      if (!drain || (drain.state !== 'active' && drain.state !== 'ending')) return no(refusalText('not_drained'));
      if (!(await mayEnd(drain, user))) return no(refusalText('not_allowed'));
      const sentence = await end(id, 'ended', user);
      return sentence ? { ok: true, value: sentence } : no('This drain is being ended already.');
    },
    /** `/pgsessions undrain db:NAME`. */
    async undrain(cluster: string, database: string, user: string): Promise<DrainResult<string>> {
      const drain = await drains.liveFor(cluster, database);
      if (!drain) return no(refusalText('not_drained'));
      if (!(await mayEnd(drain, user))) return no(refusalText('not_allowed'));
      const sentence = await end(drain.id, 'undrain', user);
      return sentence ? { ok: true, value: sentence } : no('This drain is being ended already.');
    },
    /** The sweeper: every drain past its window, ended once whichever replica gets it. */
    async endDue(): Promise<string[]> {
      const said: string[] = [];
      for (const id of await drains.due()) {
        const sentence = await end(id, 'expired', null);
        if (sentence) said.push(sentence);
      }
      // An end the app did not seal (the runtime role's password alone): given back all the same.
      said.push(...(await recoverForgedEnds()));
      return said;
    },
    live: (cluster?: string) => drains.live(cluster),
  };
}

export type DrainService = ReturnType<typeof createDrainService>;
