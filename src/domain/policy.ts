// Who may do what: pure decisions over Slack principals (user IDs U…/W…, user-group IDs S…). Group
// membership is resolved by a port, at click time, so a removal from a group takes effect at once.

export interface GroupsPort {
  /** User IDs in a Slack user group. */
  members(groupId: string): Promise<string[]>;
}

export interface AccessRules {
  /** null: everyone may request. */
  requesters: string[] | null;
  approvers: string[];
}

export async function isListed(user: string, principals: string[], groups: GroupsPort): Promise<boolean> {
  if (principals.includes(user)) return true;
  for (const principal of principals) {
    if (principal.startsWith('S') && (await groups.members(principal)).includes(user)) return true;
  }
  return false;
}

export async function mayRequest(user: string, rules: AccessRules, groups: GroupsPort): Promise<boolean> {
  return rules.requesters === null || isListed(user, rules.requesters, groups);
}

export async function mayApprove(user: string, rules: AccessRules, groups: GroupsPort): Promise<boolean> {
  return isListed(user, rules.approvers, groups);
}

export interface Protection {
  protectedRoles: string[];
  protectedApps: string[];
}

export function isProtected(session: { user: string | null; application: string | null }, protection: Protection): boolean {
  return (
    (session.user !== null && protection.protectedRoles.includes(session.user)) ||
    (session.application !== null && protection.protectedApps.includes(session.application))
  );
}

export const QUERY_TEXT_MODES = ['full', 'truncated', 'none'] as const;
export type QueryTextMode = (typeof QUERY_TEXT_MODES)[number];
export const TRUNCATED_QUERY_CHARS = 200;

/** Query text can hold personal data or secrets: shape it before it is stored, posted or audited. */
export function shapeQueryText(query: string | null, mode: QueryTextMode): string | null {
  if (query === null || mode === 'none') return null;
  if (mode === 'full') return query;
  const chars = Array.from(query);
  return chars.length <= TRUNCATED_QUERY_CHARS ? query : `${chars.slice(0, TRUNCATED_QUERY_CHARS).join('')}…`;
}
