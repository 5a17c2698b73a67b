// `npm start` with CLUSTER_API_URL pointing at the real kube-apiserver (docs/real-cluster.md §6),
// with the documented RBAC and admission policy applied for real: a machine registered with a
// code enrolls, and the K10 token the service returns logs in to the real server. Oracle only;
// skips with a printed reason where it is not built.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleStatus } from '../support/cluster-targets.ts';
import { spawnUntilJson, type Started } from '../support/spawn.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startOracle } from './harness.mjs';

const ROOT = resolve(import.meta.dirname, '../..');
const oracle = oracleStatus();
if (oracle.reason) console.log(`npm start against the real kube-apiserver skipped: ${oracle.reason}`);
const freePort = () => new Promise<number>((r) => {
  const s = createServer().listen(0, '127.0.0.1', () => {
    const p = (s.address() as { port: number }).port;
    s.close(() => r(p));
  });
});

describe.skipIf(!!oracle.reason)('npm start against the real kube-apiserver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'oracle-start-'));
  let o: { url: string; caFile: string; caPem: string; serviceAccountToken: string; close(): Promise<void> };
  let started: Started<{ ready: boolean; enrollUrl: string }> | undefined;
  let port = 0;
  beforeAll(async () => {
    o = await startOracle({ binary: oracle.binary, stateDir: join(dir, 'oracle'), admissionPolicy: true });
    port = await freePort();
    started = await spawnUntilJson(process.execPath, ['scripts/start.mjs'], {
      cwd: ROOT,
      env: { ...process.env, PORT: String(port), K3S_ENROLL_DEV_DIR: join(dir, 'dev'), CLUSTER_API_URL: o.url, CLUSTER_SA_TOKEN: o.serviceAccountToken, CLUSTER_CA_PEM: o.caPem, K3S_SERVER_URL: o.url, NODE_EXTRA_CA_CERTS: o.caFile, ADMIN_TOKEN: 'oracle-admin-token-0123456789' },
      timeoutMs: 120_000,
    });
  }, 300_000);
  afterAll(async () => {
    await started?.stop();
    await o?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const whoami = (token: string) =>
    new Promise<number>((res, rej) => {
      const u = new URL('/apis/authentication.k8s.io/v1/selfsubjectreviews', o.url);
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: o.caPem, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'content-length': '2' } }, (r) => {
        r.resume();
        r.on('end', () => res(r.statusCode ?? 0));
      });
      req.on('error', rej);
      req.end('{}');
    });

  it('register → enroll gives a K10 token for the real server that logs in', async () => {
    const admin = { authorization: 'Bearer oracle-admin-token-0123456789', 'content-type': 'application/json' };
    expect((await fetch(`http://127.0.0.1:${port}/v1/machines/real-1`, { method: 'PUT', headers: admin, body: JSON.stringify({ enrollmentCode: 'real-code-0123456789abcdef' }) })).status).toBe(201);
    const res = await fetch(`http://127.0.0.1:${port}/v1/enroll`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ method: 'code', machineId: 'real-1', code: 'real-code-0123456789abcdef' }) });
    const body = (await res.json()) as { token: string; server: string };
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.server).toBe(o.url);
    expect(body.token).toMatch(/^K10[0-9a-f]{64}::[a-z0-9]{6}\.[a-z0-9]{16}$/);
    const bootstrap = body.token.split('::')[1]!;
    const deadline = Date.now() + 10_000;
    let status = await whoami(bootstrap);
    while (status !== 201 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      status = await whoami(bootstrap);
    }
    expect(status).toBe(201);
  });
});
