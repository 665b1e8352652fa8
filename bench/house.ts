// `npm run house`: the shape of the code, measured. Files over 400 lines, functions over 80 lines (outside the
// composition root), and imports that run from a lower layer up to a higher one. With `--strict` it exits 1
// on any of them (.ci/run runs it so); without, it only reports.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export const MAX_FILE_LINES = 400;
export const MAX_FUNCTION_LINES = 80;
/**
 * The composition roots: the files that only wire the parts together (create the pools, stores, services,
 * the Slack app, the watcher, the timers, and stop them in order), so a long function there is a list of
 * steps rather than logic. Their functions are not measured against MAX_FUNCTION_LINES (their files still are
 * against MAX_FILE_LINES). Exactly three:
 * - src/pgsessions.ts: startPgsessions, the app assembled from the settings (what main.ts and the tests start);
 * - src/main.ts: the process entry (settings, logger, signals, exit codes);
 * - src/playground/main.ts: the playground's entry, the same for `npm run playground`.
 * Not the CLIs (src/cli/: each is one small job), not the playground's parts (page, stand-in, incident): they
 * hold logic and are measured like any module.
 */
export const COMPOSITION_ROOTS: ReadonlySet<string> = new Set([
  'src/pgsessions.ts',
  'src/main.ts',
  'src/playground/main.ts',
]);
const ROOTS = COMPOSITION_ROOTS;

/**
 * Layers, lowest first: a module may import its own layer and those below it, never one above and never a
 * sibling on the same floor (watch and slack know nothing of each other).
 */
const LAYERS: { name: string; floor: number; match: (path: string) => boolean }[] = [
  { name: 'domain', floor: 0, match: (p) => p.startsWith('src/domain/') },
  {
    name: 'base',
    floor: 1,
    match: (p) => p.startsWith('src/config/') || ['src/logger.ts', 'src/config.ts', 'src/metrics.ts'].includes(p),
  },
  { name: 'postgres', floor: 2, match: (p) => p.startsWith('src/postgres/') },
  { name: 'watch', floor: 3, match: (p) => p.startsWith('src/watch/') },
  { name: 'slack', floor: 3, match: (p) => p.startsWith('src/slack/') },
  { name: 'audit', floor: 4, match: (p) => p.startsWith('src/audit/') },
  {
    name: 'root',
    floor: 5,
    // src/wiring/: the pieces of startPgsessions moved out of src/pgsessions.ts (start-up checks, watching,
    // the clusters-file reload, the sweeps, the rate limits). They wire the layers below together exactly as
    // the composition root does, so they sit on its floor; unlike it, their functions are measured.
    match: (p) =>
      p.startsWith('src/cli/') ||
      p.startsWith('src/wiring/') ||
      ['src/pgsessions.ts', 'src/main.ts', 'src/probe-server.ts'].includes(p),
  },
  { name: 'playground', floor: 6, match: (p) => p.startsWith('src/playground/') },
];

export interface Finding {
  kind: 'file' | 'function' | 'import';
  where: string;
  what: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return name.endsWith('.ts') ? [path] : [];
  });
}

function layerOf(path: string) {
  return LAYERS.find((layer) => layer.match(path));
}

function functionName(node: ts.Node): string {
  const named = node as { name?: ts.Node };
  if (named.name && ts.isIdentifier(named.name)) return named.name.text;
  if (ts.isVariableDeclaration(node.parent) && ts.isIdentifier(node.parent.name)) return node.parent.name.text;
  if (ts.isPropertyAssignment(node.parent) && ts.isIdentifier(node.parent.name)) return node.parent.name.text;
  return '(anonymous)';
}

/** Everything wrong with one file, by the three measures. */
export function inspect(root: string, file: string): Finding[] {
  const path = relative(root, file);
  const text = readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.ES2022, true);
  const findings: Finding[] = [];
  const lines = source.getLineAndCharacterOfPosition(source.end).line + 1;
  if (lines > MAX_FILE_LINES) findings.push({ kind: 'file', where: path, what: `${lines} lines` });
  const layer = layerOf(path);
  const visit = (node: ts.Node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body && !ROOTS.has(path)) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const end = source.getLineAndCharacterOfPosition(node.end).line;
      if (end - start + 1 > MAX_FUNCTION_LINES) {
        findings.push({
          kind: 'function',
          where: `${path}:${start + 1}`,
          what: `${functionName(node)}: ${end - start + 1} lines`,
        });
      }
    }
    if (
      ts.isImportDeclaration(node) &&
      ts.isStringLiteral(node.moduleSpecifier) &&
      node.moduleSpecifier.text.startsWith('.')
    ) {
      const target = relative(root, resolve(dirname(file), node.moduleSpecifier.text.replace(/\.js$/, '.ts')));
      const to = layerOf(target);
      if (layer && to && to.name !== layer.name && to.floor >= layer.floor) {
        findings.push({ kind: 'import', where: path, what: `${layer.name} imports ${to.name}: ${target}` });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return findings;
}

export function inspectTree(root: string): Finding[] {
  return sourceFiles(join(root, 'src')).flatMap((file) => inspect(root, file));
}

if (import.meta.url === `file://${process.argv[1]}` || process.argv[1]?.endsWith('bench/house.ts')) {
  const strict = process.argv.includes('--strict');
  const findings = inspectTree(resolve('.'));
  for (const kind of ['file', 'function', 'import'] as const) {
    const some = findings.filter((f) => f.kind === kind);
    const title = {
      file: `files over ${MAX_FILE_LINES} lines`,
      function: `functions over ${MAX_FUNCTION_LINES} lines`,
      import: 'imports up or across a layer',
    }[kind];
    console.log(`${title}: ${some.length}`);
    for (const f of some) console.log(`  ${f.where}  ${f.what}`);
  }
  if (strict && findings.length > 0) process.exit(1);
}
