// Who is in the playground's workspace, and its channels. The approver is the only one named in
// PGSESSIONS_APPROVERS, so the two-person rule can be tried honestly.

export interface Person {
  id: string;
  /** Slack's `user_name` in payloads. */
  handle: string;
  name: string;
  /** What the person is for in the demo, shown in the "You are" picker. */
  part: 'requester' | 'approver' | 'bystander';
}

export const PEOPLE: readonly Person[] = [
  { id: 'URILEY', handle: 'riley', name: 'Riley', part: 'requester' },
  { id: 'UALEX', handle: 'alex', name: 'Alex', part: 'approver' },
  { id: 'USAM', handle: 'sam', name: 'Sam', part: 'bystander' },
];

export const CHANNELS = {
  incidents: { id: 'CINCIDENTS', name: 'incidents' },
  audit: { id: 'CDBAUDIT', name: 'db-audit' },
} as const;

export const BOT_NAME = 'pgsessions';
export const SLACKBOT = 'USLACKBOT';
