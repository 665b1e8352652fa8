// What entries of one family repeat so that each reads on its own (the audit log's details, src/domain/audit.ts).

/** One approval a quorum counts, short of the quorum: who approved so far (in order) of how many needed. */
export interface QuorumProgress {
  approver: string;
  approvals: string[];
  needed: number;
  /** The MAC over this approval (src/domain/binding.ts): a row written without the key is not counted. */
  binding?: string;
}

/** What every drain entry repeats, so each reads on its own. */
export interface DrainSummary {
  drain: string;
  database: string;
  method: 'allow_connections' | 'connection_limit';
  previous: { allowConnections: boolean; connectionLimit: number };
  endsAt: string;
  requester: string;
  approver: string;
}

/** What every rule entry repeats, so each reads on its own. */
export interface RuleSummary {
  rule: string;
  /** The rule as typed (ruleText) and in plain words. */
  text: string;
  words: string;
  reason: string;
  proposer: string;
}
