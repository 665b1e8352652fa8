// pgsessions as its own process (`node --import tsx src/main.ts`), for the tests that must kill it for real
// (SIGKILL, no shutdown hooks) and see what the next instance makes of what it left behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { freePort } from './embedded.js';

export interface ChildApps {
  /** Everything any child wrote to stdout or stderr, kept for the secret checks after it is gone. */
  readonly logs: string[];
  /** Starts a child on a free port with `envFor(port)`; resolves once it says it is listening. */
  start(): Promise<{ port: number; env: NodeJS.ProcessEnv }>;
  /** SIGKILLs the running child, if any, and waits for it to exit. */
  kill(): Promise<void>;
  /** The running child, if any. */
  current(): ChildProcess | undefined;
}

/** One child at a time, its environment given per port (the caller's own proxies, databases and settings). */
export function childApps(envFor: (port: number) => NodeJS.ProcessEnv, startTimeoutMs = 20_000): ChildApps {
  const logs: string[] = [];
  let child: ChildProcess | undefined;
  return {
    logs,
    current: () => child,
    async start() {
      const port = await freePort();
      const env = envFor(port);
      const proc = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
        cwd: process.cwd(),
        env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      child = proc;
      let own = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(
          () => reject(new Error(`the child did not start in ${startTimeoutMs / 1000} s:\n${own}`)),
          startTimeoutMs,
        );
        const onData = (chunk: Buffer) => {
          logs.push(String(chunk));
          own += String(chunk);
          if (own.includes('pgsessions is listening')) {
            clearTimeout(timer);
            resolve();
          }
        };
        proc.stdout!.on('data', onData);
        proc.stderr!.on('data', onData);
        proc.once('exit', (code, signal) => {
          clearTimeout(timer);
          reject(new Error(`the child exited (${code ?? signal}) before listening:\n${own}`));
        });
      });
      return { port, env };
    },
    async kill() {
      const proc = child;
      child = undefined;
      if (!proc || proc.exitCode !== null || proc.signalCode !== null) return;
      const exited = new Promise((resolve) => proc.once('exit', resolve));
      proc.kill('SIGKILL');
      await exited;
    },
  };
}
