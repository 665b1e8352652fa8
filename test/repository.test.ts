// The repository stands alone: a clone with nothing beside it builds, runs and passes its tests. So no file
// names a path outside the repository, and every relative link in the docs leads to a file that is here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const ROOT = resolve('.');
const SKIP = new Set(['node_modules', '.git', 'dist', '.pg-versions']);
const TEXT = /\.(ts|js|mjs|json|md|yml|yaml|sql|sh|html|css|txt)$|^(Dockerfile|run|\.dockerignore|\.gitignore)$/;

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    if (SKIP.has(name)) return [];
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return files(path);
    return TEXT.test(name) ? [path] : [];
  });
}

test('no file in the repository names a path outside it', () => {
  const outside: string[] = [];
  for (const file of files(ROOT)) {
    if (file === resolve('test/repository.test.ts')) continue;
    const text = readFileSync(file, 'utf8');
    for (const pattern of [/\.\.\/shared\b/, /\/work\/(?:shared|main|\.library)\b/, /\.\.\/\.library\b/]) {
      if (pattern.test(text)) outside.push(`${relative(ROOT, file)} (${pattern.source})`);
    }
  }
  assert.deepEqual(outside, []);
});

test('every relative link in the README and docs/ leads to a file in the repository', () => {
  const docs = [resolve('README.md'), ...files(resolve('docs')).filter((f) => f.endsWith('.md'))];
  const dead: string[] = [];
  for (const doc of docs) {
    for (const [, target] of readFileSync(doc, 'utf8').matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^[a-z]+:/i.test(target!) || target!.startsWith('#')) continue;
      const path = resolve(dirname(doc), target!.split('#')[0]!);
      if (!path.startsWith(`${ROOT}/`) || !existsSync(path)) dead.push(`${relative(ROOT, doc)} → ${target}`);
    }
  }
  assert.deepEqual(dead, []);
});
