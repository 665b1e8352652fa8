// `npm run bench:playground`: time from `npm run playground` to its page answering 200, once cold and a
// few times warm. Cold = a fresh TMPDIR, so nothing cached by an earlier run helps: no tsx compile cache and,
// as root, no copy of the PostgreSQL binaries for the unprivileged user. Prints figures; asserts nothing.
import { spawn } from 'node:child_process';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { freePort } from '../src/playground/embedded-postgres.js';

const ROOT = resolve(import.meta.dirname, '..');
const WARM_RUNS = Number(process.env.BENCH_WARM_RUNS ?? 3);
const GOAL_MS = 10_000;
const GIVE_UP_MS = 90_000;

async function answering(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, { signal: AbortSignal.timeout(1_000) });
    return res.status === 200;
  } catch {
    return false;
  }
}

async function once(tmp: string): Promise<number> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const started = performance.now();
  // Its own process group, so the whole tree (npm → tsx → node → postgres) is stopped together.
  const child = spawn('npm', ['run', '--silent', 'playground'], {
    cwd: ROOT,
    env: { ...process.env, PLAYGROUND_PORT: String(port), TMPDIR: tmp, DATABASE_URL: '', STATE_DATABASE_URL: '' },
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
  });
  const exited = new Promise<void>((done) => child.once('exit', () => done()));
  try {
    for (;;) {
      if (await answering(url)) return performance.now() - started;
      if (child.exitCode !== null) throw new Error(`npm run playground exited with ${child.exitCode} before answering`);
      if (performance.now() - started > GIVE_UP_MS) throw new Error(`no answer on ${url} after ${GIVE_UP_MS} ms`);
      await new Promise((r) => setTimeout(r, 50));
    }
  } finally {
    if (child.pid) process.kill(-child.pid, 'SIGINT');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 15_000))]);
  }
}

const tmp = await mkdtemp(join(tmpdir(), 'pgsessions-bench-playground-'));
// As root the server runs as `postgres`, which must reach the binaries copied under TMPDIR.
await chmod(tmp, 0o755);
try {
  console.log(
    `# playground start-up: ${cpus().length} CPUs, load ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')}`,
  );
  const cold = await once(tmp);
  console.log(`cold  ${(cold / 1000).toFixed(1)} s  ${cold < GOAL_MS ? 'PASS' : 'MISS'} (goal < ${GOAL_MS / 1000} s)`);
  const warm: number[] = [];
  for (let i = 0; i < WARM_RUNS; i++) {
    const ms = await once(tmp);
    warm.push(ms);
    console.log(`warm  ${(ms / 1000).toFixed(1)} s  ${ms < GOAL_MS ? 'PASS' : 'MISS'}`);
  }
  const sorted = [...warm].sort((a, b) => a - b);
  if (sorted.length > 0)
    console.log(
      `warm median ${(sorted[Math.floor(sorted.length / 2)]! / 1000).toFixed(1)} s, best ${(sorted[0]! / 1000).toFixed(1)} s`,
    );
} finally {
  await rm(tmp, { recursive: true, force: true });
}
