// The ports of a maintenance drain (docs/drain.md): the cluster side (src/postgres/drain-sql.ts), the state
// side (src/postgres/drain-store.ts) and Slack (src/slack/adapters/drain-messages.ts).
import type { AuditEntryInput } from './audit.js';
import type { DatabaseFacts, Drain, DrainEnd, DrainMethod } from './drain.js';
import type { KillRequest } from './types.js';

export interface ConnectionSettings {
  allowConnections: boolean;
  connectionLimit: number;
}

/** The cluster side — src/postgres/drain-sql.ts. */
export interface DrainSqlPort {
  facts(database: string): Promise<DatabaseFacts | null>;
  close(database: string, method: DrainMethod): Promise<void>;
  restore(
    database: string,
    method: DrainMethod,
    drained: ConnectionSettings,
    previous: ConnectionSettings,
  ): Promise<{ kind: 'restored' | 'already' | 'gone' } | { kind: 'changed'; now: ConnectionSettings }>;
  drainable(): Promise<string[]>;
}

/** The state side — src/postgres/drain-store.ts. */
export interface DrainStorePort {
  live(cluster?: string): Promise<Drain[]>;
  liveFor(cluster: string, database: string): Promise<Drain | null>;
  byRequest(requestId: string): Promise<Drain | null>;
  get(id: string): Promise<Drain | null>;
  record(
    input: Omit<
      Drain,
      'id' | 'endsAt' | 'state' | 'endedAt' | 'endedBy' | 'endWhy' | 'outcome' | 'binding' | 'endBinding' | 'messageTs'
    > & {
      windowSeconds: number;
    },
    bind: (d: Drain) => string,
  ): Promise<Drain | null>;
  due(): Promise<string[]>;
  /** Drains marked ended or refused whose window is over: the sweeper checks each end's seal. */
  finishedDue(): Promise<Drain[]>;
  /** The `recovered` marks of the drain_ended audit entries of a drain. */
  recoveries(id: string): Promise<string[]>;
  claim(id: string, holder: string): Promise<Drain | null>;
  release(id: string, holder: string): Promise<void>;
  finish(
    id: string,
    holder: string,
    end: DrainEnd & { seal: string },
    audit: (d: Drain) => AuditEntryInput,
  ): Promise<Drain | null>;
  appendAudit(entry: AuditEntryInput): Promise<unknown>;
}

/** Slack: the end said in the request's thread, and the request message shown without its End button. */
export interface DrainMessagesPort {
  post(request: KillRequest): Promise<string>;
  update(request: KillRequest): Promise<void>;
  /** Says the end in the request's thread (threadTs: the request message). */
  ended(drain: Drain, sentence: string, threadTs: string | null): Promise<void>;
}
