// A read use case's value on screen: each answer to its renderer, each failure to one plain sentence.
import type { ReadAnswer, ReadFailure } from '../../domain/reads.js';
import { buildBlocking } from './blocking.js';
import { buildHelp, type AuditTrust } from './help.js';
import { buildListing } from './listing.js';
import { inlineText, truncate, type RenderedMessage } from './mrkdwn.js';
import { buildPendingList } from './request.js';
import { buildReplication } from './replication.js';

export interface ReadView {
  readOnly: boolean;
  /** PGSESSIONS_QUERY_TEXT=none: say so instead of showing empty query lines. */
  queryHidden: boolean;
  /** What the audit trail can prove with this setup, shown by `status`. */
  audit?: AuditTrust;
}

export function buildReadAnswer(answer: ReadAnswer, view: ReadView): RenderedMessage {
  switch (answer.kind) {
    case 'top':
      return buildListing({
        cluster: answer.cluster,
        rows: answer.rows,
        totalMatched: answer.totalMatched,
        filters: answer.filters,
        killable: answer.killable,
        invisible: answer.hidden,
        connections: answer.connections,
        refused: answer.refused,
        recovery: answer.recovery,
        queryHidden: view.queryHidden,
      });
    case 'blocking':
      return buildBlocking({
        cluster: answer.cluster,
        rows: answer.rows,
        killable: answer.killable,
        queryHidden: view.queryHidden,
      });
    case 'replication':
      return buildReplication({ cluster: answer.cluster, rows: answer.rows, killable: answer.killable });
    case 'status':
    case 'help':
      return buildHelp({
        clusters: answer.clusters,
        readOnly: view.readOnly,
        ...(answer.kind === 'status' && view.audit ? { audit: view.audit } : {}),
      });
    case 'pending':
      return buildPendingList(answer.requests, { elsewhere: answer.elsewhere });
  }
}

const names = (known: string[]) => known.map((n) => `\`${inlineText(n, 63)}\``).join(', ');

/** The same sentence as plain text, for places that show no mrkdwn (a form's field error). */
export function readFailurePlain(failure: ReadFailure): string {
  // Strip the mrkdwn: code-span backticks, and the three escaped characters back to what they mean.
  return truncate(
    readFailureText(failure).replace(/`/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
    2000,
  );
}

/** One plain sentence (mrkdwn) for a failed read. Never a host name, port or server message: those are in the log. */
export function readFailureText(failure: ReadFailure): string {
  switch (failure.code) {
    case 'unknown_cluster':
      return `Unknown cluster ${inlineText(failure.asked, 63)}. Known clusters: ${names(failure.known)}.`;
    case 'choose_cluster':
      return `Name a cluster with cluster:NAME — one of ${names(failure.known)}.`;
    case 'not_viewer':
      return failure.cluster === undefined
        ? 'You are not among the people who may look at sessions here (PGSESSIONS_VIEWERS). Nothing was shown.'
        : `You are not among the people who may look at sessions on cluster \`${inlineText(failure.cluster, 63)}\` (PGSESSIONS_VIEWERS). Nothing was shown.`;
    case 'unreachable':
      return `Cannot reach cluster \`${inlineText(failure.cluster, 63)}\` right now (the details are in the app log). Nothing was changed.`;
    case 'full':
      return failure.refusal === 'server'
        ? `Cluster \`${inlineText(failure.cluster, 63)}\` is full: max_connections reached (53300), and pgsessions\u2019 reserved connection to it is lost too (it is reopened as soon as a connection frees). Nothing was changed.`
        : `The connection pooler in front of cluster \`${inlineText(failure.cluster, 63)}\` is full: no more connections allowed (max_client_conn), and pgsessions\u2019 reserved connection through it is lost too. Nothing was changed.`;
    case 'slow':
      return `Cluster \`${inlineText(failure.cluster, 63)}\` is slow: ${inlineText(failure.detail, 300)}. Nothing was changed; try again in a moment.`;
  }
}
