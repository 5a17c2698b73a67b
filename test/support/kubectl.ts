// Finds a real kubectl (≥ 1.27, the first with `auth whoami` GA and aggregated discovery) and runs
// it with an isolated HOME and cache dir; `reason` says why the kubectl tests are skipped.
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function findKubectl(): { bin: string | null; reason: string } {
  const candidates = [process.env.KUBECTL, '/usr/bin/kubectl', '/usr/local/bin/kubectl', 'kubectl'].filter((c): c is string => Boolean(c));
  for (const bin of candidates) {
    if (bin.includes('/') && !existsSync(bin)) continue;
    try {
      const v = JSON.parse(execFileSync(bin, ['version', '--client', '-o', 'json'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })) as { clientVersion: { major: string; minor: string } };
      const minor = Number.parseInt(v.clientVersion.minor, 10);
      if (v.clientVersion.major === '1' && minor >= 27) return { bin, reason: '' };
      return { bin: null, reason: `kubectl at ${bin} is v1.${minor}; these tests need ≥ 1.27` };
    } catch {
      /* not this one */
    }
  }
  return { bin: null, reason: 'no kubectl found (install kubectl ≥ 1.27, or set KUBECTL)' };
}

export function kubectlRunner(bin: string) {
  const home = mkdtempSync(join(tmpdir(), 'kubectl-home-'));
  return (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) =>
      execFile(bin, ['--cache-dir', join(home, 'cache'), ...args], { env: { PATH: process.env.PATH ?? '', HOME: home, ...env }, timeout: 30_000 }, (err, stdout, stderr) =>
        resolve({ code: err ? (typeof (err as { code?: unknown }).code === 'number' ? ((err as { code: number }).code) : 1) : 0, stdout, stderr }),
      ),
    );
}
