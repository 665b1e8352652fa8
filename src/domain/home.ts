// The App Home of one person (issue 16, part 3): what waits for them (requests and rule proposals they may
// approve, never their own), their own open requests and proposals, the open incidents and active rules of
// the clusters they may view, and the break-glass uses nobody has reviewed yet. The state is read ONCE per
// round (gatherHome) and then sorted per person (homeFor), so a round costs the same few queries however many
// people have a Home open. Who may approve and view is decided here only for what is SHOWN: every button is
// decided again by its use case at click time.
import type { ApprovalRouting } from './routing.js';
import { isListed, type AccessRules, type GroupsPort } from './policy.js';
import type { Rule } from './rules.js';
import type { KillRequest } from './types.js';
import type { IncidentCause, RootSession } from './watch.js';

/** One break-glass use with no `break_glass_reviewed` entry yet (src/domain/break-glass.ts). */
export type { BreakGlassUse } from './break-glass.js';
import type { BreakGlassUse } from './break-glass.js';

/** An open watch incident, as the Home shows it. */
export interface HomeIncident {
  id: string;
  cluster: string;
  cause: IncidentCause;
  openedAt: string;
  root: Pick<RootSession, 'pid' | 'user' | 'database' | 'application'> | null;
  /** cluster-down: what failed (shown escaped). */
  error: string | null;
  channel: string;
  messageTs: string | null;
}

/** Everything that may appear on anybody's Home, read once per round. */
export interface HomeState {
  pending: KillRequest[];
  /** Proposed and approved rules. */
  rules: Rule[];
  incidents: HomeIncident[];
  /** Null: the break-glass store is not wired (the section is left out). */
  unreviewed: BreakGlassUse[] | null;
}

export interface HomeSources {
  pending(): Promise<KillRequest[]>;
  /** Live rules (proposed and approved); absent when standing approvals are not wired. */
  rules?(): Promise<Rule[]>;
  incidents(): Promise<HomeIncident[]>;
  /** Null (or absent): break-glass is not wired, the section is left out. */
  unreviewed?(): Promise<BreakGlassUse[] | null>;
}

/** Who may approve on, and view, a cluster (the same settings the use cases decide with). */
export interface HomeAccess {
  rules(cluster: string): AccessRules;
  /** Quorum, escalation, break-glass: the tier an escalation reaches may decide once it is due. */
  routing?(cluster: string): ApprovalRouting;
  /** Null: everyone may view. */
  viewers(cluster: string): string[] | null;
  groups: GroupsPort;
}

export interface HomeContent {
  user: string;
  waiting: { requests: KillRequest[]; proposals: Rule[] };
  mine: { requests: KillRequest[]; proposals: Rule[] };
  incidents: HomeIncident[];
  /** Approved rules. */
  rules: Rule[];
  unreviewed: BreakGlassUse[] | null;
}

export async function gatherHome(sources: HomeSources): Promise<HomeState> {
  const [pending, rules, incidents, unreviewed] = await Promise.all([
    sources.pending(),
    sources.rules ? sources.rules() : Promise.resolve([]),
    sources.incidents(),
    sources.unreviewed ? sources.unreviewed() : Promise.resolve(null),
  ]);
  return { pending, rules, incidents, unreviewed };
}

/**
 * Group membership for display only, asked once per group per round (Slack allows ~20 reads a minute): a
 * group Slack will not read now counts as "not listed" (fail closed; the Home shows less, never more).
 */
export function roundGroups(groups: GroupsPort): GroupsPort {
  const asked = new Map<string, Promise<string[]>>();
  return {
    members(groupId) {
      let members = asked.get(groupId);
      if (!members) {
        members = groups.members(groupId).catch(() => []);
        asked.set(groupId, members);
      }
      return members;
    },
  };
}

/** A request as a quorum reads it (issue 16): distinct approvers needed, and who approved so far. */
export type QuorumRequest = KillRequest & { quorum?: number; approvers?: string[] };

/** Approved already by this person (a request waiting for more approvers): nothing more waits for them. */
const approvedBy = (r: QuorumRequest, user: string): boolean => r.approvers?.includes(user) ?? false;

/** One person's Home out of the round's state. `access.groups` should be a roundGroups(). */
export async function homeFor(
  state: HomeState,
  user: string,
  access: HomeAccess,
  now: number = Date.now(),
): Promise<HomeContent> {
  const clusters = new Set<string>([
    ...state.pending.map((r) => r.cluster),
    ...state.rules.map((r) => r.cluster),
    ...state.incidents.map((i) => i.cluster),
    ...(state.unreviewed ?? []).map((u) => u.cluster),
  ]);
  const viewable = new Set<string>();
  const approvable = new Set<string>();
  for (const cluster of clusters) {
    const viewers = access.viewers(cluster);
    if (viewers !== null && !(await isListed(user, viewers, access.groups))) continue;
    viewable.add(cluster);
    if (await isListed(user, access.rules(cluster).approvers, access.groups)) approvable.add(cluster);
  }
  // The escalation tier of a cluster (escalated-approver.ts) may decide what has waited past the deadline there.
  const tier = new Map<string, number>();
  for (const cluster of viewable) {
    const escalate = access.routing?.(cluster).escalate;
    if (escalate && !approvable.has(cluster) && (await isListed(user, escalate.to, access.groups)))
      tier.set(cluster, escalate.afterSeconds * 1000);
  }
  const mayDecide = (s: { cluster: string; createdAt: string }) =>
    approvable.has(s.cluster) || Date.parse(s.createdAt) + (tier.get(s.cluster) ?? Number.POSITIVE_INFINITY) <= now;
  const seen = <T extends { cluster: string }>(items: T[]) => items.filter((i) => viewable.has(i.cluster));
  const pending = seen(state.pending);
  const proposals = seen(state.rules).filter((r) => r.status === 'proposed');
  return {
    user,
    waiting: {
      requests: pending.filter((r) => r.requester !== user && mayDecide(r) && !approvedBy(r, user)),
      proposals: proposals.filter((r) => r.proposer !== user && mayDecide(r)),
    },
    mine: {
      requests: pending.filter((r) => r.requester === user),
      proposals: proposals.filter((r) => r.proposer === user),
    },
    incidents: seen(state.incidents),
    rules: seen(state.rules).filter((r) => r.status === 'approved'),
    unreviewed: state.unreviewed === null ? null : seen(state.unreviewed),
  };
}

/** What the Slack listeners ask of the App Home. */
export interface HomeTabPort {
  /** The person opened their Home tab: remember them here and publish theirs now. */
  opened(user: string): Promise<void>;
  /** The person decided something from their Home: publish theirs again now, and everyone's at the next poll. */
  acted(user: string): Promise<void>;
}
