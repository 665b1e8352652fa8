// The `/pgsessions` grammar: a subcommand word, then Slack-search-style `key:value` modifiers in any
// order. A mistake is a value (`kind: 'invalid'`) whose message names the bad word and is plain text (the
// renderer escapes it and shows USAGE under it); only a bug in the parser throws.

import { InvalidCommand } from './errors.js';
import { parseDuration } from './duration.js';
import type { ListFilters, SessionState } from './types.js';
import { checkRule, type RuleDraft, type RuleSpec } from './rules.js';
import { ALL_CLUSTERS } from './fleet.js';
import { drainCommand } from './drain-command.js';
import { quoteWord, splitModifier, type Token, tokenize } from './command-tokens.js';

export type ParsedCommand =
  | { kind: 'top'; cluster?: string; filters: ListFilters }
  | { kind: 'blocking' | 'replication' | 'status' | 'pending'; cluster?: string }
  | { kind: 'cancel'; cluster?: string; pid: number; reason: string; escalateAfterSeconds: number | null }
  | { kind: 'terminate'; cluster?: string; pid: number; reason: string }
  | {
      kind: 'terminate-all';
      cluster?: string;
      database: string;
      user?: string;
      application?: string;
      reason: string;
    }
  | { kind: 'drain'; cluster?: string; database: string; windowSeconds: number; reason: string }
  | { kind: 'undrain'; cluster?: string; database: string }
  | { kind: 'allow'; cluster?: string; rule: RuleSpec }
  | { kind: 'rules'; cluster?: string }
  | { kind: 'help' }
  | { kind: 'invalid'; message: string };

export const DEFAULT_LIMIT = 20;
export const MAX_LIMIT = 200;
export const MIN_ESCALATE_SECONDS = 1;
export const MAX_ESCALATE_SECONDS = 300;
/** PostgreSQL identifiers and application_name stop at 63 bytes (NAMEDATALEN - 1). */
export const MAX_NAME_LENGTH = 63;
export const MAX_PID = 2_147_483_647;

/** What users type after `state:`, mapped to how pg_stat_activity spells it. */
export const STATE_WORDS = {
  active: 'active',
  idle: 'idle',
  'idle-in-transaction': 'idle in transaction',
  'idle-in-transaction-aborted': 'idle in transaction (aborted)',
  fastpath: 'fastpath function call',
  disabled: 'disabled',
} as const satisfies Record<string, SessionState>;

export const USAGE = [
  '*Usage:* `/pgsessions [command] [key:value …]` — modifiers in any order; quote values with spaces: `app:"my app"`',
  '• `/pgsessions [top] [cluster:NAME] [db:NAME] [user:NAME] [app:NAME] [state:STATE] [min:30s] [limit:N]` — the longest-running sessions that are not idle, longest first. STATE is one of `active`, `idle`, `idle-in-transaction`, `idle-in-transaction-aborted`, `fastpath`, `disabled`; `min:` is a duration like `30s`, `5m`, `1h30m`; `limit:` is 1–200 (default 20); `cluster:*` lists every cluster you may look at, with the same filters.',
  '• `/pgsessions blocking [cluster:NAME]` — who blocks whom, root blockers first.',
  '• `/pgsessions replication [cluster:NAME]` — walsenders by application_name, with lag.',
  "• `/pgsessions status [cluster:NAME]` — the server version and what the bot's role can and cannot do.",
  '• `/pgsessions cancel PID [cluster:NAME] [escalate:10s] [reason…]` — ask to cancel the running query; `escalate:` terminates it if it is still running that long after the cancel (1s–300s).',
  '• `/pgsessions terminate PID [cluster:NAME] [reason…]` — ask to end the session.',
  '• `/pgsessions terminate-all db:NAME [user:NAME] [app:NAME] [cluster:NAME] [reason…]` — ask to end every session of one database; approval ends exactly the sessions listed in the request.',
  '• `/pgsessions drain db:NAME for:DURATION [cluster:NAME] reason…` — ask to keep a database empty for a maintenance window (at most PGSESSIONS_DRAIN_MAX): on approval it refuses new connections and ends every session of it; at the end it gets back exactly its previous connection settings. `/pgsessions undrain db:NAME [cluster:NAME]` ends it now.',
  '• `/pgsessions pending [cluster:NAME]` — open requests.',
  '• `/pgsessions allow cancel|terminate CAUSE FILTER… [THRESHOLD…] for:2h [max:5] [cluster:NAME] [dry-run] [advisory] reason…` — propose a standing approval: once a second person approves, the watcher signals matching sessions by itself. CAUSE is `lock-queue-head`, `root-blocker`, `idle-in-transaction` or `active`; at least one FILTER `app:`, `user:`, `db:`, `query_id:`; THRESHOLDs `waiting:5s`, `blocking:3`, `idle:15m`, `running:10m`; `for:` at most 24h; `max:` executions (default 5); without a threshold a rule acts at the alert threshold; `advisory` lets `blocking:`/`waiting:` count sessions waiting on advisory locks (any database user can take those).',
  '• `/pgsessions rules [cluster:NAME]` — active and proposed standing approvals, with Revoke.',
  '• `/pgsessions help` — this text.',
  'Every cancel or terminate waits for a second person to approve it.',
].join('\n');

type Kind = Exclude<ParsedCommand['kind'], 'invalid'>;
type ModifierKey =
  | 'cluster'
  | 'db'
  | 'user'
  | 'app'
  | 'state'
  | 'min'
  | 'limit'
  | 'escalate'
  | 'query_id'
  | 'waiting'
  | 'blocking'
  | 'idle'
  | 'running'
  | 'for'
  | 'max';

const SUBCOMMANDS: Record<string, Kind> = {
  top: 'top',
  blocking: 'blocking',
  replication: 'replication',
  status: 'status',
  cancel: 'cancel',
  terminate: 'terminate',
  'terminate-all': 'terminate-all',
  drain: 'drain',
  undrain: 'undrain',
  pending: 'pending',
  allow: 'allow',
  rules: 'rules',
  help: 'help',
};

/** Every word that starts a subcommand, as typed: the manifest's usage hint names each. */
export const SUBCOMMAND_WORDS: readonly string[] = Object.keys(SUBCOMMANDS);

/** Which modifiers each subcommand understands. */
const MODIFIERS: Record<Kind, readonly ModifierKey[]> = {
  top: ['cluster', 'db', 'user', 'app', 'state', 'min', 'limit'],
  blocking: ['cluster'],
  replication: ['cluster'],
  status: ['cluster'],
  pending: ['cluster'],
  cancel: ['cluster', 'escalate'],
  terminate: ['cluster'],
  'terminate-all': ['cluster', 'db', 'user', 'app'],
  drain: ['cluster', 'db', 'for'],
  undrain: ['cluster', 'db'],
  allow: ['cluster', 'db', 'user', 'app', 'query_id', 'waiting', 'blocking', 'idle', 'running', 'for', 'max'],
  rules: ['cluster'],
  help: [],
};

function fail(message: string): never {
  throw new InvalidCommand(message);
}

function parseName(key: string, value: string): string {
  if (value.length === 0) fail(`${key}: needs a value, e.g. ${key}:NAME.`);
  if (Array.from(value).length > MAX_NAME_LENGTH) {
    fail(`${key}: must be at most ${MAX_NAME_LENGTH} characters, got ${quoteWord(value)}.`);
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is refused
  if (/[\u0000-\u001f\u007f-\u009f]/.test(value)) fail(`${key}: must not contain control characters.`);
  return value;
}

function parsePid(word: string): number {
  if (/^\d{1,10}$/.test(word)) {
    const pid = Number(word);
    if (pid >= 1 && pid <= MAX_PID) return pid;
  }
  return fail(`PID must be a positive whole number, got ${quoteWord(word)}.`);
}

interface Collected {
  modifiers: Partial<Record<ModifierKey, string>>;
  /** Words that are not modifiers, in order (raw, quotes kept). */
  words: string[];
}

function collect(kind: Kind, tokens: Token[], freeWordsAllowed: boolean): Collected {
  const allowed = MODIFIERS[kind];
  const modifiers: Partial<Record<ModifierKey, string>> = {};
  const words: string[] = [];
  for (const token of tokens) {
    const mod = splitModifier(token);
    const key = mod && (allowed as readonly string[]).includes(mod.key) ? (mod.key as ModifierKey) : null;
    if (mod && key) {
      if (token.unterminated) fail(`${key}: has a quote that is never closed: ${quoteWord(token.raw)}.`);
      if (modifiers[key] !== undefined) fail(`${key}: is given twice.`);
      modifiers[key] = mod.value;
    } else if (freeWordsAllowed) {
      words.push(token.raw);
    } else if (mod) {
      fail(`${quoteWord(token.raw)}: ${mod.key}: is not a modifier of ${kind}.`);
    } else {
      fail(`Unknown word ${quoteWord(token.raw)} for ${kind}.`);
    }
  }
  return { modifiers, words };
}

function withCluster<T extends { kind: Kind }>(value: T, cluster: string | undefined): T & { cluster?: string } {
  if (cluster === undefined) return value;
  // `cluster:*` spans the fleet; only the listing can (see domain/fleet.ts), and every other command says so.
  if (cluster === ALL_CLUSTERS) {
    if (value.kind !== 'top')
      fail(`cluster:* works with a listing only: ${value.kind} needs one cluster, cluster:NAME.`);
    return { ...value, cluster };
  }
  return { ...value, cluster: parseName('cluster', cluster) };
}

function parseTop(tokens: Token[]): ParsedCommand {
  const { modifiers: m } = collect('top', tokens, false);
  const filters: ListFilters = { limit: DEFAULT_LIMIT };
  if (m.db !== undefined) filters.database = parseName('db', m.db);
  if (m.user !== undefined) filters.user = parseName('user', m.user);
  if (m.app !== undefined) filters.application = parseName('app', m.app);
  if (m.state !== undefined) {
    const word = m.state.toLowerCase();
    if (!Object.hasOwn(STATE_WORDS, word)) {
      fail(`state: must be one of ${Object.keys(STATE_WORDS).join(', ')}; got ${quoteWord(m.state)}.`);
    }
    filters.state = STATE_WORDS[word as keyof typeof STATE_WORDS];
  }
  if (m.min !== undefined) {
    const seconds = parseDuration(m.min);
    if (seconds === null) fail(`min: needs a duration like 30s, 5m or 1h30m (at most 30d), got ${quoteWord(m.min)}.`);
    filters.minSeconds = seconds;
  }
  if (m.limit !== undefined) {
    const n = /^\d{1,4}$/.test(m.limit) ? Number(m.limit) : NaN;
    if (!(n >= 1 && n <= MAX_LIMIT))
      fail(`limit: must be a whole number from 1 to ${MAX_LIMIT}, got ${quoteWord(m.limit)}.`);
    filters.limit = n;
  }
  return withCluster({ kind: 'top' as const, filters }, m.cluster);
}

/** cancel / terminate: the first word that is not a modifier is the PID; the other words are the reason. */
function parseKill(kind: 'cancel' | 'terminate', tokens: Token[]): ParsedCommand {
  const { modifiers: m, words } = collect(kind, tokens, true);
  const [pidWord, ...reasonWords] = words;
  if (pidWord === undefined) fail(`${kind} needs a PID, e.g. /pgsessions ${kind} 12345 runaway report.`);
  const pid = parsePid(pidWord);
  const reason = reasonWords.join(' ');
  if (kind === 'terminate') return withCluster({ kind, pid, reason }, m.cluster);
  let escalateAfterSeconds: number | null = null;
  if (m.escalate !== undefined) {
    const seconds = parseDuration(m.escalate);
    if (seconds === null || seconds < MIN_ESCALATE_SECONDS || seconds > MAX_ESCALATE_SECONDS) {
      fail(`escalate: needs a duration from 1s to 300s, like 10s or 2m, got ${quoteWord(m.escalate)}.`);
    }
    escalateAfterSeconds = seconds;
  }
  return withCluster({ kind, pid, reason, escalateAfterSeconds }, m.cluster);
}

function parseTerminateAll(tokens: Token[]): ParsedCommand {
  const { modifiers: m, words } = collect('terminate-all', tokens, true);
  if (m.db === undefined) fail('terminate-all needs db:NAME — the database whose sessions to end.');
  const result: Extract<ParsedCommand, { kind: 'terminate-all' }> = {
    kind: 'terminate-all',
    database: parseName('db', m.db),
    reason: words.join(' '),
  };
  if (m.user !== undefined) result.user = parseName('user', m.user);
  if (m.app !== undefined) result.application = parseName('app', m.app);
  return withCluster(result, m.cluster);
}

function parseSeconds(key: string, value: string): number {
  const seconds = parseDuration(value);
  if (seconds === null) fail(`${key}: needs a duration like 5s, 15m or 2h, got ${quoteWord(value)}.`);
  return seconds;
}

function parseCount(key: string, value: string, max: number): number {
  const n = /^\d{1,6}$/.test(value) ? Number(value) : NaN;
  if (!(n >= 1 && n <= max)) fail(`${key}: must be a whole number from 1 to ${max}, got ${quoteWord(value)}.`);
  return n;
}

/** allow ACTION CAUSE [dry-run] modifiers… reason…: collected here, judged by checkRule (src/domain/rules.ts). */
function parseAllow(tokens: Token[]): ParsedCommand {
  const { modifiers: m, words } = collect('allow', tokens, true);
  const [action, cause, ...rest] = words;
  if (action === undefined || cause === undefined) {
    fail(
      'allow needs an action and a cause, e.g. /pgsessions allow cancel lock-queue-head app:rails-migrate waiting:5s blocking:3 for:2h max:10 deploy window.',
    );
  }
  let dryRun = false;
  let advisoryLocks = false;
  const reasonWords: string[] = [];
  for (const w of rest) {
    if (w.toLowerCase() === 'dry-run' && !dryRun && reasonWords.length === 0) dryRun = true;
    else if (w.toLowerCase() === 'advisory' && !advisoryLocks && reasonWords.length === 0) advisoryLocks = true;
    else reasonWords.push(w);
  }
  const draft: RuleDraft = {
    action: action.toLowerCase(),
    cause: cause.toLowerCase(),
    filters: {},
    thresholds: {},
    lifetimeSeconds: m.for !== undefined ? parseSeconds('for', m.for) : null,
    maxExecutions: m.max !== undefined ? parseCount('max', m.max, 1000) : null,
    dryRun,
    advisoryLocks,
    reason: reasonWords.join(' '),
  };
  if (m.app !== undefined) draft.filters.application = parseName('app', m.app);
  if (m.user !== undefined) draft.filters.user = parseName('user', m.user);
  if (m.db !== undefined) draft.filters.database = parseName('db', m.db);
  if (m.query_id !== undefined) {
    if (!/^-?\d{1,20}$/.test(m.query_id))
      fail(`query_id: must be a whole number (as pg_stat_activity shows it), got ${quoteWord(m.query_id)}.`);
    draft.filters.queryId = m.query_id;
  }
  if (m.waiting !== undefined) draft.thresholds.waitingSeconds = parseSeconds('waiting', m.waiting);
  if (m.blocking !== undefined) draft.thresholds.blocking = parseCount('blocking', m.blocking, 100_000);
  if (m.idle !== undefined) draft.thresholds.idleSeconds = parseSeconds('idle', m.idle);
  if (m.running !== undefined) draft.thresholds.runningSeconds = parseSeconds('running', m.running);
  const checked = checkRule(draft);
  if (!checked.ok) fail(checked.refusal.message);
  return withCluster({ kind: 'allow' as const, rule: checked.value }, m.cluster);
}

function parseOrThrow(text: string): ParsedCommand {
  const tokens = tokenize(text);
  const first = tokens[0];
  if (first === undefined) return { kind: 'top', filters: { limit: DEFAULT_LIMIT } };
  const sub = Object.hasOwn(SUBCOMMANDS, first.raw.toLowerCase()) ? SUBCOMMANDS[first.raw.toLowerCase()] : undefined;
  // No subcommand word: a listing, if the words are listing modifiers (parseTop names the first that is not).
  if (sub === undefined) {
    if (splitModifier(first) === null) fail(`Unknown word ${quoteWord(first.raw)}.`);
    return parseTop(tokens);
  }
  const rest = tokens.slice(1);
  switch (sub) {
    case 'top':
      return parseTop(rest);
    case 'help':
      // `help cancel` still wants the help.
      return { kind: 'help' };
    case 'cancel':
    case 'terminate':
      return parseKill(sub, rest);
    case 'terminate-all':
      return parseTerminateAll(rest);
    case 'allow':
      return parseAllow(rest);
    case 'drain':
    case 'undrain': {
      const { modifiers: m, words } = collect(sub, rest, sub === 'drain');
      const db = m.db === undefined ? undefined : parseName('db', m.db);
      return withCluster(drainCommand(sub, { db, for: m.for, words }, fail), m.cluster);
    }
    case 'rules':
    case 'blocking':
    case 'replication':
    case 'status':
    case 'pending': {
      const { modifiers: m } = collect(sub, rest, false);
      return withCluster({ kind: sub }, m.cluster);
    }
  }
}

/**
 * Parse the text after `/pgsessions`. A mistake in the text comes back as `{ kind: 'invalid', message }`;
 * anything else thrown is a bug in this parser and is rethrown, never passed off as the user's mistake.
 */
export function parseCommand(text: string): ParsedCommand {
  try {
    return parseOrThrow(typeof text === 'string' ? text : '');
  } catch (err) {
    if (err instanceof InvalidCommand) return { kind: 'invalid', message: err.message };
    throw err;
  }
}
