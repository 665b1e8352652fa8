// Slack Connect and guests, played as the attacker: correctly signed payloads whose team is not the
// installing workspace (auth.test says T1), or whose user Slack calls a guest. Each is refused with one
// sentence, and nothing is listed, shared, requested or approved; PGSESSIONS_ALLOWED_TEAMS lets a named
// workspace in.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  blockActionPayload,
  FORM_CONTENT_TYPE,
  formPayload,
  postSigned,
  slashCommandBody,
  viewSubmissionPayload,
} from '../helpers/slack-requests.js';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { baseEnv, REQUESTER, SIGNING_SECRET, startTestApp, type TestApp } from '../helpers/app.js';
import { as, fresh, requestRow, sessionTracker, stateQuery, textOf, typedRequest } from '../helpers/approval-flow.js';
import { ORIGIN_MESSAGES } from '../../src/domain/workspaces.js';
import { ACTION, encodeModalMetadata, INPUT, VIEW } from '../../src/slack/blocks/ids.js';
import { useTestApp } from '../helpers/use-test-app.js';

const PARTNER_APPROVER = 'UPARTNER';
const OTHER_TEAM = 'TOTHER';
const ALLOWED_TEAM = 'TFRIEND';

const sessions = sessionTracker();
// Each test starts its own app.
const { db, slack } = useTestApp({ database: 'wspace', app: false, sessions });

/** `/pgsessions TEXT` with extra or replaced form fields; resolves with the ack's JSON and what reached the response_url. */
async function slash(app: TestApp, text: string, fields: Record<string, string>) {
  const id = fresh('ws');
  const body = new URLSearchParams(slashCommandBody({ text, responseUrl: slack.responseUrl(id) }));
  for (const [k, v] of Object.entries(fields)) body.set(k, v);
  const res = await postSigned(app.port, SIGNING_SECRET, body.toString(), FORM_CONTENT_TYPE);
  assert.equal(res.status, 200);
  return { ack: res.json as { text?: string } | undefined, responses: () => slack.responsesTo(id) };
}

async function requestsIn(channel: string): Promise<number> {
  return (
    await stateQuery<{ n: number }>(db.url, 'SELECT count(*)::int AS n FROM pgsessions.requests WHERE channel = $1', [
      channel,
    ])
  )[0]!.n;
}

describe('by default only the installing workspace, and no guests', () => {
  let app: TestApp;
  before(async () => {
    app = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_APPROVERS: `UAPP,${PARTNER_APPROVER}` }), {
      terminateTimeoutMs: 3_000,
    });
  });
  after(async () => {
    await app?.stop();
  });

  test('a slash command from another workspace (team_id or user_team) is refused in the ack and lists nothing', async () => {
    const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'ws-secret' }));
    const variants: Array<Record<string, string>> = [
      { team_id: OTHER_TEAM },
      { user_team: OTHER_TEAM },
      { team_id: OTHER_TEAM, enterprise_id: 'EOTHER' },
    ];
    for (const fields of variants) {
      const { ack, responses } = await slash(app, 'app:ws-secret', fields);
      assert.equal(ack?.text, ORIGIN_MESSAGES.foreign_workspace, JSON.stringify(fields));
      await new Promise((r) => setTimeout(r, 300));
      assert.equal(responses().length, 0, 'no listing followed');
    }
    // The same command from home is answered (the refusal is about the team, not the command).
    const { ack, responses } = await slash(app, 'app:ws-secret', {});
    assert.equal(ack, undefined);
    const listed = await slack.waitFor(() => responses()[0]);
    assert.match(textOf(listed.body), new RegExp(`pid ${s.pid}`));
  });

  test('a typed terminate from another workspace requests nothing', async () => {
    const s = sessions.track(await sleepSession(db.url, { seconds: 120 }));
    const channel = fresh('C');
    const { ack } = await slash(app, `terminate ${s.pid} partner says so`, {
      team_id: OTHER_TEAM,
      channel_id: channel,
    });
    assert.equal(ack?.text, ORIGIN_MESSAGES.foreign_workspace);
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await requestsIn(channel), 0);
  });

  test('clicks from another workspace: Share shares nothing, Approve approves nothing, the form submits nothing', async () => {
    const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'ws-victim' }));
    const channel = fresh('C');

    const shareId = fresh('share');
    const share = blockActionPayload({
      userId: 'UFOREIGN',
      channelId: channel,
      actionId: ACTION.share,
      value: 'app:ws-victim',
      responseUrl: slack.responseUrl(shareId),
    });
    share.user.team_id = OTHER_TEAM;
    share.team = { id: OTHER_TEAM, domain: 'other' };
    await postSigned(app.port, SIGNING_SECRET, formPayload(share), FORM_CONTENT_TYPE);
    const told = await slack.waitFor(() => slack.responsesTo(shareId)[0]);
    assert.equal((told.body as { response_type?: string }).response_type, 'ephemeral');
    assert.equal((told.body as { text?: string }).text, ORIGIN_MESSAGES.foreign_workspace);
    assert.ok(!textOf(told.body).includes(String(s.pid)));

    // A partner listed as approver, clicking from their own workspace in a shared channel: refused.
    const { id } = await typedRequest(slack, app.port, `terminate ${s.pid} from home`, as(REQUESTER, channel));
    const approveId = fresh('approve');
    const approve = blockActionPayload({
      userId: PARTNER_APPROVER,
      channelId: channel,
      actionId: ACTION.approve,
      value: id,
      responseUrl: slack.responseUrl(approveId),
    });
    approve.user.team_id = OTHER_TEAM;
    await postSigned(app.port, SIGNING_SECRET, formPayload(approve), FORM_CONTENT_TYPE);
    assert.equal(
      ((await slack.waitFor(() => slack.responsesTo(approveId)[0])).body as { text?: string }).text,
      ORIGIN_MESSAGES.foreign_workspace,
    );
    assert.equal((await requestRow(db.url, id)).status, 'pending');
    assert.equal(await sessionAlive(db.url, s.pid, s.backendStart), true, 'nothing was killed');

    const form = viewSubmissionPayload({
      userId: 'UFOREIGN',
      callbackId: VIEW.request,
      privateMetadata: encodeModalMetadata({
        target: {
          cluster: 'default',
          pid: s.pid,
          backendStart: s.backendStart,
          queryStart: s.queryStart,
          kind: 'terminate',
        },
        channel,
      }),
      values: { [INPUT.reasonBlock]: { [INPUT.reasonAction]: { type: 'plain_text_input', value: 'partner' } } },
    });
    form.user.team_id = OTHER_TEAM;
    const submitted = await postSigned(app.port, SIGNING_SECRET, formPayload(form), FORM_CONTENT_TYPE);
    assert.deepEqual(submitted.json, {
      response_action: 'errors',
      errors: { [INPUT.reasonBlock]: ORIGIN_MESSAGES.foreign_workspace },
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(await requestsIn(channel), 1, 'only the request made from home exists');
  });

  test('a guest account is refused, and so is everyone while Slack cannot say who they are', async () => {
    slack.users.UGUEST = { id: 'UGUEST', is_restricted: true };
    slack.users.USINGLE = { id: 'USINGLE', is_ultra_restricted: true };
    for (const user of ['UGUEST', 'USINGLE']) {
      const { ack } = await slash(app, 'status', { user_id: user });
      assert.equal(ack?.text, ORIGIN_MESSAGES.guest, user);
    }
    // users.info says another workspace even though the payload claims home: refused too.
    slack.users.UMOVED = { id: 'UMOVED', team_id: OTHER_TEAM };
    assert.equal((await slash(app, 'status', { user_id: 'UMOVED' })).ack?.text, ORIGIN_MESSAGES.foreign_workspace);
    // Fail closed: a user Slack cannot be asked about gets nothing.
    slack.failNext('users.info', 3, { error: 'internal_error' });
    assert.equal((await slash(app, 'status', { user_id: 'UNEWCOMER' })).ack?.text, ORIGIN_MESSAGES.unverified);
  });
});

describe('PGSESSIONS_ALLOWED_TEAMS', () => {
  let app: TestApp;
  before(async () => {
    slack.reset();
    app = await startTestApp(baseEnv(db.url, slack, { PGSESSIONS_ALLOWED_TEAMS: ALLOWED_TEAM }));
  });
  after(async () => {
    await app?.stop();
  });

  test('lets a named workspace in and keeps the others out', async () => {
    slack.users.UFRIEND = { id: 'UFRIEND', team_id: ALLOWED_TEAM };
    const s = sessions.track(await sleepSession(db.url, { seconds: 120, application: 'ws-friend' }));
    const friend = await slash(app, 'app:ws-friend', { user_id: 'UFRIEND', user_team: ALLOWED_TEAM });
    assert.equal(friend.ack, undefined);
    assert.match(textOf((await slack.waitFor(() => friend.responses()[0])).body), new RegExp(`pid ${s.pid}`));
    assert.equal(
      (await slash(app, 'app:ws-friend', { team_id: OTHER_TEAM })).ack?.text,
      ORIGIN_MESSAGES.foreign_workspace,
    );
  });
});
