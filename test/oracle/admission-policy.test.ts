// docs/real-cluster.md §1–2 applied for real (kubectl apply of the doc's own YAML) to the oracle:
// the documented ValidatingAdmissionPolicy compiles, lets the service mint what it mints, and
// denies everything else with the documented messages. Oracle only: the dev cluster does not
// emulate ValidatingAdmissionPolicy. Skips with a printed reason where the oracle is not built.
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { oracleStatus } from '../support/cluster-targets.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startOracle } from './harness.mjs';

const oracle = oracleStatus();
if (oracle.reason) console.log(`admission policy (real kube-apiserver) skipped: ${oracle.reason}`);
const SECRETS = '/api/v1/namespaces/kube-system/secrets';

describe.skipIf(!!oracle.reason)('docs/real-cluster.md admission policy on a real kube-apiserver', () => {
  let dir = '';
  let o: { url: string; caPem: string; serviceAccountToken: string; adminToken: string; close(): Promise<void> };
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'oracle-vap-'));
    o = await startOracle({ binary: oracle.binary, stateDir: dir, admissionPolicy: true });
  }, 240_000);
  afterAll(async () => {
    await o?.close();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  const call = (bearer: string, method: string, path: string, body?: unknown) =>
    new Promise<{ status: number; json: any }>((resolve, reject) => {
      const u = new URL(path, o.url);
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method, ca: o.caPem, headers: { authorization: `Bearer ${bearer}`, ...(data ? { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(data)) } : {}) } }, (res) => {
        let t = '';
        res.on('data', (d) => (t += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, json: JSON.parse(t) }));
      });
      req.on('error', reject);
      req.end(data);
    });
  const token = (id: string, groups?: string) => ({ metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', ...(groups ? { 'auth-extra-groups': groups } : {}) } });
  const denied = (r: { status: number; json: any }, message: string) => {
    expect(r.status).toBe(422);
    expect(r.json.reason).toBe('Invalid');
    expect(r.json.message).toContain("ValidatingAdmissionPolicy 'k3s-enroll-bootstrap-tokens-only' with binding 'k3s-enroll-bootstrap-tokens-only' denied request");
    expect(r.json.message).toContain(message);
  };

  it('the service may create a bootstrap token with allowed groups, and delete it', async () => {
    const created = await call(o.serviceAccountToken, 'POST', SECRETS, token('vap001', 'system:bootstrappers:edge'));
    expect(created.status, JSON.stringify(created.json)).toBe(201);
    expect((await call(o.serviceAccountToken, 'POST', SECRETS, token('vap002'))).status).toBe(201);
    expect((await call(o.serviceAccountToken, 'DELETE', `${SECRETS}/bootstrap-token-vap001`)).status).toBe(200);
  });
  it('an Opaque Secret is denied with the first message', async () => {
    denied(await call(o.serviceAccountToken, 'POST', SECRETS, { metadata: { name: 'plain' }, stringData: { a: 'b' } }), 'k3s-enroll may only create or delete bootstrap-token Secrets');
  });
  it('a group outside the allow-list is denied', async () => {
    denied(await call(o.serviceAccountToken, 'POST', SECRETS, token('vap003', 'system:bootstrappers:edge,system:bootstrappers:other')), 'auth-extra-groups outside the allow-list');
  });
  it('a bootstrap-token Secret under another name is denied', async () => {
    denied(await call(o.serviceAccountToken, 'POST', SECRETS, { ...token('vap004'), metadata: { name: 'not-a-bootstrap-token' } }), 'k3s-enroll may only touch kube-system/bootstrap-token-');
  });
  it("the service may not delete another kube-system Secret; the admin, outside the policy's match, may", async () => {
    expect((await call(o.adminToken, 'POST', SECRETS, { metadata: { name: 'k3s-serving' }, type: 'kubernetes.io/tls', stringData: { 'tls.crt': '', 'tls.key': '' } })).status).toBe(201);
    denied(await call(o.serviceAccountToken, 'DELETE', `${SECRETS}/k3s-serving`), 'k3s-enroll may only create or delete bootstrap-token Secrets');
    expect((await call(o.adminToken, 'DELETE', `${SECRETS}/k3s-serving`)).status).toBe(200);
  });
});
