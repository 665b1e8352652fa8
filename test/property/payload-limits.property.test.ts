// Listings, lock trees, alerts, request forms, approval messages and audit messages built from sessions a
// database user controls (application_name, user and database names, query text: maximum lengths, emoji,
// right-to-left text, mrkdwn, `<!channel>`) never produce a payload Slack would refuse. The check is the
// one the Slack stand-in answers with (src/slack/blocks/limits-check.ts). The attacker is any database user.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { liveIncident } from '../helpers/watched.js';
import type { BlockingRow, KillRequest, SessionRow } from '../../src/domain/types.js';
import type { Incident, LiveIncident } from '../../src/domain/watch.js';
import type { AuditEntry } from '../../src/domain/audit.js';
import { buildListing } from '../../src/slack/blocks/listing.js';
import { buildBlocking } from '../../src/slack/blocks/blocking.js';
import { buildApprovalMessage, buildPendingList } from '../../src/slack/blocks/request.js';
import { buildRequestModal } from '../../src/slack/blocks/request-form.js';
import { buildIncidentMessage, buildWatchSummary } from '../../src/slack/blocks/watch.js';
import { buildAuditMessage } from '../../src/audit/message.js';
import { withShareButton, asShared } from '../../src/slack/blocks/share.js';
import { sealed, verbatim } from '../../src/slack/blocks/mrkdwn.js';
import {
  checkMessageBlocks,
  checkMessageText,
  checkView,
  describeProblems,
} from '../../src/slack/blocks/limits-check.js';
import { INCIDENT_CAUSES } from '../../src/domain/watch.js';

const RUNS = Number(process.env.FUZZ_RUNS ?? 8);
const SESSIONS_PER_RUN = 125; // 8 runs × 125 = 1000 sessions by default

const HOSTILE_PIECES = [
  '<!channel>',
  '<!here>',
  '<@U0ADMIN>',
  '<#C0GENERAL>',
  '<https://evil.example|click>',
  '*bold*',
  '_it_',
  '~s~',
  '`',
  '```',
  '>',
  '&amp;',
  '&',
  '\u202E',
  '\u202D',
  '\u200F',
  'שלום',
  'مرحبا',
  '👩‍👩‍👧‍👦',
  '🏳️‍🌈',
  '\uD83D',
  '\n',
  '\t',
  ' ',
  ':skull:',
  '\u0000',
  'a'.repeat(63),
];
/** Text a database user may put in a name or a query: hostile pieces, any Unicode, up to `max` characters. */
const hostile = (max: number) =>
  fc
    .array(
      fc.oneof(
        fc.constantFrom(...HOSTILE_PIECES),
        fc.string({ unit: 'grapheme', maxLength: 40 }),
        fc.string({ unit: 'binary', maxLength: 40 }),
      ),
      { maxLength: 80 },
    )
    .map((parts) => parts.join(''))
    .chain((s) => fc.constantFrom(s.slice(0, max), (s + 'x'.repeat(max)).slice(0, max)));

const TS = '2026-11-25 14:36:10.123456+00';
const name = hostile(63);
const query = fc.oneof(hostile(5_000), hostile(100_000));

function sessionArb(i: number): fc.Arbitrary<SessionRow> {
  return fc
    .record({ user: name, database: name, application: name, query, client: fc.option(hostile(50)) })
    .map((r) => ({
      pid: 1000 + i,
      user: r.user,
      database: r.database,
      application: r.application,
      client: r.client,
      state: 'active',
      backendType: 'client backend',
      backendStart: `2026-11-25 14:36:${String(i % 60).padStart(2, '0')}.123456+00`,
      xactStart: TS,
      queryStart: TS,
      ageSeconds: 10_000 - i,
      queryAgeSeconds: 10_000 - i,
      xactAgeSeconds: 10_000 - i,
      waitEventType: null,
      waitEvent: null,
      blockedBy: [],
      blocking: 0,
      parallelWorkers: 0,
      queryId: null,
      query: r.query,
    }));
}

const sessionsArb = fc.tuple(...Array.from({ length: SESSIONS_PER_RUN }, (_, i) => sessionArb(i)));

function fail(what: string, problems: ReturnType<typeof checkMessageBlocks>): void {
  assert.deepEqual(problems, [], `${what} would be refused by Slack: ${describeProblems(problems)}`);
}

function assertMessage(what: string, message: { text: string; blocks: unknown[] }): void {
  const out = sealed(message);
  fail(what, [...checkMessageText(out.text), ...checkMessageBlocks(out.blocks)]);
}

function request(rows: SessionRow[], reason: string, status: KillRequest['status']): KillRequest {
  return {
    id: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c',
    cluster: 'main',
    action: 'terminate',
    targets: rows.map((s) => ({
      pid: s.pid,
      backendStart: s.backendStart,
      queryStart: s.queryStart,
      xactStart: s.xactStart,
      backendType: s.backendType,
      user: s.user,
      database: s.database,
      application: s.application,
      client: s.client,
      state: s.state,
      query: s.query,
    })),
    reason,
    requester: 'U0REQUESTER',
    channel: 'C0INCIDENT',
    messageTs: '1700000000.000100',
    status,
    decidedBy: status === 'pending' ? null : 'U0APPROVER',
    decidedAt: status === 'pending' ? null : '2026-11-25T14:41:00.000Z',
    createdAt: '2026-11-25T14:40:00.000Z',
    expiresAt: '2026-11-25T14:55:00.000Z',
    escalateAfterSeconds: null,
    scope: rows.length > 1 ? { database: rows[0]!.database ?? 'db' } : null,
    result:
      status === 'executed' ? { outcomes: rows.map((s) => ({ pid: s.pid, outcome: 'terminated' as const })) } : null,
  } as KillRequest;
}

function incident(rows: SessionRow[], cause: Incident['cause'], i: number): LiveIncident {
  const s = rows[i % rows.length]!;
  const root = { ...s, waitSeconds: 40 };
  const shaped = {
    key: `main|${cause}|${s.pid}`,
    cluster: 'main',
    cause,
    subject: `${s.pid}:${s.backendStart}`,
    root,
    waiting: rows.length,
    oldestWaitSeconds: 35,
    applications: rows.map((r) => r.application ?? ''),
    lock: {
      locktype: 'relation',
      mode: 'AccessExclusiveLock',
      relation: s.application,
      relationOid: 1,
      transactionId: null,
    },
    behind: { ...root, pid: s.pid + 1 },
    members: rows.map((r) => ({ pid: r.pid, backendStart: r.backendStart, queryStart: r.queryStart })),
    connections: null,
    lagBytes: cause === 'replication-lag' ? 1e12 : null,
    error: cause === 'cluster-down' ? s.query : null,
  } as Incident;
  return liveIncident(shaped, { id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}` });
}

test('renderers fed 1000 hostile sessions never produce a payload Slack would refuse', () => {
  const now = new Date('2026-11-25T14:41:00.000Z');
  fc.assert(
    fc.property(sessionsArb, hostile(3_000), (rows, reason) => {
      const top = rows.slice(0, 200);
      const listing = buildListing({
        cluster: 'main',
        rows: top,
        totalMatched: rows.length,
        filters: { limit: 200 },
        killable: () => true,
        invisible: 3,
      });
      assertMessage('a listing', listing);
      assertMessage(
        'a shared listing',
        asShared(withShareButton(listing, `top app:${rows[0]!.application}`), 'U0SHARER'),
      );
      const tree: BlockingRow[] = top.map((r, i) => ({
        ...r,
        depth: i % 5,
        blocksCount: 200 - i,
        blockedBy: i === 0 ? [] : [r.pid - 1],
      }));
      assertMessage('a lock tree', buildBlocking({ cluster: 'main', rows: tree, killable: () => true }));
      for (const status of ['pending', 'approved', 'executed', 'denied'] as const) {
        assertMessage(
          `an approval message (${status}, 1 session)`,
          buildApprovalMessage({ request: request(rows.slice(0, 1), reason, status), now }),
        );
        assertMessage(
          `an approval message (${status}, 200 sessions)`,
          buildApprovalMessage({ request: request(top, reason, status), now }),
        );
      }
      assertMessage(
        'the pending list',
        buildPendingList(Array.from({ length: 30 }, (_, i) => request(rows.slice(i, i + 2), reason, 'pending'))),
      );
      const s = rows[0]!;
      const modal = buildRequestModal({
        target: {
          kind: 'terminate',
          cluster: 'main',
          pid: s.pid,
          backendStart: s.backendStart,
          queryStart: s.queryStart,
        },
        snapshot: request([s], reason, 'pending').targets[0]!,
        channel: 'C0INCIDENT',
      });
      fail('the request form', checkView(verbatim(modal)));
      const alerts = INCIDENT_CAUSES.map((cause, i) => incident(top, cause, i));
      for (const alert of alerts)
        assertMessage(`an alert (${alert.cause})`, buildIncidentMessage({ incident: alert, now }));
      assertMessage('a watch summary', buildWatchSummary('main', alerts));
      const entry = {
        seq: 41,
        at: '2025-06-01T12:00:00.123456Z',
        requestId: '6d3f1c1e-8a7b-4f51-9a0e-0c6d1f2b3a4c',
        actor: 'U0APPROVER',
        cluster: 'main',
        prevHash: '0'.repeat(64),
        hash: 'a'.repeat(64),
        hashAlg: 'sha256',
        event: 'executed',
        details: {
          action: 'terminate',
          reason,
          requester: 'U0REQ',
          approver: 'U0APP',
          targets: request(top, reason, 'executed').targets,
          result: { outcomes: top.map((r) => ({ pid: r.pid, outcome: 'terminated' })) },
        },
      } as unknown as AuditEntry;
      assertMessage('an audit message', buildAuditMessage(entry));
    }),
    { numRuns: RUNS, includeErrorInReport: true },
  );
});

test('the Share button of a bare `/pgsessions` carries a value Slack accepts (an empty value is refused)', () => {
  const listing = buildListing({
    cluster: 'main',
    rows: [],
    totalMatched: 0,
    filters: { limit: 20 },
    killable: () => true,
  });
  const shared = withShareButton(listing, '');
  assertMessage('a bare listing with Share', shared);
  const share = shared.blocks.at(-1) as { elements: Array<{ value: string }> };
  assert.equal(share.elements[0]!.value, 'top');
});
