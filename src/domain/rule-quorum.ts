// Quorum for standing approvals (issue 16, docs/approvals.md "Quorum for rules"): a rule needs as many distinct
// approvers as its action's quorum (src/domain/routing.ts), frozen when it is proposed. How its progress reads,
// shared by the rule's message, the rules list, the clicker's answer and the audit. Pure.
import { RULE_QUORUM_WORDS } from './messages.js';
import type { Rule } from './rules.js';

/** The distinct approvers the rule needs (1 for rules from before quorums existed). */
export const quorumOf = (rule: Pick<Rule, 'quorum'>): number => rule.quorum ?? 1;

/** The audit's `approvers` of a rule approved by a quorum above one; nothing at one (the approver says it). */
export function approversShown(rule: Rule): { approvers?: string[] } {
  return quorumOf(rule) > 1 ? { approvers: [...(rule.approvers ?? [])] } : {};
}

/**
 * The quorum lines of a rule's message and list entry, `mention` formatting each person: "Needs 2 approvals"
 * and "1 of 2 approvals: <@U…>" while proposed; "approved by <@A>, <@B>" once approved by more than one.
 * Empty for a rule of quorum one (its message reads as before).
 */
export function quorumLines(rule: Rule, mention: (user: string) => string): string[] {
  const quorum = quorumOf(rule);
  if (quorum <= 1) return [];
  const approvers = rule.approvers ?? [];
  if (rule.status === 'proposed') {
    const lines = [RULE_QUORUM_WORDS.needs(quorum)];
    if (approvers.length > 0)
      lines.push(RULE_QUORUM_WORDS.progress(approvers.length, quorum, approvers.map(mention).join(', ')));
    return lines;
  }
  return [];
}

/** Who approved the rule, for "approved by …": every approver of a quorum, else the one. */
export function approvedBy(rule: Rule): string[] {
  const approvers = rule.approvers ?? [];
  return quorumOf(rule) > 1 && approvers.length > 0 ? approvers : rule.approver ? [rule.approver] : [];
}

/** The answer to an Approve click that was counted but did not reach the quorum; null once approved. */
export function approvalAnswer(rule: Rule): string | null {
  if (rule.status !== 'proposed') return null;
  return RULE_QUORUM_WORDS.recorded((rule.approvers ?? []).length, quorumOf(rule));
}
