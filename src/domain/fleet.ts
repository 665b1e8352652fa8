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

export function createFleetView(deps: FleetDeps) {
  const { settings } = deps;

  async function mayView(user: string, cluster: string): Promise<boolean> {
    const viewers = settings.viewers(cluster);
    return viewers === null || isListed(user, viewers, deps.groups);
  }

  async function listOne(cluster: ReturnType<ReadDeps['clusters']>[number], filters: ListFilters): Promise<Outcome> {
    try {
      const value = await within(
        deps.timeoutMs,
        () => cluster.list(filters),
        (error) => deps.onTrouble?.(cluster.name, error),
      );
      if (value === TIMED_OUT) return { ok: false, cluster: cluster.name, why: 'timeout' };
      return { ok: true, cluster: cluster.name, value };
    } catch (error) {
      const trouble = deps.classify(error);
      if (trouble === null) throw error;
      deps.onTrouble?.(cluster.name, error);
      const why: FleetMiss = trouble === 'pooler_full' ? 'full' : trouble;
      return { ok: false, cluster: cluster.name, why };
    }
  }

  /** The fleet listing for this user: the clusters they may view, each within the timeout. */
  async function list(user: string, filters: ListFilters): Promise<ReadResult<FleetAnswer>> {
    const all = deps.clusters();
    const allowed = await Promise.all(all.map((c) => mayView(user, c.name)));
    const mine = all.filter((_, i) => allowed[i]);
    if (mine.length === 0) return refuseRead({ code: 'not_viewer' });
    const outcomes = await Promise.all(mine.map((c) => listOne(c, filters)));
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
      for (const row of value.rows)
        rows.push({ ...row, cluster, query: shapeQueryText(row.query, settings.queryText) });
    }
    rows.sort(compareFleetRows);
    // Each cluster gave its own worst `limit`; the fleet's worst `limit` are among them.
    rows.splice(filters.limit);
    return ok(answer);
  }

  return { list };
}

export type FleetView = ReturnType<typeof createFleetView>;
