// PGSESSIONS_FLEET_TIMEOUT (how long `cluster:*` waits for each cluster): its default, a good value, and a
// bad one named in the start-up message. And `cluster:*` in the grammar: the listing only.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { parseCommand } from '../src/domain/command.js';

const good = (): NodeJS.ProcessEnv => ({
  SLACK_BOT_TOKEN: 'xoxb-123-456-fleettoken',
  SLACK_SIGNING_SECRET: 'fleet-signing-secret-1234',
  DATABASE_URL: 'postgres://bot:pw@db.internal:5432/app',
  PGSESSIONS_AUDIT_CHANNEL: 'CAUDIT01',
  PGSESSIONS_APPROVERS: 'U012ABC',
});

test('PGSESSIONS_FLEET_TIMEOUT defaults to 2s, takes 1s–30s, and a bad value is named', () => {
  assert.equal(loadConfig(good()).fleetTimeoutMs, 2_000);
  assert.equal(loadConfig({ ...good(), PGSESSIONS_FLEET_TIMEOUT: '5s' }).fleetTimeoutMs, 5_000);
  for (const bad of ['0s', '31s', '1m', 'soon']) {
    assert.throws(
      () => loadConfig({ ...good(), PGSESSIONS_FLEET_TIMEOUT: bad }),
      (e: unknown) => e instanceof ConfigError && /PGSESSIONS_FLEET_TIMEOUT.*1s to 30s/.test(e.message),
      bad,
    );
  }
});

test('cluster:* parses for the listing with its filters, and every other command says it needs one cluster', () => {
  assert.deepEqual(parseCommand('cluster:* app:web limit:5'), {
    kind: 'top',
    cluster: '*',
    filters: { limit: 5, application: 'web' },
  });
  for (const text of ['blocking cluster:*', 'status cluster:*', 'cancel 12 cluster:*', 'rules cluster:*']) {
    const parsed = parseCommand(text);
    assert.equal(parsed.kind, 'invalid', text);
    assert.match(
      (parsed as { message: string }).message,
      /^cluster:\* works with a listing only: .+ needs one cluster/,
    );
  }
});
