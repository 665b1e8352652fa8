// `npx tsx bench/heap-summary.ts FILE.heapsnapshot [top]`: what a V8 heap snapshot holds, by node type and by
// constructor (count and self size), largest first. A snapshot is taken after a full GC, so this is what is
// live. Used for the memory figures in BENCHMARKS.md; the snapshots themselves are not committed.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: tsx bench/heap-summary.ts FILE.heapsnapshot [top]');
  process.exit(2);
}
const top = Number(process.argv[3] ?? 25);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = fields.length;
const at = { type: fields.indexOf('type'), name: fields.indexOf('name'), size: fields.indexOf('self_size') };

const byType = new Map<string, { count: number; size: number }>();
const byName = new Map<string, { count: number; size: number }>();
let total = 0;
const add = (map: Map<string, { count: number; size: number }>, key: string, size: number) => {
  const entry = map.get(key) ?? { count: 0, size: 0 };
  entry.count += 1;
  entry.size += size;
  map.set(key, entry);
};
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + at.type]!] ?? '?';
  const size = snap.nodes[i + at.size]!;
  total += size;
  add(byType, type, size);
  // Objects are named by constructor; strings, code and arrays by their type (their "name" is their content).
  const name =
    type === 'object' || type === 'closure' || type === 'native'
      ? `${snap.strings[snap.nodes[i + at.name]!]} (${type})`
      : `(${type})`;
  add(byName, name, size);
}

const mb = (n: number) => `${(n / 1024 / 1024).toFixed(2)} MB`;
const print = (title: string, map: Map<string, { count: number; size: number }>, n: number) => {
  console.log(title);
  for (const [key, v] of [...map].sort((a, b) => b[1].size - a[1].size).slice(0, n)) {
    console.log(`  ${mb(v.size).padStart(10)}  ${String(v.count).padStart(8)}  ${key.slice(0, 90)}`);
  }
};
console.log(`${file}: ${snap.nodes.length / width} nodes, ${mb(total)} self size in all`);
print('by node type (self size, count, type)', byType, 20);
print(`by constructor, top ${top} (self size, count, name)`, byName, top);
