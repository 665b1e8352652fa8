// A standing approval in plain words: the sentence people read and the text typed back. Pure.
import { FLOOR } from './rule-floor.js';
import type { RuleSpec, RuleThresholds } from './rules.js';

/** 7200 → 2h, 5400 → 1h30m, 5 → 5s: the form the grammar accepts back. */
export function formatDuration(total: number): string {
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const out = `${h ? `${h}h` : ''}${m ? `${m}m` : ''}${s ? `${s}s` : ''}`;
  return out === '' ? '0s' : out;
}

const seconds = (s: number): string => (s < 60 ? `${s} s` : formatDuration(s));

function subject(spec: RuleSpec): string {
  const f = spec.filters;
  const who: string[] = [];
  if (f.application !== undefined) who.push(`app ${f.application}`);
  if (f.user !== undefined) who.push(`user ${f.user}`);
  if (f.database !== undefined) who.push(`database ${f.database}`);
  if (f.queryId !== undefined) who.push(`query id ${f.queryId}`);
  const of = who.join(', ');
  if (spec.action === 'cancel') return `cancel any statement of ${of}`;
  return `terminate any session of ${of}`;
}

/** HH:MM UTC of an ISO time. */
export function clock(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(11, 16)} UTC`;
}

/**
 * The rule in one sentence: "cancel any statement of app rails-migrate that has waited ≥ 5 s on a lock while
 * ≥ 3 sessions wait behind it — at most 10 times, until 14:30 UTC". Before approval: "for 2h once approved".
 */
export function describeRule(spec: RuleSpec, expiresAt: string | null): string {
  const f = FLOOR[spec.cause];
  const fromAlert = spec.thresholds[f.rule] === undefined;
  const t: RuleThresholds =
    fromAlert && spec.alertFloorSeconds !== undefined
      ? { ...spec.thresholds, [f.rule]: spec.alertFloorSeconds }
      : spec.thresholds;
  // The threshold it acts at, said even when it is the alert's: "running for ≥ 30m (the alert threshold)".
  const at = (key: keyof RuleThresholds, s: number): string =>
    `${seconds(s)}${fromAlert && key === f.rule ? ' (the alert threshold)' : ''}`;
  const conditions: string[] = [];
  switch (spec.cause) {
    case 'lock-queue-head':
      conditions.push(
        t.waitingSeconds !== undefined
          ? `has waited ≥ ${at('waitingSeconds', t.waitingSeconds)} on a lock`
          : 'waits on a lock',
      );
      conditions.push(
        `at the head of a lock queue${t.blocking !== undefined ? ` while ≥ ${t.blocking} session${t.blocking === 1 ? '' : 's'} wait behind it` : ''}`,
      );
      break;
    case 'root-blocker':
      conditions.push(
        `blocks ${t.blocking !== undefined ? `≥ ${t.blocking} session${t.blocking === 1 ? '' : 's'}` : 'other sessions'}`,
      );
      if (t.waitingSeconds !== undefined)
        conditions.push(`one of them waiting ≥ ${at('waitingSeconds', t.waitingSeconds)}`);
      break;
    case 'idle-in-transaction':
      conditions.push(
        `is idle in a transaction${t.idleSeconds !== undefined ? ` for ≥ ${at('idleSeconds', t.idleSeconds)}` : ''}`,
      );
      break;
    case 'active':
      conditions.push('runs a statement');
      break;
  }
  if (t.idleSeconds !== undefined && spec.cause === 'root-blocker')
    conditions.push(`idle in a transaction for ≥ ${seconds(t.idleSeconds)}`);
  if (t.runningSeconds !== undefined) conditions.push(`running for ≥ ${at('runningSeconds', t.runningSeconds)}`);
  if (fromAlert && spec.alertFloorSeconds === undefined) conditions.push(`at the cluster's ${f.setting} threshold`);
  // Without the word, waits on advisory locks are not counted (any database user can take those).
  if (spec.advisoryLocks) conditions.push('counting sessions that wait on advisory locks');
  const until = expiresAt ? `until ${clock(expiresAt)}` : `for ${formatDuration(spec.lifetimeSeconds)} once approved`;
  const times = `at most ${spec.maxExecutions} time${spec.maxExecutions === 1 ? '' : 's'}`;
  const dry = spec.dryRun ? ' (dry run: says what it would do, signals nothing)' : '';
  return `${subject(spec)} that ${conditions.join(', ')} — ${times}, ${until}${dry}`;
}

/** The rule as typed, for the audit trail and the rules list. */
export function ruleText(spec: RuleSpec): string {
  const f = spec.filters;
  const t = spec.thresholds;
  const words: string[] = [spec.action, spec.cause];
  const q = (v: string) => (/[\s"]/.test(v) ? `"${v.replace(/"/g, '')}"` : v);
  if (f.application !== undefined) words.push(`app:${q(f.application)}`);
  if (f.user !== undefined) words.push(`user:${q(f.user)}`);
  if (f.database !== undefined) words.push(`db:${q(f.database)}`);
  if (f.queryId !== undefined) words.push(`query_id:${f.queryId}`);
  if (t.waitingSeconds !== undefined) words.push(`waiting:${formatDuration(t.waitingSeconds)}`);
  if (t.blocking !== undefined) words.push(`blocking:${t.blocking}`);
  if (t.idleSeconds !== undefined) words.push(`idle:${formatDuration(t.idleSeconds)}`);
  if (t.runningSeconds !== undefined) words.push(`running:${formatDuration(t.runningSeconds)}`);
  if (spec.advisoryLocks) words.push('advisory');
  words.push(`for:${formatDuration(spec.lifetimeSeconds)}`, `max:${spec.maxExecutions}`);
  if (spec.dryRun) words.push('dry-run');
  return words.join(' ');
}
