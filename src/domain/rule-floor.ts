// Which watch threshold decides whether a rule's cause is detected at all, and how a person names it. Pure.
import type { RuleCause, RuleThresholds } from './rules.js';

/** The watch threshold that decides whether a rule's cause is detected at all. */
export type FloorKey = 'lockWaitSeconds' | 'idleInTransactionSeconds' | 'activeSeconds';
export const FLOOR: Record<RuleCause, { key: FloorKey; setting: string; rule: keyof RuleThresholds; word: string }> = {
  'lock-queue-head': {
    key: 'lockWaitSeconds',
    setting: 'PGSESSIONS_WATCH_LOCK_WAIT',
    rule: 'waitingSeconds',
    word: 'waiting:',
  },
  'root-blocker': {
    key: 'lockWaitSeconds',
    setting: 'PGSESSIONS_WATCH_LOCK_WAIT',
    rule: 'waitingSeconds',
    word: 'waiting:',
  },
  'idle-in-transaction': {
    key: 'idleInTransactionSeconds',
    setting: 'PGSESSIONS_WATCH_IDLE_IN_TRANSACTION',
    rule: 'idleSeconds',
    word: 'idle:',
  },
  active: { key: 'activeSeconds', setting: 'PGSESSIONS_WATCH_ACTIVE', rule: 'runningSeconds', word: 'running:' },
};
