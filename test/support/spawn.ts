// Starts a long-running child process and waits for the first stdout line that parses as JSON.
import { spawn, type ChildProcess } from 'node:child_process';

export interface Started<T> {
  readonly child: ChildProcess;
  readonly ready: T;
  readonly stderr: () => string;
  /** Everything written to stdout so far (the ready line included). */
  readonly stdout: () => string;
  stop(): Promise<void>;
}

export async function spawnUntilJson<T>(cmd: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string; timeoutMs?: number } = {}): Promise<Started<T>> {
  const child = spawn(cmd, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  let all = '';
  child.stderr!.on('data', (d) => (err += d.toString()));
  child.stdout!.on('data', (d) => (all += d.toString()));
  const ready = await new Promise<T>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} did not start in time: ${err}`)), options.timeoutMs ?? 30_000);
    child.stdout!.on('data', (d) => {
      out += d.toString();
      for (const line of out.split('\n')) {
        try {
          const v = JSON.parse(line) as T;
          clearTimeout(timer);
          resolve(v);
          return;
        } catch {
          /* not the ready line yet */
        }
      }
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} exited with ${code}: ${err}`));
    });
  });
  return {
    child,
    ready,
    stderr: () => err,
    stdout: () => all,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
        setTimeout(() => child.kill('SIGKILL'), 3000).unref();
      }),
  };
}
