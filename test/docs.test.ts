// The docs name only what exists: every `npm run …` is a script in package.json, and every setting is read
// by the code. A renamed setting or script that the docs still teach fails here, not at 3 a.m.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';

const ROOT = resolve('.');

function walk(dir: string, keep: (name: string) => boolean): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return walk(path, keep);
    return keep(name) ? [path] : [];
  });
}

const docs = [resolve('README.md'), resolve('BENCHMARKS.md'), ...walk(resolve('docs'), (n) => n.endsWith('.md'))];
/** Settings are environment variables: the product's own prefixes, and the few plain names it reads. */
const SETTING =
  /\b(?:PGSESSIONS|SLACK|PLAYGROUND|BENCH|TEST|PG)_[A-Z0-9_]*[A-Z0-9]\b(?:_\*)?|\b(?:DATABASE_URL|METRICS_PORT|LOG_LEVEL|CHROMIUM_PATH)\b/g;
const code = [
  ...walk(resolve('src'), (n) => n.endsWith('.ts')),
  ...walk(resolve('bench'), (n) => n.endsWith('.ts')),
  ...walk(resolve('test'), (n) => n.endsWith('.ts') && n !== 'docs.test.ts'),
]
  .map((file) => readFileSync(file, 'utf8'))
  .join('\n');

test('every `npm run …` in the README and docs/ is a script of package.json', () => {
  const scripts = Object.keys(
    (JSON.parse(readFileSync('package.json', 'utf8')) as { scripts: Record<string, string> }).scripts,
  );
  const missing: string[] = [];
  for (const doc of docs) {
    for (const [, name] of readFileSync(doc, 'utf8').matchAll(/npm run ([a-z][\w:-]*)/g)) {
      if (!scripts.includes(name!)) missing.push(`${relative(ROOT, doc)}: npm run ${name}`);
    }
  }
  assert.deepEqual(missing, []);
});

test('every setting the README and docs/ name is read somewhere in the code', () => {
  const missing = new Set<string>();
  for (const doc of docs) {
    for (const [name] of readFileSync(doc, 'utf8').matchAll(SETTING)) {
      const wildcard = name.endsWith('_*');
      const bare = wildcard ? name.slice(0, -1) : name;
      const pattern = wildcard ? new RegExp(`\\b${bare}[A-Z]`) : new RegExp(`\\b${bare}\\b`);
      if (!pattern.test(code)) missing.add(`${relative(ROOT, doc)}: ${name}`);
    }
  }
  assert.deepEqual([...missing], []);
});
