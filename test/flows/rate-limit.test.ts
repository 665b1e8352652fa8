// Per-user rate limits, played by a script: listings (the default burst of 10), kill requests and refused
// clicks (here 3, to keep the test short). A refused try gets a plain ephemeral sentence,
// and nothing is listed, stored, audited or posted for it; other users are served meanwhile.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { APPROVER, SIGNING_SECRET } from '../helpers/app.js';
import { approvalPosts, click, command, fresh, stateQuery, typedRequest } from '../helpers/approval-flow.js';
import { sleepSession, waitUntilGone, type SleepSession } from '../helpers/sessions.js';
import { slashCommand } from '../helpers/slack-requests.js';
import { FAILURE_MESSAGES } from '../../src/domain/messages.js';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { READ_LIMITED_MESSAGE } from '../../src/slack/guards/read-limit.js';
import { useTestApp } from '../helpers/use-test-app.js';

// The default burst of 10; the refill slowed from 30 a minute to 30 an hour, so that a loaded machine
// taking seconds over these steps cannot earn a user a token mid-test (the refill is tested with a clock
// in test/domain/rate-limit.test.ts). Requests: 3 an hour, likewise.
const { db, slack, app } = useTestApp({
  database: 'ratelimit',
  env: { PGSESSIONS_LISTING_RATE: '30/1h', PGSESSIONS_REQUEST_RATE: '3/1h' },
});

async function metric(series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${app.port}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

const auditCount = async () =>
  Number((await stateQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgsessions.audit_log'))[0]!.n);
const requestCount = async () =>
  Number((await stateQuery<{ n: string }>(db.url, 'SELECT count(*) AS n FROM pgsessions.requests'))[0]!.n);

test("a user's 11th rapid listing is refused with a plain message, while another user is served", async () => {
  const script = fresh('USCRIPT');
  const person = fresh('UPERSON');
  for (let i = 0; i < 10; i++) {
    const { text } = await command(slack, app.port, 'blocking', { user: script, channel: 'CINC' });
    assert.doesNotMatch(text, /faster than/, `listing ${i + 1} was refused`);
  }
  const id = fresh('limited');
  const eleventh = await slashCommand(app.port, SIGNING_SECRET, {
    text: 'blocking',
    userId: script,
    channelId: 'CINC',
    responseUrl: slack.responseUrl(id),
  });
  assert.equal(eleventh.status, 200);
  assert.deepEqual(
    eleventh.json,
    { response_type: 'ephemeral', text: READ_LIMITED_MESSAGE },
    'the refusal is the acknowledgement itself, shown to that user only',
  );
  // Share in channel counts as a listing too.
  const share = await click(slack, app.port, ACTION.share, 'blocking', { user: script, channel: 'CINC' });
  assert.equal(await share.reply(), READ_LIMITED_MESSAGE);

  const { text } = await command(slack, app.port, 'blocking', { user: person, channel: 'CINC' });
  assert.doesNotMatch(text, /faster than/, 'another user is served');

  await new Promise((resolve) => setTimeout(resolve, 300));
  assert.deepEqual(slack.responsesTo(id), [], 'nothing was listed for the refused command');
  assert.equal(await metric('pgsessions_commands_total{kind="blocking",outcome="rate_limited"}'), 1);
  assert.equal(await metric('pgsessions_commands_total{kind="blocking",outcome="ok"}'), 11);
});

test('past 3 requests (PGSESSIONS_REQUEST_RATE=3/1h), a request is refused and nothing is stored, audited or posted', async () => {
  const requester = fresh('UREQR');
  const victims: SleepSession[] = [];
  try {
    for (let i = 0; i < 4; i++)
      victims.push(await sleepSession(db.url, { seconds: 300, application: `rl-victim-${i}` }));
    for (let i = 0; i < 3; i++)
      await typedRequest(slack, app.port, `terminate ${victims[i]!.pid} runaway ${i}`, {
        user: requester,
        channel: 'CRATE',
      });
    const [requestsBefore, auditBefore, postsBefore] = [
      await requestCount(),
      await auditCount(),
      approvalPosts(slack, 'CRATE').length,
    ];

    const { text } = await command(slack, app.port, `terminate ${victims[3]!.pid} one more`, {
      user: requester,
      channel: 'CRATE',
    });
    assert.equal(text, FAILURE_MESSAGES.rate_limited);
    await new Promise((resolve) => setTimeout(resolve, 300));
    assert.equal(await requestCount(), requestsBefore, 'no request row');
    assert.equal(await auditCount(), auditBefore, 'no audit entry');
    assert.equal(approvalPosts(slack, 'CRATE').length, postsBefore, 'no approval message');
    assert.equal(await metric('pgsessions_request_transitions_total{state="refused_rate_limited"}'), 1);

    // Someone else still may ask.
    await typedRequest(slack, app.port, `terminate ${victims[3]!.pid} from a colleague`, {
      user: fresh('UCOLL'),
      channel: 'CRATE',
    });
  } finally {
    for (const v of victims) await v.end();
  }
});

test('refused clicks are limited per user too, and an approver is not held up by them', async () => {
  const victim = await sleepSession(db.url, { seconds: 300, application: 'rl-click-victim' });
  try {
    const { id } = await typedRequest(slack, app.port, `terminate ${victim.pid} stuck`, {
      user: fresh('UREQC'),
      channel: 'CCLICK',
    });
    const outsider = fresh('UOUTS');
    const answers: string[] = [];
    for (let i = 0; i < 5; i++)
      answers.push(
        await (await click(slack, app.port, ACTION.approve, id, { user: outsider, channel: 'CCLICK' })).reply(),
      );
    assert.deepEqual(answers, [
      FAILURE_MESSAGES.not_approver,
      FAILURE_MESSAGES.not_approver,
      FAILURE_MESSAGES.not_approver,
      FAILURE_MESSAGES.rate_limited,
      FAILURE_MESSAGES.rate_limited,
    ]);
    // The approver's own bucket is untouched: the approval goes through and the session is gone.
    const approved = await click(slack, app.port, ACTION.approve, id, { user: APPROVER, channel: 'CCLICK' });
    assert.equal(approved.status, 200);
    await waitUntilGone(db.url, victim.pid);
  } finally {
    await victim.end();
  }
});
