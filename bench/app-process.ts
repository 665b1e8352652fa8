// pgsessions as its own process (`node --import tsx src/main.ts`), so its resident memory is its own and
// not the benchmark's. Logs go to a file; readiness is GET /healthz; stop is SIGTERM, then SIGKILL.
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { access, copyFile, mkdir, readFile, symlink } from 'node:fs/promises';
import { request } from 'node:http';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

export interface AppProcess {
  pid: number;
  port: number;
  logFile: string;
  /** VmRSS and VmHWM (peak) of the process, in bytes. */
  memory(): Promise<{ rss: number; hwm: number }>;
  stop(): Promise<void>;
}

function healthz(port: number): Promise<number> {
  return new Promise((resolve) => {
    const req = request(
      { host: '127.0.0.1', port, path: '/healthz', method: 'GET', agent: false, timeout: 1000 },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', () => resolve(0));
    req.on('timeout', () => {
      req.destroy();
      resolve(0);
    });
    req.end();
  });
}

export async function readMemory(pid: number): Promise<{ rss: number; hwm: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

export async function startAppProcess(options: {
  cwd: string;
  env: NodeJS.ProcessEnv;
  port: number;
  logFile: string;
  args?: string[];
  onSpawn?: (stop: () => Promise<void>) => void;
}): Promise<AppProcess> {
  const fd = openSync(options.logFile, 'a');
  const child: ChildProcess = spawn(process.execPath, options.args ?? ['--import', 'tsx', 'src/main.ts'], {
    cwd: options.cwd,
    env: options.env,
    stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  let exited: number | null | undefined;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', (code) => {
      exited = code;
      resolve();
    }),
  );

  const stop = async () => {
    if (exited !== undefined) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exit;
    clearTimeout(timer);
  };

  // Let the caller register the stop before we wait for readiness: an interrupt then still ends the child.
  options.onSpawn?.(stop);
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited !== undefined)
      throw new Error(`pgsessions exited with ${exited} during start-up; see ${options.logFile}`);
    if ((await healthz(options.port)) === 200) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`pgsessions did not become healthy within 60 s; see ${options.logFile}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return {
    pid: child.pid!,
    port: options.port,
    logFile: options.logFile,
    memory: () => readMemory(child.pid!),
    stop,
  };
}

/** tsc into <work>/app/dist, with links back to the repo's node_modules and migrations; returns node's args. */
export async function compileApp(work: string, log: (message: string) => void = () => undefined): Promise<string[]> {
  const dir = join(work, 'app');
  await mkdir(dir, { recursive: true });
  const code = await new Promise<number | null>((done) => {
    const tsc = spawn(
      process.execPath,
      [
        join(ROOT, 'node_modules/typescript/bin/tsc'),
        '-p',
        'tsconfig.build.json',
        '--outDir',
        join(dir, 'dist'),
        '--sourceMap',
        'false',
      ],
      { cwd: ROOT, stdio: 'ignore' },
    );
    const timer = setTimeout(() => tsc.kill('SIGKILL'), 120_000);
    tsc.once('exit', (c) => {
      clearTimeout(timer);
      done(c);
    });
  });
  // Others may be mid-edit: tsc still emits on type errors; only a missing entry point is fatal.
  const main = join(dir, 'dist', 'main.js');
  await access(main).catch(() => {
    throw new Error(`tsc did not produce dist/main.js (exit ${code})`);
  });
  if (code !== 0) log(`tsc exited ${code} (type errors elsewhere in src/?); using what it emitted`);
  await copyFile(join(ROOT, 'package.json'), join(dir, 'package.json'));
  await symlink(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
  await symlink(join(ROOT, 'migrations'), join(dir, 'migrations'));
  return [main];
}
