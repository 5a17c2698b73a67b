// enroll.sh as a polite client in a boot storm: it waits out 503/429 for Retry-After plus jitter,
// says what it waits for, sends one Idempotency-Key for the whole attempt series, and gives up
// with exit 4 once ENROLL_MAX_WAIT would be exceeded; the key never shows on a command line.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = resolve(import.meta.dirname, '..');
const work = mkdtempSync(join(tmpdir(), 'enroll-retry-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function serve(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void) {
  const seen: Array<{ at: number; key: string | undefined }> = [];
  const server = createServer((req, res) => {
    if (req.url === '/v1/enroll') seen.push({ at: Date.now(), key: req.headers['idempotency-key'] as string | undefined });
    req.resume();
    req.on('end', () => answer(seen.length, req, res));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return { url: `http://127.0.0.1:${port}`, seen, close: () => new Promise((r) => server.close(r)) };
}
const busy = (res: ServerResponse, retryAfter: string) => {
  res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': retryAfter });
  res.end(JSON.stringify({ code: 'cluster_busy', detail: 'the cluster is busy' }));
};
function run(url: string, env: Record<string, string>) {
  return new Promise<{ code: number; stderr: string }>((res) =>
    execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'code'], { env: { ...process.env, ENROLL_URL: url, MACHINE_ID: 'edge-1', ENROLL_CODE: 'first-boot-code-0123456789', K3S_CONFIG: join(work, 'k3s.yaml'), WORK_DIR: join(work, `w${Math.random()}`), ...env } }, (err, _o, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );
}

describe('enroll.sh retries', () => {
  it('waits out 503 cluster_busy for Retry-After (+ jitter), with one Idempotency-Key for the series', async () => {
    const s = await serve((n, _req, res) => {
      if (n <= 2) return busy(res, '1');
      res.writeHead(409, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'code_used', detail: 'stop here' }));
    });
    const r = await run(s.url, { ENROLL_MAX_WAIT: '30' });
    await s.close();
    expect(r.code).toBe(5); // the third answer is a refusal: not retried
    expect(s.seen).toHaveLength(3);
    expect(s.seen[0]!.key).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(s.seen.map((x) => x.key)).size).toBe(1);
    expect(s.seen[1]!.at - s.seen[0]!.at).toBeGreaterThanOrEqual(950);
    expect(s.seen[1]!.at - s.seen[0]!.at).toBeLessThan(3_000); // 1 s + at most 1 s of jitter
    expect(r.stderr).toMatch(/service busy \(503 cluster_busy\); retrying \/v1\/enroll in [12]s/);
  });

  it('gives up with exit 4 once the next wait would pass ENROLL_MAX_WAIT', async () => {
    const s = await serve((_n, _req, res) => busy(res, '5'));
    const t0 = Date.now();
    const r = await run(s.url, { ENROLL_MAX_WAIT: '3' });
    await s.close();
    expect(r.code).toBe(4);
    expect(Date.now() - t0).toBeLessThan(3_000); // did not sleep past the bound
    expect(s.seen).toHaveLength(1);
    expect(r.stderr).toMatch(/gave up after waiting 0s in 1 attempts \(ENROLL_MAX_WAIT=3\)/);
  });

  it('a different run is a different attempt series: a new key', async () => {
    const s = await serve((_n, _req, res) => {
      res.writeHead(401, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'attestation_rejected' }));
    });
    await run(s.url, {});
    await run(s.url, {});
    await s.close();
    expect(s.seen).toHaveLength(2);
    expect(s.seen[0]!.key).not.toBe(s.seen[1]!.key);
  });

  it.skipIf(!existsSync('/proc/self/cmdline'))('the Idempotency-Key is not on any command line (ps shows argv to every local user)', async () => {
    // While curl waits for this answer, look for the key in every process's argv.
    const found: string[] = [];
    const s = await serve((_n, req, res) => {
      const key = req.headers['idempotency-key'] as string;
      for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
        try {
          if (readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(key)) found.push(pid);
        } catch {
          /* gone, or not ours to read */
        }
      }
      res.writeHead(401, { 'content-type': 'application/problem+json' });
      res.end(JSON.stringify({ code: 'attestation_rejected' }));
    });
    const r = await run(s.url, {});
    await s.close();
    expect(r.code).toBe(5);
    expect(s.seen).toHaveLength(1);
    expect(s.seen[0]!.key).toMatch(/^[0-9a-f]{32}$/);
    expect(found).toEqual([]);
  });
});
