// Approver user groups are resolved when the click arrives: someone removed from the group cannot approve
// the very next request, and someone added can. No cached membership decides an approval.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sessionAlive, sleepSession } from '../helpers/sessions.js';
import { REQUESTER } from '../helpers/app.js';
import { useTestApp } from '../helpers/use-test-app.js';
import { as, click, fresh, requestRow, sessionTracker, typedRequest, waitForStatus } from '../helpers/approval-flow.js';
import { ACTION } from '../../src/slack/blocks/ids.js';

const sessions = sessionTracker();
const track = sessions.track;
const MEMBER = 'UONCALL1';
// PGSESSIONS_APPROVERS is `UAPP,SAPPROVERS`: MEMBER approves only through the group.
const { db, slack, app } = useTestApp({ database: 'grp', start: { terminateTimeoutMs: 3_000 }, sessions });

test('someone removed from the approvers’ group between two clicks cannot approve the second request', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = [MEMBER];
  const first = track(await sleepSession(db.url, { seconds: 120, application: 'grp-first' }));
  const second = track(await sleepSession(db.url, { seconds: 120, application: 'grp-second' }));
  const a = await typedRequest(slack, app.port, `terminate ${first.pid} first`, as(REQUESTER, channel));
  const b = await typedRequest(slack, app.port, `terminate ${second.pid} second`, as(REQUESTER, channel));

  await click(slack, app.port, ACTION.approve, a.id, as(MEMBER, channel));
  assert.equal((await waitForStatus(db.url, a.id, ['executed', 'failed'])).status, 'executed', 'a member approves');

  slack.usergroups.SAPPROVERS = ['USOMEONEELSE']; // removed from the group in Slack
  const refused = await click(slack, app.port, ACTION.approve, b.id, as(MEMBER, channel));
  assert.match(await refused.reply(), /Only an approver/);
  assert.equal((await requestRow(db.url, b.id)).status, 'pending');
  assert.equal(await sessionAlive(db.url, second.pid, second.backendStart), true, 'nothing was killed');

  // And the other way round: added back, the next click counts.
  slack.usergroups.SAPPROVERS = [MEMBER];
  await click(slack, app.port, ACTION.approve, b.id, as(MEMBER, channel));
  assert.equal((await waitForStatus(db.url, b.id, ['executed', 'failed'])).status, 'executed');
  const lookups = slack.callsTo('usergroups.users.list').filter((c) => c.params.usergroup === 'SAPPROVERS');
  assert.ok(lookups.length >= 3, `the group was read at each of the three clicks (${lookups.length} reads)`);
});

test('a Deny by someone just removed from the group is refused too', async () => {
  const channel = fresh('C');
  slack.usergroups.SAPPROVERS = [MEMBER];
  const one = track(await sleepSession(db.url, { seconds: 120, application: 'grp-deny-1' }));
  const two = track(await sleepSession(db.url, { seconds: 120, application: 'grp-deny-2' }));
  const a = await typedRequest(slack, app.port, `terminate ${one.pid} deny one`, as(REQUESTER, channel));
  const b = await typedRequest(slack, app.port, `terminate ${two.pid} deny two`, as(REQUESTER, channel));
  await click(slack, app.port, ACTION.deny, a.id, as(MEMBER, channel));
  await waitForStatus(db.url, a.id, ['denied']);
  slack.usergroups.SAPPROVERS = [];
  const refused = await click(slack, app.port, ACTION.deny, b.id, as(MEMBER, channel));
  assert.match(await refused.reply(), /Only an approver/);
  assert.equal((await requestRow(db.url, b.id)).status, 'pending');
});
