// The read path as use cases, the way requests.ts holds the write path: listings, the lock-wait tree,
// walsenders, status and open requests. Listeners call these and render the value; they never hold a
// cluster or a pool. Expected outcomes (unknown cluster, unreachable, slow) are values, not throws.
import type { ListFilters, BlockingRow, KillRequest, ReplicationRow, RoleCapabilities, SessionRow } from './types.js';
import { isProtected, type Protection } from './policy.js';

// ---- ports ---------------------------------------------------------------------------------------------

/** What the read path needs of one managed cluster — src/postgres/session-store.ts conforms. */
export interface ReadClusterPort {
  name: string;
  capabilities(): Promise<RoleCapabilities>;
  list(filters: ListFilters): Promise<{ rows: SessionRow[]; totalMatched: number; hidden: number }>;
  blocking(): Promise<BlockingRow[]>;
  replication(): Promise<ReplicationRow[]>;
  byPid(pid: number): Promise<SessionRow | null>;
}

export interface ReadSettings extends Protection {
  readOnly: boolean;
}

/** How a failed cluster call is to be told: down, or up but every connection is busy. */
export type ClusterTrouble = 'unreachable' | 'slow';

export interface ReadDeps {
  /** Every configured cluster, in configuration order. */
  clusters(): ReadClusterPort[];
  pending(cluster?: string): Promise<KillRequest[]>;
  settings: ReadSettings;
  /** null for an error that is a bug (it is thrown on); otherwise how to tell it. */
  classify(error: unknown): ClusterTrouble | null;
  /** Called with the full error whenever a cluster is unreachable or slow, for the log (users get less). */
  onTrouble?(cluster: string, error: unknown): void;
}

// ---- results ---------------------------------------------------------------------------------------------

export interface ClusterStatus {
  name: string;
  capabilities: RoleCapabilities | null;
  reachable: boolean;
}

export type ReadFailure =
  | { code: 'unknown_cluster'; asked: string; known: string[] }
  | { code: 'choose_cluster'; known: string[] }
  | { code: 'unreachable'; cluster: string }
  | { code: 'slow'; cluster: string; detail: string };

export type ReadResult<T> = ({ ok: true } & T) | ({ ok: false } & ReadFailure);

type Killable<R> = (row: R) => boolean;

export type ReadAnswer =
  | { kind: 'top'; cluster: string; rows: SessionRow[]; totalMatched: number; hidden: number; filters: ListFilters; killable: Killable<SessionRow> }
  | { kind: 'blocking'; cluster: string; rows: BlockingRow[]; killable: Killable<SessionRow> }
  | { kind: 'replication'; cluster: string; rows: ReplicationRow[]; killable: Killable<ReplicationRow> }
  | { kind: 'status'; clusters: ClusterStatus[] }
  | { kind: 'help'; clusters: ClusterStatus[] }
  | { kind: 'pending'; requests: KillRequest[] };

/** The read commands, as the grammar (command.ts) parses them. */
export type ReadCommand =
  | { kind: 'top'; cluster?: string; filters: ListFilters }
  | { kind: 'blocking' | 'replication' | 'status' | 'pending'; cluster?: string }
  | { kind: 'help' };

export const READ_KINDS: ReadonlySet<string> = new Set(['top', 'blocking', 'replication', 'status', 'pending', 'help']);

export function isReadCommand(command: { kind: string }): command is ReadCommand {
  return READ_KINDS.has(command.kind);
}

/** Who asks, and where: the rules of who may look are decided on these. */
export interface Reader {
  user: string;
  channel: string;
}

// ---- use cases ----------------------------------------------------------------------------------------

export function createReadService(deps: ReadDeps) {
  const { settings } = deps;

  function choose(name: string | undefined): ReadResult<{ cluster: ReadClusterPort }> {
    const all = deps.clusters();
    const known = all.map((c) => c.name);
    if (name !== undefined) {
      const found = all.find((c) => c.name === name);
      return found ? { ok: true, cluster: found } : { ok: false, code: 'unknown_cluster', asked: name, known };
    }
    const only = all.length === 1 ? all[0] : all.find((c) => c.name === 'default');
    return only ? { ok: true, cluster: only } : { ok: false, code: 'choose_cluster', known };
  }

  /** Runs a call against a cluster; unreachable and slow become values, anything else is a bug. */
  async function guarded<T>(cluster: string, call: () => Promise<T>): Promise<ReadResult<{ value: T }>> {
    try {
      return { ok: true, value: await call() };
    } catch (error) {
      const trouble = deps.classify(error);
      if (trouble === null) throw error;
      deps.onTrouble?.(cluster, error);
      return trouble === 'slow'
        ? { ok: false, code: 'slow', cluster, detail: (error as Error).message }
        : { ok: false, code: 'unreachable', cluster };
    }
  }

  const killable = (row: { user: string | null; application: string | null }) => !settings.readOnly && !isProtected(row, settings);

  async function statusOf(clusters: ReadClusterPort[]): Promise<ClusterStatus[]> {
    return Promise.all(
      clusters.map(async (cluster) => {
        try {
          return { name: cluster.name, capabilities: await cluster.capabilities(), reachable: true };
        } catch {
          return { name: cluster.name, capabilities: null, reachable: false };
        }
      }),
    );
  }

  async function answer(command: ReadCommand, _reader: Reader): Promise<ReadResult<{ answer: ReadAnswer }>> {
    switch (command.kind) {
      case 'help':
        return { ok: true, answer: { kind: 'help', clusters: await statusOf(deps.clusters()) } };
      case 'status': {
        // `status cluster:NAME` is about that cluster only, and an unknown name is an error like everywhere else.
        if (command.cluster !== undefined) {
          const chosen = choose(command.cluster);
          if (!chosen.ok) return chosen;
          return { ok: true, answer: { kind: 'status', clusters: await statusOf([chosen.cluster]) } };
        }
        return { ok: true, answer: { kind: 'status', clusters: await statusOf(deps.clusters()) } };
      }
      case 'pending':
        return { ok: true, answer: { kind: 'pending', requests: await deps.pending(command.cluster) } };
      default:
        break;
    }
    const chosen = choose(command.cluster);
    if (!chosen.ok) return chosen;
    const cluster = chosen.cluster;
    switch (command.kind) {
      case 'top': {
        const listed = await guarded(cluster.name, () => cluster.list(command.filters));
        if (!listed.ok) return listed;
        const { rows, totalMatched, hidden } = listed.value;
        return { ok: true, answer: { kind: 'top', cluster: cluster.name, rows, totalMatched, hidden, filters: command.filters, killable } };
      }
      case 'blocking': {
        const tree = await guarded(cluster.name, () => cluster.blocking());
        if (!tree.ok) return tree;
        return { ok: true, answer: { kind: 'blocking', cluster: cluster.name, rows: tree.value, killable } };
      }
      case 'replication': {
        const walsenders = await guarded(cluster.name, () => cluster.replication());
        if (!walsenders.ok) return walsenders;
        return { ok: true, answer: { kind: 'replication', cluster: cluster.name, rows: walsenders.value, killable: () => !settings.readOnly } };
      }
    }
  }

  /** One session by pid, for the request form; null when it is gone. */
  async function session(clusterName: string, pid: number, _reader: Reader): Promise<ReadResult<{ row: SessionRow | null }>> {
    const chosen = choose(clusterName);
    if (!chosen.ok) return chosen;
    const found = await guarded(chosen.cluster.name, () => chosen.cluster.byPid(pid));
    if (!found.ok) return found;
    return { ok: true, row: found.value };
  }

  /** The cluster a command or button names (or the only/default one), when it is configured. */
  function known(clusterName: string | undefined): ReadResult<{ name: string }> {
    const chosen = choose(clusterName);
    return chosen.ok ? { ok: true, name: chosen.cluster.name } : chosen;
  }

  return { answer, session, known, status: () => statusOf(deps.clusters()) };
}

export type ReadService = ReturnType<typeof createReadService>;
