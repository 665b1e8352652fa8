// Why a cluster did not answer, in one vocabulary for every sentence that says so. A server that answered
// "full" is not "unreachable": the on-call engineer needs to know which, and what pgsessions did instead.
export const TROUBLES = ['full', 'pooler_full', 'busy', 'unreachable'] as const;
export type Trouble = (typeof TROUBLES)[number];

/** Who refused a new connection: the server (max_connections, 53300) or a pooler in front of it (max_client_conn). */
export type Refusal = 'server' | 'pooler';

/** Short headline, plain words, no host or port (each is safe in any channel). */
export const TROUBLE_HEADLINE: Record<Trouble, string> = {
  full: 'cluster full: max_connections reached (53300)',
  pooler_full: 'connection pooler full: no more connections allowed (max_client_conn)',
  busy: 'cluster too busy: every pgsessions connection to it is taken by earlier queries',
  unreachable: 'cluster unreachable',
};

/**
 * The sentence for an action that could not run. A refusal reaches a user only when pgsessions' reserved
 * connection was no help either (it is lost, and reopening it was refused too): so the sentence says so.
 */
export const TROUBLE_SENTENCE: Record<Trouble, string> = {
  full: 'The cluster is full: max_connections reached (53300), and pgsessions\u2019 reserved connection to it is lost (it is reopened as soon as a connection frees).',
  pooler_full:
    'The connection pooler in front of the cluster is full: no more connections allowed (max_client_conn), and pgsessions\u2019 reserved connection through it is lost.',
  busy: 'The cluster is too busy to answer: every pgsessions connection to it is taken by earlier queries.',
  unreachable: 'The cluster cannot be reached right now.',
};

/** Said on an answer that came through the reserved connection because new connections were refused. */
export function reservedNote(refusal: Refusal): string {
  const why =
    refusal === 'server'
      ? 'is full: max_connections reached (53300)'
      : 'is full at its connection pooler: no more connections allowed (max_client_conn)';
  return `${why} — listed through pgsessions\u2019 reserved connection.`;
}
