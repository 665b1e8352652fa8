// Pure: how pgsessions names a refused connection in Slack — full (53300), pooler full (max_client_conn),
// too busy, unreachable — and that a listing through the reserved connection says so. Never a host or port.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { clusterDownIncident, type LiveIncident } from '../../src/domain/watch.js';
import { buildIncidentMessage, incidentTitle } from '../../src/slack/blocks/watch.js';
import { liveIncident } from '../helpers/watched.js';
import { buildListing } from '../../src/slack/blocks/listing.js';
import { readFailureText } from '../../src/slack/blocks/read.js';
import { describeResult } from '../../src/slack/blocks/outcome.js';
import { describeReadFailure, troubleOf, ClusterBusyError } from '../../src/postgres/pools.js';

const refused = Object.assign(new Error('sorry, too many clients already'), { code: '53300' });
const poolerFull = Object.assign(new Error('no more connections allowed (max_client_conn)'), { code: '08P01' });
const down = Object.assign(new Error('connect ECONNREFUSED 10.1.2.3:5432'), { code: 'ECONNREFUSED' });

test('each connection failure is classified by what the server (or pooler) said', () => {
  assert.equal(troubleOf(refused), 'full');
  assert.equal(troubleOf(poolerFull), 'pooler_full');
  assert.equal(troubleOf(down), 'unreachable');
  assert.equal(troubleOf(new ClusterBusyError(4)), 'busy');
  assert.equal(troubleOf(Object.assign(new Error('syntax error'), { code: '42601' })), null);
  assert.equal(describeReadFailure(refused), 'the cluster is full: max_connections reached (53300)');
  assert.doesNotMatch(describeReadFailure(poolerFull), /10\.1\.2\.3|5432|reached \(/);
});

test('a full cluster is never said to be unreachable, in a read failure or a recorded execution', () => {
  const full = readFailureText({ code: 'full', cluster: 'main', refusedBy: 'server' });
  assert.match(full, /^Cluster `main` is full: max_connections reached \(53300\)/);
  assert.doesNotMatch(full, /reach cluster|unreachable|cannot be reached/i);
  assert.match(
    readFailureText({ code: 'full', cluster: 'main', refusedBy: 'pooler' }),
    /connection pooler in front of cluster `main` is full: no more connections allowed \(max_client_conn\)/,
  );
  assert.equal(
    describeResult({ outcomes: [], unreachable: true, trouble: 'full' }),
    'cluster full: max_connections reached (53300) — nothing (more) was signalled',
  );
  assert.match(describeResult({ outcomes: [], unreachable: true }), /^cluster unreachable/);
});

test('a listing that came through the reserved connection says why, once, under the header', () => {
  const input = { cluster: 'main', rows: [], totalMatched: 0, filters: { limit: 20 }, killable: () => true };
  const through = JSON.stringify(buildListing({ ...input, refused: 'server' }).blocks);
  assert.match(
    through,
    /Cluster `main` is full: max_connections reached \(53300\) — listed through pgsessions’ reserved connection/,
  );
  assert.doesNotMatch(JSON.stringify(buildListing(input).blocks), /reserved connection/);
  assert.match(
    JSON.stringify(buildListing({ ...input, refused: 'pooler' }).blocks),
    /is full at its connection pooler/,
  );
});

test('a watched cluster that refuses connections is alerted as full, one that does not answer as down', () => {
  const live = (error: string): LiveIncident => liveIncident(clusterDownIncident('main', error), { key: 'k' });
  const full = JSON.stringify(
    buildIncidentMessage({ incident: live('sorry, too many clients already (53300)'), now: new Date() }),
  );
  assert.match(full, /The cluster is full \(max_connections reached\)/);
  assert.doesNotMatch(full, /does not answer/);
  const silent = JSON.stringify(
    buildIncidentMessage({ incident: live('connect ECONNREFUSED (ECONNREFUSED)'), now: new Date() }),
  );
  assert.match(silent, /The cluster does not answer/);
  assert.equal(incidentTitle({ cause: 'root-blocker' }), 'A session blocks others');
});
