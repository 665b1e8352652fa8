// Starts the real pgsessions (config → pools → Bolt over HTTP) in this process, wired to the suite's
// PostgreSQL and to a local stand-in for Slack's Web API. Logs are captured so tests can read them.
import { Writable } from 'node:stream';
import { createLogger } from '../../src/logger.js';
import { startPgsessions, type RunningApp, type StartOptions } from '../../src/pgsessions.js';
import type { SlackApi } from './slack-api.js';

export const SIGNING_SECRET = 'test-signing-secret-8f1d2c3b4a59';
export const BOT_TOKEN = 'xoxb-1111-2222-testtokenvalue';
export const AUDIT_CHANNEL = 'CAUDIT01';
export const REQUESTER = 'UREQ';
export const APPROVER = 'UAPP';
export const OUTSIDER = 'UOUT';

export interface TestApp extends RunningApp {
  logs: string[];
}

export function baseEnv(databaseUrl: string, slack: SlackApi, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_API_URL: slack.url,
    PORT: '0',
    DATABASE_URL: databaseUrl,
    PGSESSIONS_AUDIT_CHANNEL: AUDIT_CHANNEL,
    PGSESSIONS_APPROVERS: `${APPROVER},SAPPROVERS`,
    LOG_LEVEL: 'debug',
    // The flows send far more commands a minute from one user than any person would: per-user rate limits
    // are off here and tested on their own (test/flows/rate-limit.test.ts passes its own values).
    PGSESSIONS_LISTING_RATE: 'off',
    PGSESSIONS_REQUEST_RATE: 'off',
    ...extra,
  };
}

/** The secrets a run must never log: the tokens, the signing secret and every connection-string password. */
export function secretsOf(env: NodeJS.ProcessEnv): string[] {
  const secrets = [env.SLACK_BOT_TOKEN, env.SLACK_SIGNING_SECRET, env.SLACK_APP_TOKEN, env.PGSESSIONS_AUDIT_KEY];
  for (const key of ['DATABASE_URL', 'STATE_DATABASE_URL', 'PGSESSIONS_MIGRATE_DATABASE_URL']) {
    const value = env[key];
    if (!value) continue;
    try {
      secrets.push(decodeURIComponent(new URL(value).password));
    } catch {
      // not a URL: nothing to extract
    }
  }
  return secrets.filter((s): s is string => typeof s === 'string' && s.length >= 6);
}

/** Throws when any captured log line carries a secret: every test that starts the app checks this on stop. */
export function assertNoSecrets(logs: string[], secrets: string[]): void {
  for (const line of logs) {
    for (const secret of secrets) {
      if (line.includes(secret))
        throw new Error(`a secret reached the logs: ${line.replace(secret, '<<THE SECRET>>').slice(0, 500)}`);
    }
  }
}

export async function startTestApp(env: NodeJS.ProcessEnv, options: StartOptions = {}): Promise<TestApp> {
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      logs.push(String(chunk));
      done();
    },
  });
  const logger = createLogger(env.LOG_LEVEL ?? 'debug', sink);
  const app = await startPgsessions(env, { sweepIntervalMs: 200, outboxIntervalMs: 50, ...options, logger });
  return {
    ...app,
    logs,
    async stop() {
      await app.stop();
      assertNoSecrets(logs, secretsOf(env));
    },
  };
}
