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
import { readRefusalText, type ReadRefusal } from './messages.js';
import type { ReadClusterPort } from './ports.js';
import { ok, refused, type Outcome, type RefusedBy } from './outcome.js';
import type { ConnectionUse } from './watch.js';

// ---- ports ---------------------------------------------------------------------------------------------

export type { ReadClusterPort } from './ports.js';

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

/** A refused read: the sentence (messages.ts) names the cluster, or the one asked for and those known. */
export type ReadFailure = ReadRefusal;

export type ReadResult<T> = Outcome<T, ReadRefusal['code']>;

/** A read refused, with its sentence. */
export const refuseRead = (failure: Omit<ReadRefusal, 'message'>) => {
  const { code, ...about } = failure;
  return refused(code, readRefusalText(failure), about);
};

type Killable<R> = (row: R) => boolean;

export type ReadAnswer =
  | {
      kind: 'top';
      cluster: string;
      rows: SessionRow[];
      totalMatched: number;
      hidden: number;
      connections: ConnectionUse | null;
      refused: RefusedBy | null;
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

function choose(deps: ReadDeps, name: string | undefined): ReadResult<ReadClusterPort> {
  const all = deps.clusters();
  const known = all.map((c) => c.name);
  if (name !== undefined) {
    const found = all.find((c) => c.name === name);
    return found ? ok(found) : refuseRead({ code: 'unknown_cluster', asked: name, known });
  }
  const only = all.length === 1 ? all[0] : all.find((c) => c.name === 'default');
  return only ? ok(only) : refuseRead({ code: 'choose_cluster', known });
}

/** Runs a call against a cluster; unreachable and slow become values, anything else is a bug. */
async function guarded<T>(deps: ReadDeps, cluster: string, call: () => Promise<T>): Promise<ReadResult<T>> {
  try {
    return ok(await call());
  } catch (error) {
    const trouble = deps.classify(error);
    if (trouble === null) throw error;
    deps.onTrouble?.(cluster, error);
    if (trouble === 'slow') return refuseRead({ code: 'slow', cluster, detail: (error as Error).message });
    if (trouble === 'full' || trouble === 'pooler_full')
      return refuseRead({ code: 'full', cluster, refusedBy: trouble === 'full' ? 'server' : 'pooler' });
    return refuseRead({ code: 'unreachable', cluster });
  }
}

const killable =
  (settings: ReadSettings) =>
  (row: { user: string | null; application: string | null }): boolean =>
    !settings.readOnly && !isProtected(row, settings);

const shaped =
  (settings: ReadSettings) =>
  <R extends { query: string | null }>(row: R): R => ({
    ...row,
    query: shapeQueryText(row.query, settings.queryText),
  });

async function mayView(deps: ReadDeps, user: string, cluster: string): Promise<boolean> {
  const viewers = deps.settings.viewers(cluster);
  return viewers === null || isListed(user, viewers, deps.groups);
}

async function viewable(deps: ReadDeps, user: string): Promise<ReadClusterPort[]> {
  const clusters = deps.clusters();
  const allowed = await Promise.all(clusters.map((c) => mayView(deps, user, c.name)));
  return clusters.filter((_, i) => allowed[i]);
}

export async function statusOf(deps: ReadDeps, clusters: ReadClusterPort[]): Promise<ClusterStatus[]> {
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
  deps: ReadDeps,
  name: string | undefined,
  reader: Reader,
): Promise<ReadResult<ReadClusterPort>> {
  const chosen = choose(deps, name);
  if (!chosen.ok) return chosen;
  if (!(await mayView(deps, reader.user, chosen.value.name)))
    return refuseRead({ code: 'not_viewer', cluster: chosen.value.name });
  return chosen;
}

/**
 * Open requests the reader may see: on clusters they may look at, and made in this conversation. A request
 * made elsewhere is only counted: it may come from a private channel or a DM, and Slack does not tell the
 * app who is in a conversation without more scopes. Every request is in the audit channel anyway.
 */
async function pendingFor(
  deps: ReadDeps,
  cluster: string | undefined,
  reader: Reader,
): Promise<ReadResult<ReadAnswer>> {
  if (cluster !== undefined) {
    const chosen = await chooseViewable(deps, cluster, reader);
    if (!chosen.ok) return chosen;
  }
  const names = new Set((await viewable(deps, reader.user)).map((c) => c.name));
  if (names.size === 0) return refuseRead({ code: 'not_viewer' });
  const open = (await deps.pending(cluster)).filter((r) => names.has(r.cluster));
  const here = open.filter((r) => r.channel === reader.channel);
  const requests = here.map((r) => ({ ...r, targets: r.targets.map(shaped(deps.settings)) }));
  return ok({ kind: 'pending', requests, elsewhere: open.length - here.length });
}

/** `status cluster:NAME` is about that cluster only, and an unknown name is an error like everywhere else. */
async function statusFor(deps: ReadDeps, cluster: string | undefined, reader: Reader): Promise<ReadResult<ReadAnswer>> {
  if (cluster !== undefined) {
    const chosen = await chooseViewable(deps, cluster, reader);
    if (!chosen.ok) return chosen;
    return ok({ kind: 'status', clusters: await statusOf(deps, [chosen.value]) });
  }
  const mine = await viewable(deps, reader.user);
  if (mine.length === 0) return refuseRead({ code: 'not_viewer' });
  return ok({ kind: 'status', clusters: await statusOf(deps, mine) });
}

async function listing(
  deps: ReadDeps,
  cluster: ReadClusterPort,
  filters: ListFilters,
): Promise<ReadResult<ReadAnswer>> {
  const listed = await guarded(deps, cluster.name, () => cluster.list(filters));
  if (!listed.ok) return listed;
  const { totalMatched, hidden } = listed.value;
  return ok({
    kind: 'top',
    cluster: cluster.name,
    rows: listed.value.rows.map(shaped(deps.settings)),
    totalMatched,
    hidden,
    connections: listed.value.connections ?? null,
    refused: listed.value.refused ?? null,
    recovery: listed.value.recovery ?? null,
    filters,
    killable: killable(deps.settings),
  });
}

/** A read command's answer for this reader, or why there is none. */
export async function answer(deps: ReadDeps, command: ReadCommand, reader: Reader): Promise<ReadResult<ReadAnswer>> {
  switch (command.kind) {
    case 'help':
      // Everyone may read the usage; the clusters' status is for those who may look at them.
      return ok({ kind: 'help', clusters: await statusOf(deps, await viewable(deps, reader.user)) });
    case 'status':
      return statusFor(deps, command.cluster, reader);
    case 'pending':
      return pendingFor(deps, command.cluster, reader);
    default:
      break;
  }
  const chosen = await chooseViewable(deps, command.cluster, reader);
  if (!chosen.ok) return chosen;
  const cluster = chosen.value;
  switch (command.kind) {
    case 'top':
      return listing(deps, cluster, command.filters);
    case 'blocking': {
      const tree = await guarded(deps, cluster.name, () => cluster.blocking());
      if (!tree.ok) return tree;
      const rows = tree.value.map(shaped(deps.settings));
      return ok({ kind: 'blocking', cluster: cluster.name, rows, killable: killable(deps.settings) });
    }
    case 'replication': {
      const walsenders = await guarded(deps, cluster.name, () => cluster.replication());
      if (!walsenders.ok) return walsenders;
      // Protected roles and applications get no button here either: the request would be refused anyway.
      const rows = walsenders.value;
      return ok({ kind: 'replication', cluster: cluster.name, rows, killable: killable(deps.settings) });
    }
  }
}

/** One session by pid, for the request form; null when it is gone. */
export async function session(
  deps: ReadDeps,
  clusterName: string,
  pid: number,
  reader: Reader,
): Promise<ReadResult<SessionRow | null>> {
  const chosen = await chooseViewable(deps, clusterName, reader);
  if (!chosen.ok) return chosen;
  const found = await guarded(deps, chosen.value.name, () => chosen.value.byPid(pid));
  if (!found.ok) return found;
  return ok(found.value === null ? null : shaped(deps.settings)(found.value));
}

/** The cluster a command or button names (or the only/default one), when it is configured. */
export function known(deps: ReadDeps, clusterName: string | undefined): ReadResult<string> {
  const chosen = choose(deps, clusterName);
  return chosen.ok ? ok(chosen.value.name) : chosen;
}

/**
 * Like known(), and the reader may look at it. Asking to kill shows the session (in the form, in the
 * approval message), so it is for viewers too: a request must not be a way around PGSESSIONS_VIEWERS.
 */
export async function visible(
  deps: ReadDeps,
  clusterName: string | undefined,
  reader: Reader,
): Promise<ReadResult<string>> {
  const chosen = await chooseViewable(deps, clusterName, reader);
  return chosen.ok ? ok(chosen.value.name) : chosen;
}

export function createReadService(deps: ReadDeps) {
  return {
    answer: (command: ReadCommand, reader: Reader) => answer(deps, command, reader),
    session: (clusterName: string, pid: number, reader: Reader) => session(deps, clusterName, pid, reader),
    known: (clusterName: string | undefined) => known(deps, clusterName),
    visible: (clusterName: string | undefined, reader: Reader) => visible(deps, clusterName, reader),
    status: () => statusOf(deps, deps.clusters()),
  };
}

export type ReadService = ReturnType<typeof createReadService>;
