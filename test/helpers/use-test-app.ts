// One fixture for the set-up most test files share: a fresh database on the suite's server, the Slack stand-in,
// the real app over HTTP between them, what is cleaned up after each test, and the teardown. It registers
// node:test hooks, so call it once at the top of a file, before the file's own hooks (their `after` runs after
// its teardown: a role that owns objects in the database is dropped after it). A file's own top-level `before`
// may run alongside the fixture's on Node 20 (it does not wait for an earlier top-level `before`): set-up that
// needs the database, the stand-in or the app goes in `prepare` or `ready`.
//
//   const sessions = sessionTracker();
//   const { db, slack, app } = useTestApp({ database: 'grp', start: { terminateTimeoutMs: 3_000 }, sessions });
import { after, afterEach, before } from 'node:test';
import type { StartOptions } from '../../src/pgsessions.js';
import { baseEnv, startTestApp, type TestApp } from './app.js';
import { stateQuery } from './approval-flow.js';
import { late } from './late.js';
import { createTestDatabase, type TestDatabase } from './pg.js';
import { startSlackApi, type SlackApi } from './slack-api.js';
import { incidents } from './watch.js';

type Env = Record<string, string | undefined>;

export interface TestAppOptions {
  /** The prefix of the fresh database's name. */
  database: string;
  /** Runs once the database and the stand-in exist, before the app starts: tables, roles, a clusters file. */
  prepare?: (db: TestDatabase, slack: SlackApi) => Promise<void>;
  /**
   * The app's environment over `baseEnv(db.url, slack)` (a value of undefined removes the setting). A function
   * is called after `prepare`, so it can name what prepare made.
   */
  env?: Env | ((db: TestDatabase, slack: SlackApi) => Env);
  /** Options of startPgsessions (terminateTimeoutMs, watchUpdateGapSeconds …). */
  start?: StartOptions;
  /** false: only the database and the stand-in; the file starts its own apps. */
  app?: boolean;
  /** Runs once everything is up (the app too, unless `app: false`): sessions that live for the whole file. */
  ready?: (fixture: TestAppFixture) => Promise<void>;
  /** Runs first in the teardown, before the app stops: what the file made in `prepare`/`ready` that uses them. */
  teardown?: () => Promise<void>;
  /** After each test, in this order: */
  /** revoke every rule still proposed or approved (a rule of one test must not act in the next); */
  revokeRules?: boolean;
  /** end what the test tracked (`sessionTracker()`); */
  sessions?: { endAll(): Promise<void> };
  /** wait (up to 15 s) until no incident is open, so that the next test starts without one; */
  incidentsClosed?: boolean;
  /** forget the stand-in's recorded calls, faults and channels. */
  resetSlack?: boolean;
}

export interface TestAppFixture {
  db: TestDatabase;
  slack: SlackApi;
  /** The running app; throws when used with `app: false`. */
  app: TestApp;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function useTestApp(options: TestAppOptions): TestAppFixture {
  const db = late<TestDatabase>('the test database');
  const slack = late<SlackApi>('the Slack stand-in');
  const app = late<TestApp>('the app');

  before(async () => {
    const [database, standIn] = await Promise.all([createTestDatabase(options.database), startSlackApi()]);
    db.set(database);
    slack.set(standIn);
    await options.prepare?.(database, standIn);
    if (options.app !== false) {
      const extra = typeof options.env === 'function' ? options.env(database, standIn) : (options.env ?? {});
      const env: NodeJS.ProcessEnv = { ...baseEnv(database.url, standIn), ...extra };
      app.set(await startTestApp(env, options.start));
    }
    await options.ready?.({ db: db.ref, slack: slack.ref, app: app.ref });
  });

  afterEach(async () => {
    const database = db.current;
    if (options.revokeRules && database) {
      await stateQuery(
        database.url,
        "UPDATE pgsessions.rules SET status = 'revoked', ended_at = now() WHERE status IN ('proposed', 'approved')",
      );
    }
    await options.sessions?.endAll();
    if (options.incidentsClosed && database) {
      const deadline = Date.now() + 15_000;
      while ((await incidents(database.url)).some((i) => i.status === 'open') && Date.now() < deadline)
        await sleep(200);
    }
    if (options.resetSlack) slack.current?.reset();
  });

  after(async () => {
    await options.teardown?.();
    await app.current?.stop();
    await slack.current?.close();
    await db.current?.drop();
    app.set(undefined);
    slack.set(undefined);
    db.set(undefined);
  });

  return { db: db.ref, slack: slack.ref, app: app.ref };
}
