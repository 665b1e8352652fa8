// Logs never carry the bot token, the signing secret or a database password: scrubSecrets on free text,
// pino redaction on fields, and a real debug-level run of the app whose captured logs are searched.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, before, describe, test } from 'node:test';
import { createLogger, scrubSecrets, slackLogger } from '../src/logger.js';
import { BOT_TOKEN, SIGNING_SECRET, baseEnv, startTestApp, type TestApp } from './helpers/app.js';
import { createTestDatabase, type TestDatabase } from './helpers/pg.js';
import { ask } from './helpers/replies.js';
import { startSlackApi, type SlackApi } from './helpers/slack-api.js';
import { FORM_CONTENT_TYPE, postSigned, slashCommandBody } from './helpers/slack-requests.js';

function capture(level = 'debug') {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  return { logger: createLogger(level, sink), lines, text: () => lines.join('') };
}

describe('scrubSecrets', () => {
  test('removes Slack tokens of every kind', () => {
    const out = scrubSecrets('bot xoxb-1111-2222-abcDEF user xoxp-9-8-7 app xapp-1-A0-123-abc refresh xoxe-1-xyz');
    for (const token of ['xoxb-1111-2222-abcDEF', 'xoxp-9-8-7', 'xapp-1-A0-123-abc', 'xoxe-1-xyz'])
      assert.ok(!out.includes(token), out);
    assert.match(out, /bot xox\?-\[redacted\] user xox\?-\[redacted\] app xapp-\[redacted\]/);
  });

  test('removes the password from connection strings and key=value settings, and keeps the rest readable', () => {
    assert.equal(
      scrubSecrets('connect to postgres://bot:s3cr%40t@db.internal:5432/app failed'),
      'connect to postgres://bot:[redacted]@db.internal:5432/app failed',
    );
    assert.equal(
      scrubSecrets('postgresql://u:p@h/d and https://a:b@slack.example/x'),
      'postgresql://u:[redacted]@h/d and https://a:[redacted]@slack.example/x',
    );
    assert.equal(scrubSecrets("host=db password='pa ss' user=bot"), 'host=db password=[redacted] user=bot');
    assert.equal(scrubSecrets('PASSWORD = hunter2'), 'PASSWORD = [redacted]');
    assert.equal(scrubSecrets('postgres://bot@db/app (no password)'), 'postgres://bot@db/app (no password)');
    assert.equal(scrubSecrets('pid 42 ended'), 'pid 42 ended');
  });

  test('covers passwords holding a raw / or @ (the last @ before the host ends them) and percent-encoded ones', () => {
    assert.equal(scrubSecrets('postgres://u:p@ss/w@rd@host/db'), 'postgres://u:[redacted]@host/db');
    assert.equal(scrubSecrets('at postgres://bot:a/b/c@db:5432/app.'), 'at postgres://bot:[redacted]@db:5432/app.');
    assert.equal(scrubSecrets('postgres://u:p%2Fw%40rd%3A@host/db'), 'postgres://u:[redacted]@host/db');
    assert.equal(scrubSecrets('POSTGRESQL://U:Secret@H/D'), 'POSTGRESQL://U:[redacted]@H/D');
    assert.equal(
      scrubSecrets('("postgres://u:pw1@h1/d", postgres://v:pw2@h2/e)'),
      '("postgres://u:[redacted]@h1/d", postgres://v:[redacted]@h2/e)',
    );
    assert.equal(scrubSecrets('a://x:y@z\nb://p:q@r'), 'a://x:[redacted]@z\nb://p:[redacted]@r');
    // No userinfo: nothing changes, however long.
    for (const plain of [
      'https://host:8080/path',
      'https://host/a@b',
      'postgres://bot@db/app',
      ':// no scheme',
      `/${'a'.repeat(16_000)}`,
      `${'a'.repeat(5_000)}://${'b'.repeat(5_000)}`,
    ]) {
      assert.equal(scrubSecrets(plain), plain);
    }
    // An @ further on in the same word widens the redaction (never narrows it): no part of the password remains.
    const wide = scrubSecrets('postgres://u:pa@ss@host/db?x=a@b');
    assert.ok(!wide.includes('pa@ss') && !wide.includes('ss@host'), wide);
    assert.match(wide, /^postgres:\/\/u:\[redacted\]@b$/);
  });
});

describe('the pino root', () => {
  test('redacts secret fields, nested or not, and scrubs messages and errors', () => {
    const { logger, text, lines } = capture();
    logger.info(
      { token: 'plain-token-value', botToken: 'bt-value', headers: { authorization: 'Bearer hdr-value' } },
      'fields',
    );
    logger.info(
      { config: { signingSecret: 'ss-value', password: 'pw-value', url: 'postgres://u:url-pw@h/d' } },
      'nested',
    );
    logger.info(
      { request: { cluster: { connection: { password: 'deep-pw-value', token: 'deep-token-value' } } } },
      'deep',
    );
    logger.warn({ err: new Error('could not connect to postgres://bot:err-pw@db/app with xoxb-err-token') }, 'failed');
    logger.info('free text with xoxb-free-token and postgres://u:free-pw@h/d');
    logger.info(
      { a: { b: { c: { d: { e: { f: { g: 'postgres://u:deepest-pw@h/d', password: 'deepest-pw2' } } } } } } },
      'very deep',
    );
    logger.info({ cluster: 'main', pid: 42 }, 'ordinary fields stay');
    const all = text();
    for (const secret of [
      'plain-token-value',
      'bt-value',
      'hdr-value',
      'ss-value',
      'pw-value',
      'url-pw',
      'deep-pw-value',
      'deep-token-value',
      'err-pw',
      'xoxb-err-token',
      'xoxb-free-token',
      'free-pw',
      'deepest-pw',
    ]) {
      assert.ok(!all.includes(secret), `${secret} leaked:\n${all}`);
    }
    const last = JSON.parse(lines.at(-1)!) as Record<string, unknown>;
    assert.equal(last.cluster, 'main');
    assert.equal(last.pid, 42);
    const failed = JSON.parse(lines[3]!) as { err: { message: string; type: string } };
    assert.equal(failed.err.type, 'Error');
    assert.match(failed.err.message, /^could not connect to postgres:\/\/bot:\[redacted\]@db\/app/);
  });

  test('never logs the audit key, however it is passed', () => {
    const { logger, text } = capture();
    logger.info({ auditKey: 'audit-key-value-1' }, 'top');
    logger.info({ config: { auditKey: 'audit-key-value-2' } }, 'nested');
    logger.info({ env: { PGSESSIONS_AUDIT_KEY: 'audit-key-value-3' } }, 'env');
    logger.info({ a: { b: { c: { auditKey: 'audit-key-value-4' } } } }, 'deep');
    const all = text();
    for (let i = 1; i <= 4; i++) assert.ok(!all.includes(`audit-key-value-${i}`), `audit key ${i} leaked:\n${all}`);
  });

  test('Bolt’s logger adapter scrubs what Bolt and the Web API client log', () => {
    const { logger, text } = capture();
    const slack = slackLogger(logger);
    slack.debug('http request body:', { token: 'xoxb-bolt-debug', nested: { url: 'postgres://u:bolt-pw@h/d' } });
    slack.error(new Error('failed with xoxb-bolt-error'));
    const all = text();
    for (const secret of ['xoxb-bolt-debug', 'bolt-pw', 'xoxb-bolt-error'])
      assert.ok(!all.includes(secret), `${secret} leaked:\n${all}`);
  });
});

describe('a debug-level run of the app', () => {
  let db: TestDatabase;
  let slack: SlackApi;
  let app: TestApp;
  let dir: string;
  const downPassword = 'down-cluster-password-5e1';
  const dbPassword = () => decodeURIComponent(new URL(db.url).password);

  before(async () => {
    [db, slack] = await Promise.all([createTestDatabase('logging'), startSlackApi()]);
    dir = await mkdtemp(join(tmpdir(), 'pgsessions-logging-'));
    const file = join(dir, 'clusters.yml');
    await writeFile(
      file,
      `clusters:\n  - name: main\n    url: ${db.url}\n  - name: down\n    url: postgres://bot:${downPassword}@127.0.0.1:1/x\n`,
    );
    // auth.test failing with a server error makes the app log the Web API client's error at start-up.
    slack.failNext('auth.test', 3, { status: 500 });
    app = await startTestApp(
      baseEnv(db.url, slack, {
        DATABASE_URL: '',
        STATE_DATABASE_URL: db.url,
        PGSESSIONS_CLUSTERS: file,
        LOG_LEVEL: 'debug',
      }),
    );
  });
  after(async () => {
    await app?.stop();
    await slack?.close();
    await db?.drop();
    await rm(dir, { recursive: true, force: true });
  });

  test('leaves neither the bot token, the signing secret nor a database password in the logs', async () => {
    assert.ok(dbPassword().length > 0);
    await ask(app, slack, 'cluster:main');
    await ask(app, slack, 'cluster:down');
    await ask(app, slack, 'status');
    await ask(app, slack, 'cluster:main limit:0');
    // A reply that Slack refuses, and a forged request.
    slack.failNext('response_url', 1, { status: 500 });
    await postSigned(
      app.port,
      SIGNING_SECRET,
      slashCommandBody({ text: 'help', responseUrl: slack.responseUrl('refused') }),
      FORM_CONTENT_TYPE,
    );
    await slack.waitFor(() => slack.responsesTo('refused')[0]);
    await postSigned(
      app.port,
      'wrong-secret',
      slashCommandBody({ text: 'help', responseUrl: slack.responseUrl() }),
      FORM_CONTENT_TYPE,
    );
    await new Promise((resolve) => setTimeout(resolve, 200));

    const logs = app.logs.join('');
    assert.ok(app.logs.length > 20, 'debug logging is on');
    assert.ok(
      app.logs.some((l) => /"level":20/.test(l)),
      'debug lines were written',
    );
    assert.match(logs, /Cannot reach|unreachable/, 'the unreachable cluster was logged');
    assert.match(
      logs,
      /could not reach Slack to check the token/,
      'the Web API client’s error (which carries the request’s headers) was logged',
    );
    for (const [what, secret] of [
      ['bot token', BOT_TOKEN],
      ['signing secret', SIGNING_SECRET],
      ['database password', dbPassword()],
      ['unreachable cluster password', downPassword],
    ] as const) {
      assert.ok(!logs.includes(secret), `the ${what} is in the logs`);
    }
    // Every line is JSON: nothing is written around the logger.
    for (const line of app.logs) assert.doesNotThrow(() => JSON.parse(line), line);
  });
});
