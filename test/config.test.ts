// Settings: loadConfig names every bad setting at once and never echoes a secret; the process entry turns
// a bad environment into one clear message and exit code 1, with no stack trace.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ConfigError, loadConfig } from '../src/config.js';
import { PROVIDER_ROLES } from '../src/domain/policy.js';

const TOKEN = 'xoxb-123-456-supersecretbottoken';
const SECRET = 'signing-secret-do-not-print-7f3a';
const DB_PASSWORD = 'db-password-do-not-print-91c2';
const DB_URL = `postgres://bot:${DB_PASSWORD}@db.internal:5432/app`;

const good = (): NodeJS.ProcessEnv => ({
  SLACK_BOT_TOKEN: TOKEN,
  SLACK_SIGNING_SECRET: SECRET,
  DATABASE_URL: DB_URL,
  PGSESSIONS_AUDIT_CHANNEL: 'CAUDIT01',
  PGSESSIONS_APPROVERS: 'U012ABC, SONCALL1',
});

function configError(env: NodeJS.ProcessEnv): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('loadConfig accepted a bad configuration');
}

function assertNoSecrets(text: string, ...secrets: string[]): void {
  for (const secret of [TOKEN, SECRET, DB_PASSWORD, ...secrets])
    assert.ok(!text.includes(secret), `leaked ${secret} in:\n${text}`);
}

describe('loadConfig', () => {
  test('PGSESSIONS_RETENTION: days from 2d to 3650d, 30d by default', () => {
    assert.equal(loadConfig(good()).retentionSeconds, 30 * 86_400);
    assert.equal(loadConfig({ ...good(), PGSESSIONS_RETENTION: '90d' }).retentionSeconds, 90 * 86_400);
    for (const bad of ['1d', '12h', 'forever', '0d', '4000d']) {
      const error = configError({ ...good(), PGSESSIONS_RETENTION: bad });
      assert.ok(
        error.problems.some((p) => /PGSESSIONS_RETENTION must be a number of days/.test(p)),
        `${bad}: ${error.message}`,
      );
    }
  });

  test('PGSESSIONS_WATCH_CHANNEL equal to PGSESSIONS_AUDIT_CHANNEL is refused: the audit channel carries audit entries only', () => {
    const error = configError({ ...good(), PGSESSIONS_WATCH_CHANNEL: 'CAUDIT01' });
    assert.ok(
      error.problems.some((p) => /PGSESSIONS_WATCH_CHANNEL must differ from PGSESSIONS_AUDIT_CHANNEL/.test(p)),
      error.message,
    );
    assert.equal(loadConfig({ ...good(), PGSESSIONS_WATCH_CHANNEL: 'CWATCH01' }).watch.default!.channel, 'CWATCH01');
  });

  test('PGSESSIONS_AUDIT_KEY: at least 32 bytes, kept when good, never echoed when too short', () => {
    const key = 'k'.repeat(31);
    const error = configError({ ...good(), PGSESSIONS_AUDIT_KEY: key });
    assert.match(error.message, /PGSESSIONS_AUDIT_KEY must be at least 32 bytes/);
    assertNoSecrets(error.message, key);
    assert.equal(loadConfig(good()).auditKey, null);
    assert.equal(loadConfig({ ...good(), PGSESSIONS_AUDIT_KEY: 'k'.repeat(32) }).auditKey, 'k'.repeat(32));
    const role = configError({ ...good(), PGSESSIONS_RUNTIME_ROLE: 'bad role; DROP' });
    assert.match(role.message, /PGSESSIONS_RUNTIME_ROLE must be a role name/);
  });

  test('reads a good environment with the contract’s defaults', () => {
    const config = loadConfig(good());
    assert.equal(config.slack.botToken, TOKEN);
    assert.equal(config.slack.signingSecret, SECRET);
    assert.equal(config.slack.appToken, null);
    assert.equal(config.port, 3000);
    assert.deepEqual(config.clusters, [
      { name: 'default', url: DB_URL, requesters: null, approvers: null, viewers: null },
    ]);
    assert.equal(config.viewers, null, 'everyone may look by default');
    assert.deepEqual(config.allowedTeams, [], 'only the installing workspace by default');
    assert.equal(config.stateDatabaseUrl, DB_URL);
    assert.deepEqual(config.approvers, ['U012ABC', 'SONCALL1']);
    assert.equal(config.requesters, null);
    assert.equal(config.approvalTtlSeconds, 15 * 60);
    assert.equal(config.queryText, 'truncated');
    assert.equal(config.readOnly, false);
    assert.equal(config.logLevel, 'info');
  });

  test('names each missing setting in one error', () => {
    const error = configError({});
    for (const name of [
      'SLACK_BOT_TOKEN',
      'SLACK_SIGNING_SECRET',
      'DATABASE_URL',
      'PGSESSIONS_AUDIT_CHANNEL',
      'PGSESSIONS_APPROVERS',
    ]) {
      assert.ok(
        error.problems.some((p) => p.startsWith(name)),
        `${name} not named in:\n${error.message}`,
      );
    }
    assert.match(error.message, /^pgsessions cannot start:\n {2}- /);
  });

  test('names each of several bad settings at once and echoes none of the secrets', () => {
    const error = configError({
      ...good(),
      SLACK_BOT_TOKEN: 'xoxp-user-token-secret-4411',
      SLACK_APP_TOKEN: 'xoxb-not-an-app-token-2299',
      DATABASE_URL: `mysql://bot:${DB_PASSWORD}@db/app`,
      STATE_DATABASE_URL: `http://bot:${DB_PASSWORD}@db/state`,
      SLACK_API_URL: 'not a url',
      PORT: '99999',
      PGSESSIONS_AUDIT_CHANNEL: '#audit',
      PGSESSIONS_APPROVERS: 'alice, U012ABC',
      PGSESSIONS_REQUESTERS: 'bob',
      PGSESSIONS_APPROVAL_TTL: '2s',
      PGSESSIONS_QUERY_TEXT: 'some',
      PGSESSIONS_READ_ONLY: 'maybe',
      LOG_LEVEL: 'loud',
    });
    const expected = [
      'SLACK_BOT_TOKEN',
      'SLACK_APP_TOKEN',
      'DATABASE_URL',
      'STATE_DATABASE_URL',
      'SLACK_API_URL',
      'PORT',
      'PGSESSIONS_AUDIT_CHANNEL',
      'PGSESSIONS_APPROVERS',
      'PGSESSIONS_REQUESTERS',
      'PGSESSIONS_APPROVAL_TTL',
      'PGSESSIONS_QUERY_TEXT',
      'PGSESSIONS_READ_ONLY',
      'LOG_LEVEL',
    ];
    for (const name of expected) {
      assert.ok(
        error.problems.some((p) => p.startsWith(`${name} `) || p.startsWith(`${name}(`) || p.startsWith(`${name}.`)),
        `${name} not named in:\n${error.message}`,
      );
    }
    assertNoSecrets(error.message, 'xoxp-user-token-secret-4411', 'xoxb-not-an-app-token-2299', 'alice', 'bob');
  });

  test('SLACK_API_URL must be http or https, as it says', () => {
    for (const url of ['ftp://files.example.com/api/', 'file:///etc/passwd', 'javascript:alert(1)']) {
      assert.deepEqual(
        configError({ ...good(), SLACK_API_URL: url }).problems,
        ['SLACK_API_URL must be an http(s) URL'],
        url,
      );
    }
    assert.equal(
      loadConfig({ ...good(), SLACK_API_URL: 'https://slack-gov.com/api' }).slack.apiUrl,
      'https://slack-gov.com/api/',
    );
  });

  test('refuses an empty or blank signing secret in HTTP mode', () => {
    for (const blank of ['', '   ']) {
      const error = configError({ ...good(), SLACK_SIGNING_SECRET: blank });
      assert.deepEqual(
        error.problems.filter((p) => p.includes('SLACK_SIGNING_SECRET')),
        ['SLACK_SIGNING_SECRET is required in HTTP mode (set SLACK_APP_TOKEN for Socket Mode instead)'],
      );
    }
  });

  test('SLACK_APP_TOKEN makes the signing secret optional', () => {
    const env: NodeJS.ProcessEnv = { ...good(), SLACK_APP_TOKEN: 'xapp-1-A1-secretapptoken' };
    delete env.SLACK_SIGNING_SECRET;
    const config = loadConfig(env);
    assert.equal(config.slack.appToken, 'xapp-1-A1-secretapptoken');
    assert.equal(config.slack.signingSecret, null);
  });

  test('STATE_DATABASE_URL defaults to DATABASE_URL, PORT and the lists are read', () => {
    const config = loadConfig({
      ...good(),
      PORT: '0',
      STATE_DATABASE_URL: 'postgresql://state@h/s',
      PGSESSIONS_PROTECTED_ROLES: ' replicator , postgres ,',
      PGSESSIONS_PROTECTED_APPS: 'pg_dump',
      PGSESSIONS_REQUESTERS: 'U1AB,SGROUP',
      PGSESSIONS_READ_ONLY: 'true',
      SLACK_API_URL: 'http://127.0.0.1:9/api',
    });
    assert.equal(config.port, 0);
    assert.equal(config.stateDatabaseUrl, 'postgresql://state@h/s');
    assert.deepEqual(
      config.protectedRoles,
      [...PROVIDER_ROLES, 'replicator', 'postgres'],
      'the providers\u2019 roles, then the setting\u2019s',
    );
    assert.deepEqual(config.protectedApps, ['pg_dump']);
    assert.deepEqual(config.requesters, ['U1AB', 'SGROUP']);
    assert.equal(config.readOnly, true);
    assert.equal(config.slack.apiUrl, 'http://127.0.0.1:9/api/');
  });

  test('PGSESSIONS_VIEWERS and PGSESSIONS_ALLOWED_TEAMS are read, and bad entries named', () => {
    const config = loadConfig({
      ...good(),
      PGSESSIONS_VIEWERS: 'U1AB, SVIEW',
      PGSESSIONS_ALLOWED_TEAMS: 'T0PARTNER,E0ORG',
    });
    assert.deepEqual(config.viewers, ['U1AB', 'SVIEW']);
    assert.deepEqual(config.allowedTeams, ['T0PARTNER', 'E0ORG']);
    const error = configError({ ...good(), PGSESSIONS_VIEWERS: '#oncall', PGSESSIONS_ALLOWED_TEAMS: 'acme.slack.com' });
    assert.ok(
      error.problems.some((p) => p.startsWith('PGSESSIONS_VIEWERS')),
      error.message,
    );
    assert.ok(
      error.problems.some((p) => p.startsWith('PGSESSIONS_ALLOWED_TEAMS') && p.includes('team IDs')),
      error.message,
    );
  });

  describe('a clusters file', () => {
    let dir: string;
    before(async () => {
      dir = await mkdtemp(join(tmpdir(), 'pgsessions-config-'));
    });
    after(async () => {
      await rm(dir, { recursive: true, force: true });
    });
    const write = async (name: string, text: string) => {
      const path = join(dir, name);
      await writeFile(path, text);
      return path;
    };
    const withoutDb = () => {
      const env = good();
      delete env.DATABASE_URL;
      return env;
    };

    test('is read, with urlEnv keeping passwords in the environment', async () => {
      const path = await write(
        'ok.yml',
        [
          'clusters:',
          '  - name: main',
          `    url: ${DB_URL}`,
          '  - name: reports',
          '    urlEnv: REPORTS_DB',
          '    approvers: [U0DBA]',
          '    viewers: [U0DBA, SONCALL]',
          '',
        ].join('\n'),
      );
      const config = loadConfig({
        ...withoutDb(),
        PGSESSIONS_CLUSTERS: path,
        STATE_DATABASE_URL: DB_URL,
        REPORTS_DB: 'postgres://r:pw@reports/db',
      });
      assert.deepEqual(config.clusters, [
        { name: 'main', url: DB_URL, requesters: null, approvers: null, viewers: null },
        {
          name: 'reports',
          url: 'postgres://r:pw@reports/db',
          requesters: null,
          approvers: ['U0DBA'],
          viewers: ['U0DBA', 'SONCALL'],
        },
      ]);
    });

    test('problems in it are named with the other settings’ problems, without its passwords', async () => {
      const path = await write(
        'bad.yml',
        [
          'clusters:',
          '  - name: main',
          `    url: ${DB_URL}`,
          '  - name: main',
          `    url: ${DB_URL}`,
          '  - name: nowhere',
          '    urlEnv: UNSET_VAR',
          '',
        ].join('\n'),
      );
      const error = configError({ ...withoutDb(), PGSESSIONS_CLUSTERS: path, PGSESSIONS_AUDIT_CHANNEL: 'nope' });
      assert.ok(
        error.problems.some((p) => p.includes('cluster main is named twice')),
        error.message,
      );
      assert.ok(
        error.problems.some((p) => p.includes('cluster nowhere needs url')),
        error.message,
      );
      assert.ok(
        error.problems.some((p) => p.startsWith('STATE_DATABASE_URL')),
        error.message,
      );
      assert.ok(
        error.problems.some((p) => p.startsWith('PGSESSIONS_AUDIT_CHANNEL')),
        error.message,
      );
      assertNoSecrets(error.message);
    });

    test('a missing or unparsable file is named, not thrown raw', async () => {
      const missing = configError({ ...good(), PGSESSIONS_CLUSTERS: join(dir, 'absent.yml') });
      assert.ok(
        missing.problems.some((p) => p.startsWith('PGSESSIONS_CLUSTERS cannot read')),
        missing.message,
      );
      const path = await write('broken.yml', `clusters:\n  - name: [unclosed\n    url: ${DB_URL}\n`);
      const broken = configError({ ...good(), PGSESSIONS_CLUSTERS: path });
      assert.ok(
        broken.problems.some((p) => p.startsWith('PGSESSIONS_CLUSTERS')),
        broken.message,
      );
      assertNoSecrets(broken.message);
    });
  });

  test('rate limits and METRICS_PORT: defaults, values, off, and bad values named', () => {
    const defaults = loadConfig(good());
    assert.deepEqual(defaults.rateLimits, {
      listing: { burst: 10, perSecond: 0.5 },
      request: { burst: 20, perSecond: 20 / 60 },
    });
    assert.equal(defaults.metricsPort, null);
    const set = loadConfig({
      ...good(),
      PGSESSIONS_LISTING_RATE: '60/1m',
      PGSESSIONS_LISTING_BURST: '5',
      PGSESSIONS_REQUEST_RATE: 'off',
      METRICS_PORT: '9090',
    });
    assert.deepEqual(set.rateLimits, { listing: { burst: 5, perSecond: 1 }, request: null });
    assert.equal(set.metricsPort, 9090);
    const error = configError({
      ...good(),
      PGSESSIONS_LISTING_RATE: '30 per minute',
      PGSESSIONS_LISTING_BURST: '0',
      PGSESSIONS_REQUEST_RATE: '0/1m',
      METRICS_PORT: '3000',
    });
    for (const name of [
      'PGSESSIONS_LISTING_RATE',
      'PGSESSIONS_LISTING_BURST',
      'PGSESSIONS_REQUEST_RATE',
      'METRICS_PORT',
    ]) {
      assert.ok(
        error.problems.some((p) => p.startsWith(name)),
        `${name} not named in:\n${error.message}`,
      );
    }
  });
});

// Each start compiles the app with tsx (a few seconds): run them side by side.
describe('starting the process with a bad environment', { concurrency: true }, () => {
  function run(env: NodeJS.ProcessEnv): Promise<{ code: number | null; stdout: string; stderr: string }> {
    return new Promise((resolve, reject) => {
      // Only what node and tsx need, plus the settings under test: nothing leaks in from the test's own env.
      const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
      child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 90_000);
      child.on('error', reject);
      child.on('exit', (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
  }

  test('prints one clear message naming each bad setting, no secrets and no stack, and exits 1', async () => {
    const { code, stdout, stderr } = await run({
      SLACK_BOT_TOKEN: TOKEN,
      SLACK_SIGNING_SECRET: SECRET,
      DATABASE_URL: `mysql://bot:${DB_PASSWORD}@db/app`,
      PGSESSIONS_AUDIT_CHANNEL: '#audit',
    });
    assert.equal(code, 1);
    assert.equal(stdout, '');
    assert.match(stderr, /^pgsessions cannot start:\n/);
    for (const name of ['DATABASE_URL', 'PGSESSIONS_AUDIT_CHANNEL', 'PGSESSIONS_APPROVERS'])
      assert.match(stderr, new RegExp(`- ${name}`));
    assert.doesNotMatch(stderr, /\n\s+at .+:\d+/, 'no stack trace');
    assertNoSecrets(stderr);
  });

  test('a database that cannot be reached at start-up is one line without the password, and exit 1', async () => {
    const { code, stderr } = await run({
      ...good(),
      DATABASE_URL: `postgres://bot:${DB_PASSWORD}@127.0.0.1:1/app`,
      PORT: '0',
    });
    assert.equal(code, 1);
    assert.match(stderr, /^pgsessions cannot start: .*ECONNREFUSED/);
    assert.equal(stderr.trim().split('\n').length, 1, stderr);
    assertNoSecrets(stderr);
  });
});
