// parseClustersFile: a clusters file's text checked without reading a file or starting anything, so that a
// reload can refuse a bad file before anything changes. Clusters, or every problem — never half of a file.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEFAULT_WATCH, parseClustersFile } from '../../src/config.js';

const PASSWORD = 'file-password-do-not-print-5d1e';
const options = { path: 'clusters.yml', watch: DEFAULT_WATCH };

test('a good file gives its clusters, urlEnv read from the environment given, and each cluster its watch', () => {
  const text = [
    'clusters:',
    '  - name: orders',
    `    urlEnv: ORDERS_URL`,
    '    approvers: [U0APPROVE]',
    '    watch: { channel: C0WATCH01, lockWait: 5s }',
    '  - name: billing',
    '    url: postgres://bot@billing.internal/app',
  ].join('\n');
  const parsed = parseClustersFile(text, { ORDERS_URL: `postgres://bot:${PASSWORD}@orders.internal/app` }, options);
  assert.ok(parsed.ok, `expected clusters, got ${JSON.stringify(parsed)}`);
  assert.deepEqual(
    parsed.clusters.map((c) => [c.name, c.url, c.approvers]),
    [
      ['orders', `postgres://bot:${PASSWORD}@orders.internal/app`, ['U0APPROVE']],
      ['billing', 'postgres://bot@billing.internal/app', null],
    ],
  );
  assert.equal(parsed.watch.orders?.channel, 'C0WATCH01');
  assert.equal(parsed.watch.orders?.thresholds.lockWaitSeconds, 5);
  assert.deepEqual(parsed.watch.billing, DEFAULT_WATCH);
});

test('a bad file gives every problem and no clusters, and never echoes a connection string', () => {
  const text = [
    '- name: orders',
    '  urlEnv: UNSET_URL',
    '- name: orders',
    `  url: postgres://bot:${PASSWORD}@orders.internal/app`,
    '  watch: { interval: 1h }',
    '- name: billing',
    '  urlEnv: BILLING_URL',
  ].join('\n');
  const parsed = parseClustersFile(text, { BILLING_URL: `mysql://bot:${PASSWORD}@billing.internal/app` }, options);
  assert.equal(parsed.ok, false);
  assert.ok(!('clusters' in parsed), 'a bad file yields no clusters at all');
  const problems = parsed.ok ? [] : parsed.problems;
  assert.ok(problems.some((p) => p.includes('cluster orders needs url, or urlEnv')));
  assert.ok(problems.some((p) => p.includes('cluster orders is named twice')));
  assert.ok(problems.some((p) => p.includes('cluster orders watch: PGSESSIONS_WATCH_INTERVAL must be a duration')));
  assert.ok(problems.some((p) => p.includes('cluster billing connection must be a postgres://')));
  assert.ok(!problems.join('\n').includes(PASSWORD), 'no problem shows a password');
});

test('text that is not YAML, or not a list of clusters, is one sentence naming the file', () => {
  const broken = parseClustersFile('clusters:\n  - name: [unclosed\n', {}, options);
  assert.ok(
    !broken.ok &&
      broken.problems.length === 1 &&
      broken.problems[0]!.startsWith('PGSESSIONS_CLUSTERS cannot read clusters.yml: '),
  );
  const shapeless = parseClustersFile('clusters: []\n', {}, options);
  assert.ok(!shapeless.ok && shapeless.problems.every((p) => p.startsWith('PGSESSIONS_CLUSTERS (clusters.yml): ')));
});
