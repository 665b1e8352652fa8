// Who is in the playground's workspace, its channels and its one user group. Alex and Jordan are the
// approvers (PGSESSIONS_APPROVERS), so the two-person rule — and the payments cluster's two approvals — can be
// tried honestly; Casey is on call (the user group escalation names) and approves nothing.

export interface Person {
  id: string;
  /** Slack's `user_name` in payloads. */
  handle: string;
  name: string;
  /** What the person is for in the demo, shown in the "You are" picker. */
  part: 'requester' | 'approver' | 'bystander' | 'on-call';
}

export const PEOPLE: readonly Person[] = [
  { id: 'URILEY', handle: 'riley', name: 'Riley', part: 'requester' },
  { id: 'UALEX', handle: 'alex', name: 'Alex', part: 'approver' },
  { id: 'UJORDAN', handle: 'jordan', name: 'Jordan', part: 'approver' },
  { id: 'USAM', handle: 'sam', name: 'Sam', part: 'bystander' },
  { id: 'UCASEY', handle: 'casey', name: 'Casey', part: 'on-call' },
];

export const CHANNELS = {
  incidents: { id: 'CINCIDENTS', name: 'incidents' },
  audit: { id: 'CDBAUDIT', name: 'db-audit' },
} as const;

/** The on-call rotation, as PagerDuty's or Opsgenie's Slack integration keeps it: a user group (usergroups.users.list). */
export const ON_CALL = { id: 'S0ONCALL', handle: 'db-oncall', members: ['UCASEY'] } as const;

export const BOT_NAME = 'pgsessions';
export const SLACKBOT = 'USLACKBOT';
