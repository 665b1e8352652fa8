// The Kubernetes example (deploy/kubernetes/pgsessions.yaml) is a product file: people copy it. It must start the
// app as written: every setting it sets exists in the config schema, every secret it reads exists, the clusters
// file it mounts parses, no password sits in a ConfigMap or a plain value, and the probes reach /healthz.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { describe, it } from 'node:test';
import { parseAllDocuments } from 'yaml';
import { loadConfig, loadStateSettings, SETTING_NAMES } from '../src/config.js';

// biome-ignore lint/suspicious/noExplicitAny: Kubernetes objects are read as parsed YAML.
type K8s = any;
const docs: K8s[] = parseAllDocuments(readFileSync('deploy/kubernetes/pgsessions.yaml', 'utf8')).map((d) => {
  assert.equal(d.errors.length, 0, String(d.errors[0]));
  return d.toJS();
});
const only = (kind: string, name?: string): K8s => {
  const found = docs.filter((d) => d.kind === kind && (name === undefined || d.metadata.name === name));
  assert.equal(found.length, 1, `one ${kind}${name ? ` ${name}` : ''}`);
  return found[0];
};
const secret = only('Secret');
const configMap = only('ConfigMap');
const deployment = only('Deployment');
const job = only('Job');
const app = deployment.spec.template.spec.containers[0];

/** The environment a container gets, secrets resolved from the Secret in the file (unknown keys fail). */
function environment(container: K8s): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of container.env) {
    if (e.value !== undefined) out[e.name] = String(e.value);
    else {
      const ref = e.valueFrom.secretKeyRef;
      assert.equal(ref.name, secret.metadata.name, `${e.name} reads the Secret in the file`);
      assert.ok(ref.key in secret.stringData, `${e.name} reads key ${ref.key}, which the Secret has`);
      out[e.name] = secret.stringData[ref.key];
    }
  }
  return out;
}

/** Settings a container sets that neither the schema nor a clusters file's urlEnv knows. */
export function unknownSettings(names: string[], urlEnvs: string[]): string[] {
  return names.filter((n) => !SETTING_NAMES.includes(n) && !urlEnvs.includes(n));
}

const clustersText: string = Object.values(configMap.data)[0] as string;
const urlEnvs = [...clustersText.matchAll(/urlEnv:\s*(\w+)/g)].map((m) => m[1]!);

describe('the Kubernetes example', () => {
  it('sets only settings the config schema knows (or a clusters file names by urlEnv)', () => {
    assert.deepEqual(unknownSettings(Object.keys(environment(app)), urlEnvs), []);
    assert.deepEqual(unknownSettings(Object.keys(environment(job.spec.template.spec.containers[0])), []), []);
    // The check itself can fail: a misspelt setting is caught.
    assert.deepEqual(unknownSettings(['PGSESSIONS_APROVERS', 'PORT'], urlEnvs), ['PGSESSIONS_APROVERS']);
  });

  it('starts as written: the settings and the mounted clusters file load without a problem', () => {
    const env = environment(app);
    const mount = app.volumeMounts.find((m: K8s) => env.PGSESSIONS_CLUSTERS!.startsWith(`${m.mountPath}/`));
    assert.ok(mount, 'PGSESSIONS_CLUSTERS lies under a volume mount');
    const volume = deployment.spec.template.spec.volumes.find((v: K8s) => v.name === mount.name);
    assert.equal(volume.configMap.name, configMap.metadata.name);
    assert.equal(mount.subPath, undefined, 'mounted as a directory, so an edit reaches the pod without a restart');
    assert.ok(basename(env.PGSESSIONS_CLUSTERS!) in configMap.data, 'the clusters file is a key of the ConfigMap');
    assert.equal(dirname(env.PGSESSIONS_CLUSTERS!), mount.mountPath);

    const dir = mkdtempSync(join(tmpdir(), 'pgsessions-k8s-'));
    try {
      const file = join(dir, 'clusters.yaml');
      writeFileSync(file, configMap.data[basename(env.PGSESSIONS_CLUSTERS!)]);
      const config = loadConfig({ ...env, PGSESSIONS_CLUSTERS: file });
      assert.deepEqual(
        config.clusters.map((c) => c.name),
        ['orders', 'billing'],
      );
      assert.equal(config.port, Number(app.ports.find((p: K8s) => p.name === 'http').containerPort));
      assert.ok(config.auditKey, 'the audit chain is keyed');
      const migrate = loadStateSettings(environment(job.spec.template.spec.containers[0]));
      assert.notEqual(migrate.migrateDatabaseUrl, migrate.stateDatabaseUrl, 'the Job migrates as the owner');
      assert.equal(migrate.runtimeRole, new URL(config.stateDatabaseUrl).username, 'and grants the app’s role');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps every token, key and password in the Secret, none in a ConfigMap or a plain value', () => {
    const plain = [...[app, job.spec.template.spec.containers[0]].flatMap((c) => c.env.map((e: K8s) => e.value ?? ''))];
    for (const text of [...plain, clustersText]) {
      assert.doesNotMatch(String(text), /xox[bp]-|xapp-|postgres(ql)?:\/\//, 'a secret outside the Secret');
    }
    for (const name of ['SLACK_BOT_TOKEN', 'SLACK_SIGNING_SECRET', 'PGSESSIONS_AUDIT_KEY', 'STATE_DATABASE_URL']) {
      const e = app.env.find((x: K8s) => x.name === name);
      assert.ok(e?.valueFrom?.secretKeyRef, `${name} comes from the Secret`);
    }
  });

  it('runs 3 replicas probed on /healthz, and a disruption budget that keeps a majority', () => {
    assert.equal(deployment.spec.replicas, 3);
    for (const probe of [app.readinessProbe, app.livenessProbe]) {
      assert.equal(probe.httpGet.path, '/healthz');
      assert.equal(probe.httpGet.port, 'http');
    }
    const pdb = only('PodDisruptionBudget');
    assert.deepEqual(pdb.spec.selector.matchLabels, deployment.spec.selector.matchLabels);
    assert.deepEqual(deployment.spec.template.metadata.labels, deployment.spec.selector.matchLabels);
    assert.ok(pdb.spec.minAvailable >= 2 && pdb.spec.minAvailable < deployment.spec.replicas);
  });
});
