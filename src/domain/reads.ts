// The read path as use cases, the way requests.ts holds the write path: listings, the lock-wait tree,
// walsenders, status and open requests. Listeners call these and render the value; they never hold a
// cluster or a pool. Expected outcomes (unknown cluster, unreachable, slow) are values, not throws.
import type {
  ListFilters,
  BlockingRow,
  KillRequest,
  RecoveryState,
  ReplicationRow,
  RoleCapabilities,
  SessionRow,
} from './types.js';
import {
  isListed,
  isProtected,
  shapeQueryText,
  type GroupsPort,
  type Protection,
  type QueryTextMode,
} from './policy.js';
import type { ConnectionUse } from './watch.js';
import type { Refusal } from './trouble.js';
import type { ReadClusterPort } from './ports.js';

// ---- ports ---------------------------------------------------------------------------------------------

export interface ReadSettings extends Protection {
  readOnly: boolean;
  /** Query text is shaped by PGSESSIONS_QUERY_TEXT before any answer leaves here. */
  queryText: QueryTextMode;
  /** Who may look at a cluster (PGSESSIONS_VIEWERS, or the cluster's own `viewers`); null: everyone. */
  viewers(cluster: string): string[] | null;
}

/** How a failed cluster call is to be told: down, up but every connection is busy, or full (refusing connections). */
export type ClusterTrouble = 'unreachable' | 'slow' | 'full' | 'pooler_full';

export interface ReadDeps {
  /** Every configured cluster, in configuration order. */
  clusters(): ReadClusterPort[];
  pending(cluster?: string): Promise<KillRequest[]>;
  settings: ReadSettings;
  groups: GroupsPort;
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
  /** Why not reachable, when it is known to be something else than no answer (full, busy). */
  trouble?: ClusterTrouble;
}

export type ReadFailure =
  | { code: 'unknown_cluster'; asked: string; known: string[] }
  | { code: 'choose_cluster'; known: string[] }
  | { code: 'not_viewer'; cluster?: string }
  | { code: 'unreachable'; cluster: string }
  /** The server (or its pooler) refused a new connection, and pgsessions' reserved one is lost too. */
  | { code: 'full'; cluster: string; refusal: Refusal }
  | { code: 'slow'; cluster: string; detail: string };

export type ReadResult<T> = ({ ok: true } & T) | ({ ok: false } & ReadFailure);

type Killable<R> = (row: R) => boolean;

export type ReadAnswer =
  | {
      kind: 'top';
      cluster: string;
      rows: SessionRow[];
      totalMatched: number;
      hidden: number;
      connections: ConnectionUse | null;
      refused: Refusal | null;
      recovery: RecoveryState | null;
      filters: ListFilters;
      killable: Killable<SessionRow>;
    }
  | { kind: 'blocking'; cluster: string; rows: BlockingRow[]; killable: Killable<SessionRow> }
  | { kind: 'replication'; cluster: string; rows: ReplicationRow[]; killable: Killable<ReplicationRow> }
  | { kind: 'status'; clusters: ClusterStatus[] }
  | { kind: 'help'; clusters: ClusterStatus[] }
  /** elsewhere: open requests made in other conversations, counted but not shown (they may be private). */
  | { kind: 'pending'; requests: KillRequest[]; elsewhere: number };

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
      if (trouble === 'slow') return { ok: false, code: 'slow', cluster, detail: (error as Error).message };
      if (trouble === 'full' || trouble === 'pooler_full')
        return { ok: false, code: 'full', cluster, refusal: trouble === 'full' ? 'server' : 'pooler' };
      return { ok: false, code: 'unreachable', cluster };
    }
  }

  const killable = (row: { user: string | null; application: string | null }) =>
    !settings.readOnly && !isProtected(row, settings);
  const shaped = <R extends { query: string | null }>(row: R): R => ({
    ...row,
    query: shapeQueryText(row.query, settings.queryText),
  });

  async function mayView(user: string, cluster: string): Promise<boolean> {
    const viewers = settings.viewers(cluster);
    return viewers === null || isListed(user, viewers, deps.groups);
  }

  async function viewable(user: string, clusters: ReadClusterPort[]): Promise<ReadClusterPort[]> {
    const allowed = await Promise.all(clusters.map((c) => mayView(user, c.name)));
    return clusters.filter((_, i) => allowed[i]);
  }

  async function statusOf(clusters: ReadClusterPort[]): Promise<ClusterStatus[]> {
    return Promise.all(
      clusters.map(async (cluster) => {
        try {
          return { name: cluster.name, capabilities: await cluster.capabilities(), reachable: true };
        } catch (error) {
          const trouble = deps.classify(error);
          return {
            name: cluster.name,
            capabilities: null,
            reachable: false,
            ...(trouble && trouble !== 'unreachable' ? { trouble } : {}),
          };
        }
      }),
    );
  }

  /** The cluster a command names (or the only/default one), when the reader may look at it. */
  async function chooseViewable(
    name: string | undefined,
    reader: Reader,
  ): Promise<ReadResult<{ cluster: ReadClusterPort }>> {
    const chosen = choose(name);
    if (!chosen.ok) return chosen;
    if (!(await mayView(reader.user, chosen.cluster.name)))
      return { ok: false, code: 'not_viewer', cluster: chosen.cluster.name };
    return chosen;
  }

  /**
   * Open requests the reader may see: on clusters they may look at, and made in this conversation. A request
   * made elsewhere is only counted: it may come from a private channel or a DM, and Slack does not tell the
   * app who is in a conversation without more scopes. Every request is in the audit channel anyway.
   */
  async function pendingFor(cluster: string | undefined, reader: Reader): Promise<ReadResult<{ answer: ReadAnswer }>> {
    if (cluster !== undefined) {
      const chosen = await chooseViewable(cluster, reader);
      if (!chosen.ok) return chosen;
    }
    const names = new Set((await viewable(reader.user, deps.clusters())).map((c) => c.name));
    if (names.size === 0) return { ok: false, code: 'not_viewer' };
    const open = (await deps.pending(cluster)).filter((r) => names.has(r.cluster));
    const here = open.filter((r) => r.channel === reader.channel);
    const requests = here.map((r) => ({ ...r, targets: r.targets.map(shaped) }));
    return { ok: true, answer: { kind: 'pending', requests, elsewhere: open.length - here.length } };
  }

  async function answer(command: ReadCommand, reader: Reader): Promise<ReadResult<{ answer: ReadAnswer }>> {
    switch (command.kind) {
      case 'help':
        // Everyone may read the usage; the clusters' status is for those who may look at them.
        return {
          ok: true,
          answer: { kind: 'help', clusters: await statusOf(await viewable(reader.user, deps.clusters())) },
        };
      case 'status': {
        // `status cluster:NAME` is about that cluster only, and an unknown name is an error like everywhere else.
        if (command.cluster !== undefined) {
          const chosen = await chooseViewable(command.cluster, reader);
          if (!chosen.ok) return chosen;
          return { ok: true, answer: { kind: 'status', clusters: await statusOf([chosen.cluster]) } };
        }
        const mine = await viewable(reader.user, deps.clusters());
        if (mine.length === 0) return { ok: false, code: 'not_viewer' };
        return { ok: true, answer: { kind: 'status', clusters: await statusOf(mine) } };
      }
      case 'pending':
        return pendingFor(command.cluster, reader);
      default:
        break;
    }
    const chosen = await chooseViewable(command.cluster, reader);
    if (!chosen.ok) return chosen;
    const cluster = chosen.cluster;
    switch (command.kind) {
      case 'top': {
        const listed = await guarded(cluster.name, () => cluster.list(command.filters));
        if (!listed.ok) return listed;
        const { totalMatched, hidden } = listed.value;
        const connections = listed.value.connections ?? null;
        const refused = listed.value.refused ?? null;
        const recovery = listed.value.recovery ?? null;
        const rows = listed.value.rows.map(shaped);
        return {
          ok: true,
          answer: {
            kind: 'top',
            cluster: cluster.name,
            rows,
            totalMatched,
            hidden,
            connections,
            refused,
            recovery,
            filters: command.filters,
            killable,
          },
        };
      }
      case 'blocking': {
        const tree = await guarded(cluster.name, () => cluster.blocking());
        if (!tree.ok) return tree;
        return {
          ok: true,
          answer: { kind: 'blocking', cluster: cluster.name, rows: tree.value.map(shaped), killable },
        };
      }
      case 'replication': {
        const walsenders = await guarded(cluster.name, () => cluster.replication());
        if (!walsenders.ok) return walsenders;
        // Protected roles and applications get no button here either: the request would be refused anyway.
        return { ok: true, answer: { kind: 'replication', cluster: cluster.name, rows: walsenders.value, killable } };
      }
    }
  }

  /** One session by pid, for the request form; null when it is gone. */
  async function session(
    clusterName: string,
    pid: number,
    reader: Reader,
  ): Promise<ReadResult<{ row: SessionRow | null }>> {
    const chosen = await chooseViewable(clusterName, reader);
    if (!chosen.ok) return chosen;
    const found = await guarded(chosen.cluster.name, () => chosen.cluster.byPid(pid));
    if (!found.ok) return found;
    return { ok: true, row: found.value === null ? null : shaped(found.value) };
  }

  /** The cluster a command or button names (or the only/default one), when it is configured. */
  function known(clusterName: string | undefined): ReadResult<{ name: string }> {
    const chosen = choose(clusterName);
    return chosen.ok ? { ok: true, name: chosen.cluster.name } : chosen;
  }

  /**
   * Like known(), and the reader may look at it. Asking to kill shows the session (in the form, in the
   * approval message), so it is for viewers too: a request must not be a way around PGSESSIONS_VIEWERS.
   */
  async function visible(clusterName: string | undefined, reader: Reader): Promise<ReadResult<{ name: string }>> {
    const chosen = await chooseViewable(clusterName, reader);
    return chosen.ok ? { ok: true, name: chosen.cluster.name } : chosen;
  }

  return { answer, session, known, visible, status: () => statusOf(deps.clusters()) };
}

export type ReadService = ReturnType<typeof createReadService>;
