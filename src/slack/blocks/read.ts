// A read use case's value on screen: each answer to its renderer, each failure to one plain sentence.
import { readRefusalText } from '../../domain/messages.js';
import type { ReadAnswer, ReadFailure } from '../../domain/read-service.js';
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

/** The same sentence as plain text, for places that show no mrkdwn (a form's field error). */
export function readFailurePlain(failure: Omit<ReadFailure, 'message'>): string {
  // Strip the mrkdwn: code-span backticks, and the three escaped characters back to what they mean.
  return truncate(
    readFailureText(failure).replace(/`/g, '').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&'),
    2000,
  );
}

/** One plain sentence (mrkdwn) for a failed read, in the words of messages.ts; names as code spans. */
export function readFailureText(failure: Omit<ReadFailure, 'message'>): string {
  return readRefusalText(failure, (name) => `\`${inlineText(name, 63)}\``, inlineText);
}
