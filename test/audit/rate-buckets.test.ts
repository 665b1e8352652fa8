// The shared rate-limit buckets (migration 011), played by someone who holds only the runtime role's
// password (production set-up: an owner migrates, the app runs as the runtime role). They may fill or empty
// a person's bucket — allow or refuse that person's listings and requests — and nothing more: a bucket
// filled past the burst still gives at most the burst, an emptied one is a plain sentence, the table's
// shape is not theirs to change, and no bucket makes pgsessions signal without an approval.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import type pg from 'pg';
import { READ_LIMITED_MESSAGE } from '../../src/slack/guards/read-limit.js';
import { SIGNING_SECRET } from '../helpers/app.js';
import { command, fresh, sessionTracker, stateQuery } from '../helpers/approval-flow.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { slashCommand } from '../helpers/slack-requests.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { connectedAs, productionRoles } from '../helpers/production-roles.js';

const roles = productionRoles('rb');
const BURST = 3;

let runtimeUrl: string;
const sessions = sessionTracker();

const attacker = <T>(work: (c: pg.Client) => Promise<T>): Promise<T> => connectedAs(runtimeUrl, work);

// The app runs on the runtime role over a state database the owner migrated (in prepare).
const { db, slack, app } = useTestApp({
  database: 'ratebkatk',
  async prepare(database) {
    runtimeUrl = await roles.prepare(database);
  },
  env: () => ({
    STATE_DATABASE_URL: runtimeUrl,
    PGSESSIONS_LISTING_RATE: '30/1h',
    PGSESSIONS_LISTING_BURST: String(BURST),
    PGSESSIONS_REQUEST_RATE: '2/1h',
  }),
  // A loaded machine may take longer than the default to open a connection: no fallback muddles this test.
  start: { rateLimitTimeoutMs: 5_000 },
  sessions,
});
// After the fixture has dropped the database the owner's objects live in.
after(async () => {
  await roles.drop();
});

async function list(user: string): Promise<'served' | 'refused'> {
  const res = await slashCommand(app.port, SIGNING_SECRET, {
    text: 'blocking',
    userId: user,
    channelId: 'CRB',
    responseUrl: slack.responseUrl(fresh('rb')),
  });
  assert.equal(res.status, 200);
  return (res.json as { text?: string } | null)?.text === READ_LIMITED_MESSAGE ? 'refused' : 'served';
}

const setTokens = (person: string, bucket: string, tokens: string) =>
  attacker((c) =>
    c.query(
      `INSERT INTO pgsessions.rate_buckets (bucket, person, tokens, at) VALUES ($1, $2, $3::float8, now())
       ON CONFLICT (bucket, person) DO UPDATE SET tokens = EXCLUDED.tokens, at = now()`,
      [bucket, person, tokens],
    ),
  );

test('attacker: a bucket filled to a billion gives the burst, no more; an emptied one refuses in a sentence', async () => {
  const person = fresh('UFILLED');
  await setTokens(person, 'listing', '1e9');
  const answers: string[] = [];
  for (let i = 0; i < BURST + 1; i++) answers.push(await list(person));
  assert.deepEqual(answers, [...Array(BURST).fill('served'), 'refused']);

  // Values no replica writes: the statement copes (refused, or capped at the burst), never an error.
  for (const [tokens, expected] of [
    ['-Infinity', 'refused'],
    ['NaN', 'served'],
  ] as const) {
    const victim = fresh('UODD');
    await setTokens(victim, 'listing', tokens);
    assert.equal(await list(victim), expected, tokens);
  }
  assert.ok(!app.logs.some((l) => l.includes('rate limits: the state database')), 'no statement failed');
  const emptied = fresh('UEMPTIED');
  await setTokens(emptied, 'listing', '-1000');
  assert.equal(await list(emptied), 'refused', app.logs.filter((l) => l.includes('rate limits')).join('\n'));
});

test('attacker: a refilled request bucket posts requests, and still nothing is signalled without an approver', async () => {
  const person = fresh('UREFILL');
  const victim = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'rb-victim' }));
  for (let i = 0; i < 3; i++) {
    await setTokens(person, 'request', '1e9');
    const { text } = await command(slack, app.port, `terminate ${victim.pid} refill ${i}`, {
      user: person,
      channel: 'CRBREQ',
    });
    assert.match(text, /Request posted|already/);
  }
  await new Promise((resolve) => setTimeout(resolve, 500));
  assert.equal(await sessionAlive(db.url, victim.pid), true, 'nothing was signalled');
  const executed = await stateQuery<{ n: number }>(
    db.url,
    "SELECT count(*)::int AS n FROM pgsessions.requests WHERE requester = $1 AND status NOT IN ('pending')",
    [person],
  );
  assert.equal(executed[0]!.n, 0);
});

test('attacker: the table is not theirs to reshape, and only the two buckets exist', async () => {
  for (const sql of [
    'TRUNCATE pgsessions.rate_buckets',
    'ALTER TABLE pgsessions.rate_buckets DROP CONSTRAINT rate_buckets_bucket_check',
    'DROP TABLE pgsessions.rate_buckets',
  ]) {
    await assert.rejects(
      attacker((c) => c.query(sql)),
      (e: { code?: string }) => e.code === '42501',
      sql,
    );
  }
  await assert.rejects(setTokens(fresh('U'), 'approve', '5'), (e: { code?: string }) => e.code === '23514');
});
