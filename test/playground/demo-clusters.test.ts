// The playground's clusters file, read by the app's own parser: `default` keeps today's rules (the walkthrough),
// `payments` needs two approvers to terminate, escalates to the on-call group after 10 s and does not watch
// (the same sessions would alert twice); neither entry holds a password — both name DATABASE_URL.
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { existsSync, statSync } from 'node:fs';
import { test } from 'node:test';
import { DEFAULT_WATCH, parseClustersFile } from '../../src/config.js';
import { DEFAULT_ROUTING } from '../../src/domain/routing.js';
import { demoClustersYaml, QUORUM_CLUSTER, writeDemoClusters } from '../../src/playground/demo-clusters.js';
import { ON_CALL, PEOPLE } from '../../src/playground/people.js';

const URL = 'postgres://pgsessions:secret@127.0.0.1:5432/shop';

test('the demo clusters file gives payments a quorum of two and an escalation to on-call, default nothing new', () => {
  const parsed = parseClustersFile(demoClustersYaml(), { DATABASE_URL: URL }, { path: 'demo', watch: DEFAULT_WATCH });
  assert.ok(parsed.ok, parsed.ok ? '' : parsed.problems.join('; '));
  const [main, payments] = parsed.clusters;
  assert.equal(main?.name, 'default', 'commands without cluster: go to default, as in the walkthrough');
  assert.equal(main?.url, URL);
  assert.equal(main?.routing ?? DEFAULT_ROUTING, DEFAULT_ROUTING);
  assert.equal(parsed.watch.default?.channel, DEFAULT_WATCH.channel);
  assert.equal(payments?.name, QUORUM_CLUSTER);
  assert.equal(payments?.url, URL);
  assert.deepEqual(payments?.routing?.quorum, { terminate: 2, cancel: 1 });
  assert.deepEqual(payments?.routing?.escalate, { afterSeconds: 10, to: [ON_CALL.id] });
  assert.deepEqual(payments?.routing?.breakGlass.kinds, [], 'no break-glass in the demo');
  assert.equal(parsed.watch[QUORUM_CLUSTER]?.channel, null, 'payments does not alert: default already does');
});

test('two approvers and an on-call person who approves nothing', () => {
  assert.deepEqual(
    PEOPLE.filter((p) => p.part === 'approver').map((p) => p.name),
    ['Alex', 'Jordan'],
  );
  for (const member of ON_CALL.members) {
    assert.notEqual(PEOPLE.find((p) => p.id === member)?.part, 'approver', 'escalation tells someone new');
  }
});

test('the file holds no connection string, is private to its owner, and is removed with the playground', async () => {
  const file = await writeDemoClusters();
  try {
    const text = await readFile(file.path, 'utf8');
    assert.ok(!/postgres(ql)?:\/\//.test(text), text);
    assert.equal(statSync(file.path).mode & 0o077, 0);
  } finally {
    await file.remove();
  }
  assert.equal(existsSync(file.path), false);
});
