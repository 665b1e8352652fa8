// `/pgsessions cluster:*`: the worst sessions across every cluster the person may look at. Each cluster is
// read in parallel with its own timeout (PGSESSIONS_FLEET_TIMEOUT); one that has not answered by then is
// named as not answering, and never delays the answer. Clusters the person may not view are never read and
// never named. Pure orchestration over the read path's ports: no Slack, no pg.
import { isListed, isProtected, shapeQueryText } from './policy.js';
import { type ReadDeps, type ReadResult, refuseRead } from './read-service.js';
import { ok } from './outcome.js';
import type { RefusedBy as Refusal } from './outcome.js';
import type { ListFilters, SessionRow } from './types.js';

/** What `cluster:` says to mean every cluster (never a cluster's name: names are letters, digits, _ . -). */
export const ALL_CLUSTERS = '*';

export const DEFAULT_FLEET_TIMEOUT_MS = 2_000;

/** One row of the fleet listing: a session and the cluster it runs on. */
export interface FleetRow extends SessionRow {
  cluster: string;
}

/** Why a cluster is missing from the rows: no answer within the timeout, or an answer that was a failure. */
export type FleetMiss = 'timeout' | 'unreachable' | 'slow' | 'full';

export interface FleetAnswer {
  kind: 'fleet';
  rows: FleetRow[];
  /** Sessions matching on the clusters that answered (more than rows when each cluster's limit cut some). */
  totalMatched: number;
  /** Sessions of other roles the bot could not see, summed over the clusters that answered. */
  hidden: number;
  /** Clusters that answered, in configuration order. */
  answered: string[];
  /** Clusters that did not, and why, in configuration order. */
  missing: { cluster: string; why: FleetMiss }[];
  /** Clusters listed through pgsessions' reserved connection (new connections refused). */
  refused: { cluster: string; refusal: Refusal }[];
  /** Clusters that are standbys. */
  standbys: string[];
  timeoutMs: number;
  filters: ListFilters;
  killable: (row: FleetRow) => boolean;
}

export interface FleetDeps extends Pick<ReadDeps, 'clusters' | 'settings' | 'groups' | 'classify' | 'onTrouble'> {
  timeoutMs: number;
}

/** The single-cluster listing's order: sessions that block others first (most first), then longest. */
export function compareFleetRows(a: FleetRow, b: FleetRow): number {
  return (
    b.blocking - a.blocking ||
    b.ageSeconds - a.ageSeconds ||
    (a.cluster < b.cluster ? -1 : a.cluster > b.cluster ? 1 : 0) ||
    a.pid - b.pid
  );
}

const TIMED_OUT = Symbol('timed out');

/** The call's value, or TIMED_OUT after ms; a late failure is swallowed (told to onLate), never unhandled. */
function within<T>(
  ms: number,
  call: () => Promise<T>,
  onLate: (error: unknown) => void,
): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const running = Promise.resolve().then(call);
  const timeout = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => resolve(TIMED_OUT), ms);
  });
  return Promise.race([running, timeout]).then(
    (value) => {
      clearTimeout(timer);
      if (value === TIMED_OUT) running.catch(onLate);
      return value;
    },
    (error: unknown) => {
      clearTimeout(timer);
      throw error;
    },
  );
}

type Outcome =
  | { ok: true; cluster: string; value: Awaited<ReturnType<ReturnType<ReadDeps['clusters']>[number]['list']>> }
  | { ok: false; cluster: string; why: FleetMiss };

/**
 * Clusters whose reads keep missing the deadline, and since when (this replica's clock): named first among
 * the silent ones, so that a cluster that stalled long ago is never lost in "and N more" behind clusters
 * that were merely slow this once (by the deadline of the first answer it missed: one value per answer).
 * Forgotten at the cluster's next answer, in time or late.
 */
type SilentSince = Map<string, number>;

/** One cluster's listing by the deadline: its rows, or why it is missing. */
async function listOne(
  deps: FleetDeps,
  silentSince: SilentSince,
  cluster: ReturnType<ReadDeps['clusters']>[number],
  filters: ListFilters,
  deadline: number,
): Promise<Outcome> {
  const name = cluster.name;
  try {
    const reading = Promise.resolve().then(() => cluster.list(filters));
    const value = await within(
      deadline - Date.now(),
      () => reading,
      (error) => deps.onTrouble?.(name, error),
    );
    if (value === TIMED_OUT) {
      if (!silentSince.has(name)) silentSince.set(name, deadline);
      reading.then(
        () => silentSince.delete(name),
        () => undefined,
      );
      return { ok: false, cluster: name, why: 'timeout' };
    }
    silentSince.delete(name);
    return { ok: true, cluster: name, value };
  } catch (error) {
    const trouble = deps.classify(error);
    if (trouble === null) throw error;
    deps.onTrouble?.(name, error);
    const why: FleetMiss = trouble === 'pooler_full' ? 'full' : trouble;
    return { ok: false, cluster: name, why };
  }
}

/** The answer from every cluster's outcome, in configuration order, the silent the longest named first. */
function assemble(deps: FleetDeps, silentSince: SilentSince, outcomes: Outcome[], filters: ListFilters): FleetAnswer {
  const { settings } = deps;
  const rows: FleetRow[] = [];
  const answer: FleetAnswer = {
    kind: 'fleet',
    rows,
    totalMatched: 0,
    hidden: 0,
    answered: [],
    missing: [],
    refused: [],
    standbys: [],
    timeoutMs: deps.timeoutMs,
    filters,
    killable: (row) => !settings.readOnly && !isProtected(row, settings),
  };
  for (const outcome of outcomes) {
    if (!outcome.ok) {
      answer.missing.push({ cluster: outcome.cluster, why: outcome.why });
      continue;
    }
    const { value, cluster } = outcome;
    answer.answered.push(cluster);
    answer.totalMatched += Math.max(value.totalMatched, value.rows.length);
    answer.hidden += value.hidden;
    if (value.refused) answer.refused.push({ cluster, refusal: value.refused });
    if (value.recovery) answer.standbys.push(cluster);
    for (const row of value.rows) rows.push({ ...row, cluster, query: shapeQueryText(row.query, settings.queryText) });
  }
  // Stable: in configuration order, except that the clusters silent the longest come first.
  const since = (cluster: string) => silentSince.get(cluster) ?? Number.MAX_SAFE_INTEGER;
  answer.missing.sort((a, b) => since(a.cluster) - since(b.cluster));
  rows.sort(compareFleetRows);
  // Each cluster gave its own worst `limit`; the fleet's worst `limit` are among them.
  rows.splice(filters.limit);
  return answer;
}

export function createFleetView(deps: FleetDeps) {
  const { settings } = deps;
  const silentSince: SilentSince = new Map();

  async function mayView(user: string, cluster: string): Promise<boolean> {
    const viewers = settings.viewers(cluster);
    return viewers === null || isListed(user, viewers, deps.groups);
  }

  /** The fleet listing for this user: the clusters they may view, each within the timeout. */
  async function list(user: string, filters: ListFilters): Promise<ReadResult<FleetAnswer>> {
    // One deadline for the whole answer, from the moment it is asked: the rights check (which may ask Slack
    // for a user group) and every cluster's read share it, so the answer goes out at the timeout and a little.
    const deadline = Date.now() + deps.timeoutMs;
    const all = deps.clusters();
    const allowed = await Promise.all(all.map((c) => mayView(user, c.name)));
    const mine = all.filter((_, i) => allowed[i]);
    if (mine.length === 0) return refuseRead({ code: 'not_viewer' });
    const outcomes = await Promise.all(mine.map((c) => listOne(deps, silentSince, c, filters, deadline)));
    return ok(assemble(deps, silentSince, outcomes, filters));
  }

  return { list };
}

export type FleetView = ReturnType<typeof createFleetView>;
