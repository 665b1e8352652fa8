// The log scrubber against inputs an attacker controls (a URL path Bolt logs as "Unhandled HTTP request
// … made to /aaaa…", long scheme-like words, many URLs in one line): CPU time per call and per character,
// at growing lengths. Linear means the per-character figure stays flat as the length grows ×16.
import { scrubSecrets } from '../src/logger.js';
import { table } from './stats.js';

const SHAPES: Array<[string, (n: number) => string]> = [
  ['URL path /aaa…', (n) => `Unhandled HTTP request (GET) made to /${'a'.repeat(n)}`],
  ['scheme-like word aaa…:/', (n) => `${'a'.repeat(n)}:/`],
  ['x://u:///…', (n) => `x://u:${'/'.repeat(n)}`],
  ['many URLs with passwords', (n) => 'postgres://u:p@ss/w@rd@h/d '.repeat(Math.ceil(n / 27))],
  ['password= quotes', (n) => `password=${"'".repeat(n)}`],
];
const LENGTHS = [1_000, 4_000, 16_000];

function cpuMsPerCall(text: string): number {
  // Enough calls for ~50 ms of work on the longest input, at least 5; CPU time, not wall time.
  for (let i = 0; i < 3; i++) scrubSecrets(text);
  const started = process.cpuUsage();
  let calls = 0;
  const wallStart = performance.now();
  while (calls < 5 || performance.now() - wallStart < 50) {
    scrubSecrets(text);
    calls += 1;
  }
  const used = process.cpuUsage(started);
  return (used.user + used.system) / 1000 / calls;
}

export function measureScrubber(): { rows: string[][]; worstUsPerChar: number; worst16kMs: number } {
  const rows: string[][] = [
    ['input', ...LENGTHS.map((n) => `${n} chars`), `µs/char at ${LENGTHS[0]} → ${LENGTHS.at(-1)}`],
  ];
  let worstUsPerChar = 0;
  let worst16kMs = 0;
  for (const [name, make] of SHAPES) {
    const cells: string[] = [];
    const perChar: number[] = [];
    for (const n of LENGTHS) {
      const text = make(n);
      const msPerCall = cpuMsPerCall(text);
      cells.push(`${msPerCall < 1 ? msPerCall.toFixed(3) : msPerCall.toFixed(1)} ms`);
      perChar.push((msPerCall * 1000) / text.length);
      if (n === 16_000) worst16kMs = Math.max(worst16kMs, msPerCall);
    }
    worstUsPerChar = Math.max(worstUsPerChar, ...perChar);
    rows.push([name, ...cells, `${perChar[0]!.toFixed(4)} → ${perChar.at(-1)!.toFixed(4)}`]);
  }
  return { rows, worstUsPerChar, worst16kMs };
}

export function scrubberReport(): string {
  const { rows, worstUsPerChar, worst16kMs } = measureScrubber();
  return [
    'Log scrubber (scrubSecrets), CPU time per call, in this process',
    table(rows),
    `  worst: ${worst16kMs.toFixed(3)} ms for 16,000 characters; ${worstUsPerChar.toFixed(4)} µs per character (goal: microseconds per character at any length: ${worstUsPerChar < 1 ? 'PASS' : 'MISS'})`,
  ].join('\n');
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(scrubberReport());
