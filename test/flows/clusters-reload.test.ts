// The clusters file changes without a restart (docs/fleets.md, "The clusters file"): an edit in place, an
// editor's rename, a Kubernetes ConfigMap's symlink swap and SIGHUP all reach every replica; a cluster added
// is usable within 15 s, one removed stops being watched and takes its pending requests with it (expired, with a
// sentence saying why, nothing signalled), a broken edit keeps the previous set whole and the log says what is
// wrong. Every reload is audited by name, never with a connection string.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ACTION } from '../../src/slack/blocks/ids.js';
import { baseEnv, startTestApp, type TestApp } from '../helpers/app.js';
import {
  as,
  auditOf,
  click,
  command,
  sessionTracker,
  stateQuery,
  typedRequest,
  waitForStatus,
} from '../helpers/approval-flow.js';
import { sleepSession } from '../helpers/sessions.js';
import { useTestApp } from '../helpers/use-test-app.js';

const REQUESTER = 'UREQ';
const APPROVER = 'UAPP';
const WATCH_CHANNEL = 'CWATCHRL';
/** The contract: a cluster added is usable within 15 s on every replica. */
const WITHIN_MS = 15_000;

let dir: string;
let file: string;
const replicas: TestApp[] = [];
const sessions = sessionTracker();

// Two replicas over the fixture's database, reading the same file: started in ready, stopped in teardown.
const { db, slack } = useTestApp({
  database: 'clusters_reload',
  app: false,
  async ready() {
    dir = await mkdtemp(join(tmpdir(), 'pgsessions-reload-'));
    file = join(dir, 'clusters.yaml');
    const watched = [`    watch: { channel: ${WATCH_CHANNEL} }`];
    await writeFile(file, clustersYaml(entry('alpha', watched), entry('beta', watched)));
    for (let i = 0; i < 2; i++) replicas.push(await startTestApp(envFor(file), { watchLeaseSeconds: 3 }));
  },
  sessions,
  async teardown() {
    await Promise.all(replicas.map((r) => r.stop()));
  },
});
// After the fixture's teardown.
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

const entry = (name: string, extra: string[] = []) => [`  - name: ${name}`, `    url: ${db.url}`, ...extra];
const clustersYaml = (...entries: string[][]) => ['clusters:', ...entries.flat(), ''].join('\n');
const envFor = (path: string) => ({
  ...baseEnv(db.url, slack, { PGSESSIONS_CLUSTERS: path, STATE_DATABASE_URL: db.url }),
  DATABASE_URL: undefined,
});

/** Waits until `/pgsessions cluster:NAME` on `app` answers as `known` says (a listing, or "Unknown cluster"). */
async function waitForCluster(app: TestApp, name: string, known: boolean, timeoutMs = WITHIN_MS): Promise<number> {
  const started = Date.now();
  for (;;) {
    const { text } = await command(slack, app.port, `cluster:${name}`, as(REQUESTER, 'CRELOAD'));
    if (/Unknown cluster/.test(text) !== known) return Date.now() - started;
    if (Date.now() - started > timeoutMs)
      assert.fail(`cluster ${name} ${known ? 'not usable' : 'still there'}: ${text}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const reloads = async () =>
  (
    await stateQuery<{ details: { added: string[]; removed: string[]; changed: string[]; replica: string } }>(
      db.url,
      `SELECT details FROM pgsessions.audit_log WHERE event = 'clusters_reloaded' ORDER BY seq`,
    )
  ).map((r) => r.details);

test('a cluster added by an edit in place is usable on every replica within 15 s, audited by name only', async () => {
  const before = (await reloads()).length;
  await writeFile(file, clustersYaml(entry('alpha'), entry('beta'), entry('gamma')));
  for (const app of replicas) await waitForCluster(app, 'gamma', true);
  const added = (await reloads()).slice(before);
  assert.equal(added.length, 2, 'each replica audits its own reload');
  for (const d of added) assert.deepEqual(d.added, ['gamma']);
  const audit = JSON.stringify(
    await stateQuery(db.url, `SELECT details FROM pgsessions.audit_log WHERE event = 'clusters_reloaded'`),
  );
  assert.doesNotMatch(audit, /postgres(ql)?:\/\//, 'no connection string in the audit');
  const posts = await slack.waitFor(
    () => {
      const p = slack.callsTo('chat.postMessage').filter((c) => JSON.stringify(c.params).includes('clusters_reloaded'));
      return p.length >= 2 ? p : undefined;
    },
    { description: 'the reloads in the audit channel' },
  );
  assert.doesNotMatch(JSON.stringify(posts), /postgres(ql)?:\/\//);
  assert.match(JSON.stringify(posts[0]!.params), /added gamma/);
});

test('a cluster removed by a rename: its pending request expires with why, nothing is signalled, nor watched', async () => {
  const victim = sessions.track(await sleepSession(db.url, { seconds: 300, application: 'reload-victim' }));
  const { id } = await typedRequest(
    slack,
    replicas[0]!.port,
    `terminate ${victim.pid} cluster:beta still needed`,
    as(REQUESTER, 'CRELOAD'),
  );
  const tmp = join(dir, '.clusters.yaml.swp');
  await writeFile(tmp, clustersYaml(entry('alpha', [`    watch: { channel: ${WATCH_CHANNEL} }`]), entry('gamma')));
  await rename(tmp, file);

  await waitForStatus(db.url, id, ['expired'], WITHIN_MS);
  for (const app of replicas) await waitForCluster(app, 'beta', false);
  const expired = (await auditOf(db.url, id)).filter((e) => e.event === 'expired');
  assert.equal(expired.length, 1, 'two replicas reloaded; the request expired once');
  assert.equal((expired[0]!.details as { why?: string }).why, 'cluster_removed');
  const said = await slack.waitFor(
    () =>
      slack
        .callsTo('chat.postMessage')
        .find((c) => /cluster beta was removed from the clusters file/.test(String(c.params.text))),
    { description: 'the sentence in the request thread' },
  );
  assert.ok(said.params.thread_ts, 'said in the request thread');
  assert.match(String(said.params.text), new RegExp(`<@${REQUESTER}>`));

  // An approval that arrives now (a stale button) signals nothing.
  const refused = await click(slack, replicas[1]!.port, ACTION.approve, id, as(APPROVER, 'CRELOAD'));
  assert.match(await refused.reply(), /expired/i);
  const alive = await stateQuery(db.url, 'SELECT 1 FROM pg_stat_activity WHERE pid = $1', [victim.pid]);
  assert.equal(alive.length, 1, 'the session was not signalled');

  // Beta is no longer watched by anyone: only alpha keeps a live lease.
  const deadline = Date.now() + WITHIN_MS;
  let leased: string[] = [];
  while (Date.now() < deadline) {
    leased = (
      await stateQuery<{ cluster: string }>(
        db.url,
        'SELECT cluster FROM pgsessions.watch_leases WHERE expires_at > now() ORDER BY cluster',
      )
    ).map((r) => r.cluster);
    if (leased.join() === 'alpha') break;
    await new Promise((r) => setTimeout(r, 250));
  }
  assert.deepEqual(leased, ['alpha']);
});

test('a broken edit keeps the previous set whole, and the log says exactly what is wrong', async () => {
  const before = (await reloads()).length;
  const broken: Array<[string, RegExp]> = [
    ['clusters:\n  - name: alpha\n    url: [unclosed\n', /PGSESSIONS_CLUSTERS cannot read/],
    [clustersYaml(entry('alpha'), entry('alpha')), /cluster alpha is named twice/],
    [clustersYaml(entry('alpha'), ['  - name: delta', '    urlEnv: DELTA_URL_NOT_SET']), /cluster delta needs url/],
  ];
  for (const [text, problem] of broken) {
    const logged = replicas.map((r) => r.logs.length);
    await writeFile(file, text);
    for (const [i, app] of replicas.entries()) {
      await slack.waitFor(() => app.logs.slice(logged[i]).find((l) => problem.test(l)), {
        timeoutMs: WITHIN_MS,
        description: `the log names ${problem}`,
      });
      assert.ok(
        app.logs.slice(logged[i]).some((l) => /previous clusters stay in use/.test(l)),
        'the log says nothing changed',
      );
      // The previous set whole: alpha and gamma still answer, delta never appeared.
      await waitForCluster(app, 'gamma', true, 0);
      await waitForCluster(app, 'alpha', true, 0);
      await waitForCluster(app, 'delta', false, 0);
    }
  }
  assert.equal((await reloads()).length, before, 'a refused reload is not a reload');
});

test('a ConfigMap symlink swap and SIGHUP reload too', async () => {
  // Kubernetes mounts a ConfigMap as clusters.yaml -> ..data/clusters.yaml, ..data -> ..<timestamp>/, and swaps
  // ..data atomically on an update.
  const k8s = await mkdtemp(join(tmpdir(), 'pgsessions-configmap-'));
  try {
    await mkdir(join(k8s, '..v1'));
    await writeFile(join(k8s, '..v1', 'clusters.yaml'), clustersYaml(entry('alpha')));
    await symlink('..v1', join(k8s, '..data'));
    await symlink('..data/clusters.yaml', join(k8s, 'clusters.yaml'));
    // This replica never polls and hears the file watch: only the swap's directory event, or SIGHUP.
    const pod = await startTestApp(envFor(join(k8s, 'clusters.yaml')), { clustersPollMs: 3_600_000 });
    try {
      await mkdir(join(k8s, '..v2'));
      await writeFile(join(k8s, '..v2', 'clusters.yaml'), clustersYaml(entry('alpha'), entry('epsilon')));
      await symlink('..v2', join(k8s, '..data_tmp'));
      await rename(join(k8s, '..data_tmp'), join(k8s, '..data'));
      await waitForCluster(pod, 'epsilon', true);

      const quiet = await startTestApp(envFor(join(k8s, 'clusters.yaml')), {
        clustersPollMs: 3_600_000,
        clustersFileWatch: false,
      });
      try {
        await writeFile(join(k8s, '..v2', 'clusters.yaml'), clustersYaml(entry('alpha'), entry('zeta')));
        await new Promise((r) => setTimeout(r, 1_000));
        await waitForCluster(quiet, 'zeta', false, 0);
        process.kill(process.pid, 'SIGHUP');
        await waitForCluster(quiet, 'zeta', true);
      } finally {
        await quiet.stop();
      }
    } finally {
      await pod.stop();
    }
  } finally {
    await rm(k8s, { recursive: true, force: true });
  }
});
