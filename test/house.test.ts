// The checker of the code's shape (`npm run house`) finds what it says it finds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspectTree } from '../bench/house.js';

test('the house check flags a long file, a long function and an import up a layer, and nothing in a tidy tree', () => {
  const root = mkdtempSync(join(tmpdir(), 'house-'));
  try {
    mkdirSync(join(root, 'src/domain'), { recursive: true });
    mkdirSync(join(root, 'src/slack'), { recursive: true });
    mkdirSync(join(root, 'src/watch'), { recursive: true });
    writeFileSync(join(root, 'src/domain/tidy.ts'), 'export function small(): number {\n  return 1;\n}\n');
    writeFileSync(join(root, 'src/slack/port.ts'), 'export interface Port { post(): void }\n');
    assert.deepEqual(inspectTree(root), []);

    const body = Array.from({ length: 81 }, (_, i) => `  const v${i} = ${i};`).join('\n');
    writeFileSync(
      join(root, 'src/domain/long.ts'),
      `export const long = () => {\n${body}\n};\n${'// filler\n'.repeat(330)}`,
    );
    writeFileSync(
      join(root, 'src/watch/upward.ts'),
      "import type { Port } from '../slack/port.js';\nexport type P = Port;\n",
    );
    const found = inspectTree(root).map((f) => `${f.kind} ${f.where} ${f.what}`);
    assert.deepEqual(found.sort(), [
      'file src/domain/long.ts 414 lines',
      'function src/domain/long.ts:1 long: 83 lines',
      'import src/watch/upward.ts watch imports slack: src/slack/port.ts',
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
