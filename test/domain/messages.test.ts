// One vocabulary (issue 18): every refusal sentence comes from domain/messages.ts, every error class lives in
// domain/errors.ts, and no error code is smuggled onto a plain Error. These read the source tree, so a copy
// that creeps back in fails here rather than drifting apart from the one a test asserts.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { test } from 'node:test';
import { FAILURE_MESSAGES, READ_ONLY_TEXT, RULE_FAILURES, readRefusalText } from '../../src/domain/messages.js';
import { REFUSAL_CODES } from '../../src/domain/outcome.js';

const ROOT = resolve('.');

function sources(dir = join(ROOT, 'src')): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sources(path);
    return path.endsWith('.ts') ? [relative(ROOT, path)] : [];
  });
}

const read = (path: string) => readFileSync(join(ROOT, path), 'utf8');

test('the read-only sentence is written once, in messages.ts, and every refusal table uses it', () => {
  const writers = sources().filter((path) => read(path).includes('read-only mode (PGSESSIONS_READ_ONLY)'));
  assert.deepEqual(writers, ['src/domain/messages.ts']);
  assert.equal(FAILURE_MESSAGES.read_only, READ_ONLY_TEXT);
  assert.ok(RULE_FAILURES.read_only.startsWith(READ_ONLY_TEXT.slice(0, READ_ONLY_TEXT.indexOf(':') + 1)));
});

test('error classes live in domain/errors.ts, and no code is attached to a plain Error', () => {
  const classes = sources().filter((path) => /\bclass \w+ extends Error\b/.test(read(path)));
  assert.deepEqual(classes, ['src/domain/errors.ts']);
  const smuggled = sources().filter((path) => /Object\.assign\(\s*new Error/.test(read(path)));
  assert.deepEqual(smuggled, []);
});

test('every refusal sentence has a known code and says something', () => {
  for (const table of [FAILURE_MESSAGES, RULE_FAILURES]) {
    for (const [code, sentence] of Object.entries(table)) {
      assert.ok((REFUSAL_CODES as readonly string[]).includes(code), code);
      assert.ok(sentence.trim().length > 10, code);
    }
  }
});

test('a read refusal names the cluster in the caller’s format, and never more than it was given', () => {
  const code = (name: string) => `[${name}]`;
  assert.equal(
    readRefusalText({ code: 'unknown_cluster', asked: 'nope', known: ['alpha', 'beta'] }, code),
    'Unknown cluster nope. Known clusters: [alpha], [beta].',
  );
  assert.match(
    readRefusalText({ code: 'not_viewer', cluster: 'alpha' }, code),
    /on cluster \[alpha\] \(PGSESSIONS_VIEWERS\)/,
  );
  assert.match(
    readRefusalText({ code: 'not_viewer' }, code),
    /^You are not among the people who may look at sessions here/,
  );
  assert.match(
    readRefusalText({ code: 'full', cluster: 'a', refusedBy: 'pooler' }),
    /pooler in front of cluster a is full/,
  );
  assert.match(
    readRefusalText({ code: 'full', cluster: 'a', refusedBy: 'server' }),
    /^Cluster a is full: max_connections/,
  );
  const slow = readRefusalText({ code: 'slow', cluster: 'a', detail: 'x'.repeat(500) }, code, (t, max) =>
    t.slice(0, max),
  );
  assert.ok(slow.length < 400, 'the detail is cut to the renderer’s limit');
});
