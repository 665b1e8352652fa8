// The PGSESSIONS_WATCH_* settings: defaults from the table, `off` per threshold, per-cluster
// overrides in the clusters file, and every bad value named in the one start-up message.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ConfigError, loadConfig, parseBytes } from '../../src/config.js';

const good = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => ({
  SLACK_BOT_TOKEN: 'xoxb-1-2-token',
  SLACK_SIGNING_SECRET: 'secret-secret',
  DATABASE_URL: 'postgres://bot@db/app',
  PGSESSIONS_AUDIT_CHANNEL: 'CAUDIT01',
  PGSESSIONS_APPROVERS: 'U012ABC',
  ...extra,
});

test('watching is off by default, with the documented thresholds ready', () => {
  const watch = loadConfig(good()).watch.default!;
  assert.equal(watch.channel, null);
  assert.equal(watch.intervalSeconds, 10);
  assert.equal(watch.thresholds.lockWaitSeconds, 30);
  assert.equal(watch.thresholds.idleInTransactionSeconds, 600);
  assert.equal(watch.thresholds.activeSeconds, 1800);
  assert.equal(watch.thresholds.connectionsShare, 0.9);
  assert.equal(watch.thresholds.replicationLagBytes, null);
});

test('every threshold can be set or switched off', () => {
  const watch = loadConfig(
    good({
      PGSESSIONS_WATCH_CHANNEL: 'CWATCH01',
      PGSESSIONS_WATCH_INTERVAL: '2s',
      PGSESSIONS_WATCH_LOCK_WAIT: 'off',
      PGSESSIONS_WATCH_IDLE_IN_TRANSACTION: '5m',
      PGSESSIONS_WATCH_ACTIVE: 'OFF',
      PGSESSIONS_WATCH_CONNECTIONS: '80%',
      PGSESSIONS_WATCH_REPLICATION_LAG: '1GB',
    }),
  ).watch.default!;
  assert.equal(watch.channel, 'CWATCH01');
  assert.equal(watch.intervalSeconds, 2);
  assert.equal(watch.thresholds.lockWaitSeconds, null);
  assert.equal(watch.thresholds.idleInTransactionSeconds, 300);
  assert.equal(watch.thresholds.activeSeconds, null);
  assert.equal(watch.thresholds.connectionsShare, 0.8);
  assert.equal(watch.thresholds.replicationLagBytes, 1024 ** 3);
});

test('bad watch values stop start-up with one message naming each', () => {
  let error: unknown;
  try {
    loadConfig(
      good({
        PGSESSIONS_WATCH_CHANNEL: '#incidents',
        PGSESSIONS_WATCH_INTERVAL: '10m',
        PGSESSIONS_WATCH_LOCK_WAIT: 'soon',
        PGSESSIONS_WATCH_CONNECTIONS: '150%',
        PGSESSIONS_WATCH_REPLICATION_LAG: '-1',
        PGSESSIONS_AUDIT_CHANNEL: 'bad',
      }),
    );
  } catch (e) {
    error = e;
  }
  assert.ok(error instanceof ConfigError);
  const text = error.message;
  for (const name of [
    'PGSESSIONS_WATCH_CHANNEL',
    'PGSESSIONS_WATCH_INTERVAL',
    'PGSESSIONS_WATCH_LOCK_WAIT',
    'PGSESSIONS_WATCH_CONNECTIONS',
    'PGSESSIONS_WATCH_REPLICATION_LAG',
    'PGSESSIONS_AUDIT_CHANNEL',
  ]) {
    assert.match(text, new RegExp(name), `names ${name}`);
  }
  assert.doesNotMatch(text, /at .*\.ts:\d+/, 'no stack trace');
});

test('a cluster in the clusters file can have its own watch settings on top of the global ones', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'pgs-watch-'));
  try {
    const file = join(dir, 'clusters.yaml');
    await writeFile(
      file,
      [
        'clusters:',
        '  - name: a',
        '    url: postgres://x@a/db',
        '    watch: { lockWait: 5s, connections: "95%" }',
        '  - name: b',
        '    url: postgres://x@b/db',
        '    watch: { channel: "off" }',
        '  - name: c',
        '    url: postgres://x@c/db',
        '    watch: { interval: 9m }',
      ].join('\n'),
    );
    assert.throws(
      () =>
        loadConfig({
          ...good({
            PGSESSIONS_CLUSTERS: file,
            STATE_DATABASE_URL: 'postgres://s@s/s',
            PGSESSIONS_WATCH_CHANNEL: 'CWATCH01',
          }),
          DATABASE_URL: undefined,
        }),
      (e: unknown) => e instanceof ConfigError && /cluster c watch: PGSESSIONS_WATCH_INTERVAL/.test(e.message),
    );
    await writeFile(
      file,
      [
        'clusters:',
        '  - name: a',
        '    url: postgres://x@a/db',
        '    watch: { lockWait: 5s, connections: "95%" }',
        '  - name: b',
        '    url: postgres://x@b/db',
        '    watch: { channel: "off" }',
      ].join('\n'),
    );
    const config = loadConfig({
      ...good({
        PGSESSIONS_CLUSTERS: file,
        STATE_DATABASE_URL: 'postgres://s@s/s',
        PGSESSIONS_WATCH_CHANNEL: 'CWATCH01',
      }),
      DATABASE_URL: undefined,
    });
    const { a, b } = config.watch;
    assert.equal(a!.channel, 'CWATCH01');
    assert.equal(a!.thresholds.lockWaitSeconds, 5);
    assert.equal(a!.thresholds.connectionsShare, 0.95);
    assert.equal(a!.thresholds.activeSeconds, 1800, 'unset values come from the global settings');
    assert.equal(b!.channel, null, 'a cluster can opt out of watching');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test('sizes read as bytes', () => {
  assert.equal(parseBytes('1048576'), 1048576);
  assert.equal(parseBytes('512MB'), 512 * 1024 ** 2);
  assert.equal(parseBytes('2 gb'), 2 * 1024 ** 3);
  for (const bad of ['', '-1', '1.5GB', 'lots', '0']) assert.equal(parseBytes(bad), null, bad);
});
