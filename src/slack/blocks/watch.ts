// Alert messages of the watcher: one per incident, naming the cause in plain words and offering the
// request buttons that fit it (the same buttons, modal and two-person rule as a listing row), Snooze, and
// once cleared, how long it lasted and why it ended. Pure: data in, Block Kit out.
import type { ActionsBlock, Button, KnownBlock } from '@slack/types';
import { formatDuration } from '../../domain/duration.js';
import {
  reliefOf,
  type ClearReason,
  type ConnectionGroup,
  type ConnectionUse,
  type Incident,
  type IncidentCause,
  type LiveIncident,
  type RootSession,
} from '../../domain/watch.js';
import { ACTION, encodeSnooze, encodeStorm, encodeTarget, SNOOZE_MINUTES, snoozeActionId } from './ids.js';
import { LIMITS, codeSpan, inlineText, slackDate, truncate, userMention, type RenderedMessage } from './mrkdwn.js';

const QUERY_CHARS = 300;
const NAME_CHARS = 80;

export const CAUSE_TITLES: Record<IncidentCause, string> = {
  'lock-queue-head': 'A DDL waits at the head of a lock queue',
  'root-blocker': 'A session blocks others',
  'idle-in-transaction': 'A transaction sits idle',
  active: 'A query runs long',
  'query-storm': 'A query storm',
  connections: 'Connections nearly used up',
  'replication-lag': 'A standby lags behind',
  'cluster-down': 'The cluster does not answer',
};

/** A cluster that refused pgsessions' connection (53300) answered: it is full, not silent. */
const isFull = (i: { cause: IncidentCause; error?: string | null }): boolean =>
  i.cause === 'cluster-down' && /\(53300\)$/.test(i.error ?? '');

/** The incident's title: its cause's, except a "down" cluster that in fact said it is full. */
export function incidentTitle(i: { cause: IncidentCause; error?: string | null }): string {
  return isFull(i) ? 'The cluster is full (max_connections reached)' : CAUSE_TITLES[i.cause];
}

const name = (value: string | null | undefined): string => (value ? inlineText(value, NAME_CHARS) : '—');

function who(r: RootSession): string {
  return `*pid ${r.pid}* (user ${name(r.user)}, db ${name(r.database)}, app ${name(r.application)})`;
}

function query(r: RootSession): string {
  return r.query === null ? '_query text not shown_' : codeSpan(r.query, QUERY_CHARS);
}

function lockText(i: Incident): string {
  if (!i.lock) return '';
  const what = i.lock.relation
    ? `\`${inlineText(i.lock.relation, NAME_CHARS)}\``
    : i.lock.relationOid !== null
      ? `relation OID ${i.lock.relationOid}`
      : i.lock.transactionId
        ? `transaction ${name(i.lock.transactionId)}`
        : name(i.lock.locktype);
  return `${name(i.lock.mode)} on ${what}`;
}

function apps(i: Incident): string {
  return i.applications.length > 0 ? ` (apps: ${i.applications.map((a) => name(a)).join(', ')})` : '';
}

const sessions = (n: number) => `${n} ${n === 1 ? 'session' : 'sessions'}`;

function gib(bytes: number): string {
  return bytes >= 1024 ** 3 ? `${(bytes / 1024 ** 3).toFixed(1)} GB` : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

/** The cause in plain words. */
export function describeIncident(i: Incident): string {
  const r = i.root;
  switch (i.cause) {
    case 'lock-queue-head':
      return r
        ? `${query(r)} — ${who(r)} — is waiting for ${lockText(i)}${i.behind ? ` behind pid ${i.behind.pid} (${name(i.behind.state)} for ${formatDuration(i.behind.ageSeconds)})` : ''} and *${sessions(i.waiting)} wait behind it*${apps(i)}, the oldest for ${formatDuration(i.oldestWaitSeconds)}.\nCancelling the waiting statement drains the queue at once; it loses only a retry of the migration.`
        : 'A lock queue';
    case 'root-blocker':
      return r
        ? `${who(r)} is *${name(r.state)} for ${formatDuration(r.ageSeconds)}* and holds ${lockText(i) || 'a lock'} that others want: *${sessions(i.waiting)} wait*${apps(i)}, the oldest for ${formatDuration(i.oldestWaitSeconds)}.\n${(r.state ?? '').startsWith('idle') ? 'Last query: ' : 'Query: '}${query(r)}`
        : 'A root blocker';
    case 'idle-in-transaction':
      return r
        ? `${who(r)} is *idle in transaction for ${formatDuration(r.ageSeconds)}*.\nLast query: ${query(r)}`
        : 'An idle transaction';
    case 'active':
      return r
        ? `${who(r)} has been *running one query for ${formatDuration(r.ageSeconds)}*:\n${query(r)}`
        : 'A long query';
    case 'query-storm':
      return r
        ? `*${i.members.length} sessions* run ${query(r)}${apps(i)}, the oldest for ${formatDuration(r.ageSeconds)}.`
        : 'A query storm';
    case 'connections': {
      const c = i.connections;
      return c ? [`*${connectionUse(c)}*`, ...connectionHolders(c)].join('\n') : 'Connections';
    }
    case 'replication-lag':
      return r
        ? `Walsender *pid ${r.pid}* (app ${name(r.application)}) is ${gib(i.lagBytes ?? 0)} behind in replay.`
        : 'Replication lag';
    case 'cluster-down':
      return isFull(i)
        ? `The cluster refuses new connections (${name(i.error)}) and pgsessions\u2019 reserved connection to it is lost too: listings and kills fail until a connection frees.`
        : `pgsessions cannot read this cluster: ${name(i.error)}. Listings and kills fail until it answers again.`;
  }
}

/** `412 of 500: 300 idle, 80 active, 32 idle in transaction`. */
export function connectionUse(c: {
  total: number;
  available: number;
  idle: number;
  active: number;
  idleInTransaction: number;
}): string {
  return `${c.total} of ${c.available}: ${c.idle} idle, ${c.active} active, ${c.idleInTransaction} idle in transaction`;
}

const groupName = (g: ConnectionGroup): string => (g.name === '' ? '_(none)_' : codeSpan(g.name, NAME_CHARS + 2));

/** `rails` 57 (50 idle, 2 idle in transaction, 5 active) · … per kind, largest first: who holds the connections. */
export function connectionHolders(c: ConnectionUse): string[] {
  if (!c.top) return [];
  const line = (label: string, groups: ConnectionGroup[]) =>
    groups.length === 0
      ? []
      : [
          `${label}: ${groups.map((g) => `${groupName(g)} ${g.total} (${g.idle} idle, ${g.idleInTransaction} idle in transaction, ${g.active} active)`).join(' · ')}`,
        ];
  return [
    ...line('Applications', c.top.applications),
    ...line('Users', c.top.users),
    ...line('Client addresses', c.top.clients),
  ];
}

export function describeClearReason(reason: ClearReason | null): string {
  switch (reason?.kind) {
    case 'request':
      if (reason.counts) {
        return `relieved by request \`${reason.requestId}\` (${reason.action} ${reason.counts.done} of ${reason.counts.of}${reason.approver ? `, approved by ${userMention(reason.approver)}` : ''})`;
      }
      return `${reason.action} through request \`${reason.requestId}\`${reason.approver ? ` (approved by ${userMention(reason.approver)})` : ''}`;
    case 'rule':
      return `relieved by standing approval \`${reason.ruleId}\`: ${reason.action} without anyone clicking (proposed by ${userMention(reason.proposer)}, approved by ${reason.approver ? userMention(reason.approver) : '—'})`;
    case 'ended':
      return 'ended by itself';
    case 'back':
      return 'the cluster answers again';
    default:
      return 'no longer over the threshold';
  }
}

function button(text: string, actionId: string, value: string, style?: 'primary' | 'danger'): Button {
  return {
    type: 'button',
    text: { type: 'plain_text', text: truncate(text, LIMITS.buttonText) },
    action_id: actionId,
    value,
    ...(style ? { style } : {}),
  };
}

function target(cluster: string, r: RootSession, kind: 'cancel' | 'terminate'): string {
  return encodeTarget({
    cluster,
    pid: r.pid,
    backendStart: r.backendStart,
    queryStart: kind === 'cancel' ? r.queryStart : null,
    kind,
  });
}

/**
 * The request buttons that fit the cause; each opens the same request form as a listing row. A storm's
 * button names only the incident (incidentId): its frozen sessions are read from the store when clicked.
 */
export function requestButtons(i: Incident, incidentId?: string): Button[] {
  const relief = reliefOf(i);
  if (relief && incidentId) {
    const app = relief.application === '' ? 'no application name' : `app ${relief.application}`;
    return [
      button(
        `Request terminate of the ${relief.idle} idle sessions of ${app}…`,
        ACTION.watchRelieveConnections,
        encodeStorm(incidentId),
        'danger',
      ),
    ];
  }
  const r = i.root;
  if (!r) return [];
  if (i.cause === 'query-storm') {
    return incidentId && i.members.length > 0
      ? [
          button(
            `Request cancel of these ${i.members.length}…`,
            ACTION.watchCancelStorm,
            encodeStorm(incidentId),
            'primary',
          ),
        ]
      : [];
  }
  const running = r.state === 'active' && r.queryStart !== null;
  switch (i.cause) {
    case 'lock-queue-head': {
      const out = running
        ? [button('Request cancel of the waiting DDL…', ACTION.cancel, target(i.cluster, r, 'cancel'), 'primary')]
        : [];
      if (i.behind)
        out.push(
          button(
            `Request terminate of pid ${i.behind.pid} (what it waits behind)…`,
            ACTION.terminate,
            target(i.cluster, i.behind, 'terminate'),
          ),
        );
      return out;
    }
    case 'root-blocker': {
      const out = [
        button('Request terminate of the root blocker…', ACTION.terminate, target(i.cluster, r, 'terminate'), 'danger'),
      ];
      if (running) out.unshift(button('Request cancel of its query…', ACTION.cancel, target(i.cluster, r, 'cancel')));
      return out;
    }
    case 'idle-in-transaction':
      return [
        button(
          'Request terminate of the idle transaction…',
          ACTION.terminate,
          target(i.cluster, r, 'terminate'),
          'danger',
        ),
      ];
    case 'active':
      return running
        ? [
            button('Request cancel of the query…', ACTION.cancel, target(i.cluster, r, 'cancel')),
            button('Request terminate…', ACTION.terminate, target(i.cluster, r, 'terminate')),
          ]
        : [];
    default:
      return [];
  }
}

export interface IncidentMessageInput {
  incident: LiveIncident;
  now: Date;
}

export function buildIncidentMessage(input: IncidentMessageInput): RenderedMessage {
  const { incident: live } = input;
  const i = live.incident;
  const title = incidentTitle({ cause: live.cause, error: i.error });
  const cleared = live.status === 'cleared';
  const opened = slackDate(live.openedAt) ?? live.openedAt;
  const blocks: KnownBlock[] = [];
  if (cleared) {
    const lasted = live.clearedAt
      ? formatDuration((Date.parse(live.clearedAt) - Date.parse(live.openedAt)) / 1000)
      : '—';
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(
          `:white_check_mark: *Cleared* on \`${name(live.cluster)}\` after ${lasted}: ${describeClearReason(live.clearReason)}.\n~${title}~`,
          LIMITS.sectionText,
        ),
      },
    });
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(describeIncident(i), LIMITS.sectionText) } });
  } else {
    blocks.push({
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: truncate(`:rotating_light: *${title}* on \`${name(live.cluster)}\``, LIMITS.sectionText),
      },
    });
    blocks.push({ type: 'section', text: { type: 'mrkdwn', text: truncate(describeIncident(i), LIMITS.sectionText) } });
    const elements: Button[] = [...requestButtons(i, live.id)];
    if (!live.snoozed) {
      for (const minutes of SNOOZE_MINUTES)
        elements.push(
          button(
            `Snooze ${minutes < 60 ? `${minutes} min` : `${minutes / 60} h`}`,
            snoozeActionId(minutes),
            encodeSnooze(live.id, minutes),
          ),
        );
    }
    if (elements.length > 0)
      blocks.push({ type: 'actions', elements: elements.slice(0, LIMITS.actionsElements) } satisfies ActionsBlock);
  }
  const context = [`opened ${opened}`, `cause \`${live.cause}\``];
  if (live.snoozed && live.snoozedUntil && !cleared)
    context.push(
      `:zzz: snoozed by ${userMention(live.snoozedBy ?? '')} until ${slackDate(live.snoozedUntil, '{time}') ?? live.snoozedUntil}`,
    );
  blocks.push({
    type: 'context',
    elements: [{ type: 'mrkdwn', text: truncate(context.join(' · '), LIMITS.sectionText) }],
  });
  const text = cleared ? `Cleared on ${live.cluster}: ${title}` : `${title} on ${live.cluster}`;
  return { text: truncate(text, LIMITS.fallbackText), blocks };
}

/** The one message that lists the incidents beyond the per-cluster cap of alert messages. */
export function buildWatchSummary(cluster: string, rest: LiveIncident[]): RenderedMessage {
  if (rest.length === 0) {
    return {
      text: `No further incidents on ${cluster}`,
      blocks: [
        {
          type: 'section',
          text: {
            type: 'mrkdwn',
            text: `:white_check_mark: No further incidents on \`${name(cluster)}\` beyond those with their own message.`,
          },
        },
      ],
    };
  }
  const lines = rest.slice(0, 20).map((r) => {
    const root = r.incident.root;
    return `• *${incidentTitle({ cause: r.cause, error: r.incident.error })}*${root ? ` — pid ${root.pid}, app ${name(root.application)}, ${formatDuration(root.ageSeconds)}` : ''}`;
  });
  if (rest.length > 20) lines.push(`… and ${rest.length - 20} more`);
  return {
    text: `${rest.length} more incidents on ${cluster}`,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: truncate(
            `:rotating_light: *${rest.length} more ${rest.length === 1 ? 'incident' : 'incidents'}* on \`${name(cluster)}\` (each gets its own message when one above clears):`,
            LIMITS.sectionText,
          ),
        },
      },
      { type: 'section', text: { type: 'mrkdwn', text: truncate(lines.join('\n'), LIMITS.sectionText) } },
    ],
  };
}
