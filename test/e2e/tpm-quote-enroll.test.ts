// TPM enrollment with a PCR policy: the service requires a quote over the challenge's nonce;
// enroll.sh with TPM_QUOTE_PCRS passes, without it (or after a PCR changes) it is refused.
import { execFile } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnUntilJson, type Started } from '../support/spawn.ts';
import { hasTpmTools, startSwtpm, type Swtpm } from '../support/swtpm.ts';

const ROOT = resolve(import.meta.dirname, '../..');
const work = mkdtempSync(join(tmpdir(), 'k3s-enroll-quote-'));
let tpm: Swtpm;
let stack: Started<{ ready: boolean }>;
let port = 0;

const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});
const enrollSh = (env: Record<string, string>, dir: string) =>
  new Promise<{ code: number; stderr: string }>((res) =>
    execFile('sh', [join(ROOT, 'scripts/enroll.sh'), 'tpm'], { env: { ...process.env, ENROLL_URL: `http://127.0.0.1:${port}`, TPM2TOOLS_TCTI: tpm.tcti, K3S_CONFIG: join(work, 'k3s.yaml'), WORK_DIR: join(work, dir), ...env } }, (err, _o, stderr) =>
      res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    ),
  );

describe.skipIf(!hasTpmTools)('TPM enrollment under a PCR policy', () => {
  beforeAll(async () => {
    tpm = await startSwtpm(join(work, 'tpm'));
    tpm.run('tpm2_pcrread', ['sha256:0,1,2,3,7', '-o', 'pcrs.bin']);
    const digest = createHash('sha256').update(readFileSync(join(work, 'tpm', 'pcrs.bin'))).digest('hex');
    tpm.run('tpm2_nvread', ['0x1c00002', '-C', 'o', '-o', 'ek-cert.der']);
    const spki = new X509Certificate(readFileSync(join(work, 'tpm', 'ek-cert.der'))).publicKey.export({ type: 'spki', format: 'der' });
    port = await freePort();
    stack = await spawnUntilJson(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: join(work, 'dev'), CLUSTER_API_URL: '', K3S_SERVER_URL: '', TPM_EK_ROOTS_PEM: tpm.caPem, TPM_PCR_POLICY: JSON.stringify({ pcrs: [0, 1, 2, 3, 7], allowedDigests: [digest] }) },
      timeoutMs: 90_000,
    });
    const state = JSON.parse(readFileSync(join(work, 'dev', 'state.json'), 'utf8'));
    const res = await fetch(`http://127.0.0.1:${port}/v1/machines/edge-quoted`, { method: 'PUT', headers: { authorization: `Bearer ${state.adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ ekPublicKeySha256: createHash('sha256').update(spki).digest('hex') }) });
    expect(res.status).toBe(201);
  }, 180_000);
  afterAll(async () => {
    await stack?.stop();
    tpm?.stop();
    rmSync(work, { recursive: true, force: true });
  });

  it('without a quote: refused (exit 5)', async () => {
    const r = await enrollSh({}, 'w1');
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('attestation_rejected');
  }, 60_000);

  it('with a quote over the allowed PCR state: enrolled', async () => {
    const r = await enrollSh({ TPM_QUOTE_PCRS: 'sha256:0,1,2,3,7' }, 'w2');
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(join(work, 'k3s.yaml'), 'utf8')).toMatch(/^token: "K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}"$/m);
  }, 60_000);

  it('after PCR 7 changes (another boot state): refused', async () => {
    tpm.run('tpm2_pcrextend', ['7:sha256=' + '01'.repeat(32)]);
    const r = await enrollSh({ TPM_QUOTE_PCRS: 'sha256:0,1,2,3,7' }, 'w3');
    expect(r.code).toBe(5);
  }, 60_000);
});
