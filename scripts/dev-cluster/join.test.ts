// The supervisor's join routes, rule by rule (reference/k3s-join.md §3 requests, §4 auth groups,
// §5 node passwords): each test states what a k3s server answers.
import { scryptSync, X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster, clientCert, makeCsr, type CallOptions } from '../../test/support/cluster-call.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from './index.mjs';

type Cluster = { url: string; caPem: string; clientCaPem: string; serviceAccountToken: string; serverToken: string; controlToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;
const call = (method: string, path: string, o: CallOptions = {}) => callCluster(c.url, c.caPem, method, path, o);
const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const basic = (user: string, pw: string) => `Basic ${Buffer.from(`${user}:${pw}`).toString('base64')}`;
const serverPw = () => c.serverToken.split('::server:')[1]!;
let n = 0;
async function bootstrapToken(): Promise<string> {
  const id = `j${String(++n).padStart(5, '0')}`;
  const r = await call('POST', SECRETS, { bearer: c.serviceAccountToken, body: { metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': 'system:bootstrappers:k3s:default-node-token' } } });
  expect(r.status).toBe(201);
  return `${id}.0123456789abcdef`;
}
const nodeHeaders = (name: string, password: string, ip?: string) => ({ 'K3s-Node-Name': name, 'K3s-Node-Password': password, ...(ip ? { 'K3s-Node-Ip': ip } : {}) });
const postCsr = (route: string, o: CallOptions & { csr?: Buffer }) => call('POST', `/v1-k3s/${route}`, { ...o, body: o.csr ?? makeCsr().csrDer, contentType: 'application/octet-stream' });
const leafOf = (pem: string) => new X509Certificate(pem.slice(0, pem.indexOf('-----END CERTIFICATE-----') + 26));
const FORBIDDEN = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"forbidden","reason":"Forbidden","code":403}';
const NOT_AUTHORIZED = '{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"not authorized","reason":"Unauthorized","code":401}';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'devcluster-join-'));
  c = await startDevCluster({ port: 0, stateDir: dir });
});
afterAll(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('supervisor auth groups (§4)', () => {
  it('a bootstrap token (system:bootstrappers) and node:<password> (k3s:agent) pass the authed routes', async () => {
    const t = await bootstrapToken();
    for (const o of [{ bearer: t }, { auth: basic('node', serverPw()) }]) {
      const cfg = await call('GET', '/v1-k3s/config', o);
      expect(cfg.status).toBe(200);
      expect(cfg.json).toMatchObject({ SupervisorPort: Number(new URL(c.url).port), ClusterDomain: 'cluster.local', ClusterDNS: '10.43.0.10', FlannelBackend: 'vxlan', EgressSelectorMode: 'agent' });
      expect((await call('GET', '/v1-k3s/client-ca.crt', o)).text).toBe(c.clientCaPem);
      expect((await call('GET', '/v1-k3s/server-ca.crt', o)).text).toBe(c.caPem);
      expect((await call('GET', '/v1-k3s/readyz', o)).text).toBe('ok');
      expect((await call('GET', '/v1-k3s/apiservers', o)).json).toEqual([new URL(c.url).host]);
    }
  });
  it('no credentials → 403 forbidden; a wrong token or password → 401 not authorized', async () => {
    expect((await call('GET', '/v1-k3s/config')).text).toBe(FORBIDDEN);
    expect((await call('GET', '/v1-k3s/config', { bearer: 'abcdef.0000000000000000' })).text).toBe(NOT_AUTHORIZED);
    expect((await call('GET', '/v1-k3s/config', { auth: basic('node', 'wrong') })).text).toBe(NOT_AUTHORIZED);
    expect((await call('POST', '/v1-k3s/client-kubelet.crt', { bearer: 'abcdef.0000000000000000', body: 'x' })).status).toBe(401);
  });
  it('an authenticated identity outside the agent groups (the service account) → 403 forbidden', async () => {
    expect((await call('GET', '/v1-k3s/config', { bearer: c.serviceAccountToken })).text).toBe(FORBIDDEN);
  });
  it('a bootstrap token never passes the server routes; server:<password> does', async () => {
    const t = await bootstrapToken();
    expect((await call('GET', '/v1-k3s/server-bootstrap', { bearer: t })).text).toBe(FORBIDDEN);
    expect((await call('GET', '/v1-k3s/server-bootstrap', { auth: basic('server', serverPw()) })).status).toBe(503);
    expect((await call('GET', '/v1-k3s/connect', { bearer: t })).text).toBe(FORBIDDEN);
  });
  it('/ping answers pong without auth; unknown /v1-k3s paths fall through to the API', async () => {
    expect((await call('GET', '/ping')).text).toBe('pong');
    expect((await call('GET', '/v1-k3s/nothing-here')).status).toBe(401);
  });
});

describe('certificate routes (§3)', () => {
  it('client-kubelet.crt: CN system:node:<node>, O system:nodes, clientAuth, signed by the client CA; answer = leaf + CA', async () => {
    const t = await bootstrapToken();
    const r = await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('Cert-1', 'pw-cert-1') });
    expect(r.status).toBe(200);
    expect(r.text.endsWith(c.clientCaPem)).toBe(true);
    const leaf = leafOf(r.text);
    expect(leaf.subject).toBe('O=system:nodes\nCN=system:node:cert-1');
    expect(leaf.checkIssued(new X509Certificate(c.clientCaPem))).toBe(true);
    expect(leaf.verify(new X509Certificate(c.clientCaPem).publicKey)).toBe(true);
  });
  it('serving-kubelet.crt: CN <node>, DNS <node> + localhost, IPs 127.0.0.1 + K3s-Node-Ip, signed by the server CA', async () => {
    const t = await bootstrapToken();
    const r = await postCsr('serving-kubelet.crt', { bearer: t, headers: nodeHeaders('cert-2', 'pw-cert-2', '10.1.2.3,fd00::1') });
    const leaf = leafOf(r.text);
    expect(leaf.subject).toBe('CN=cert-2');
    expect(leaf.subjectAltName).toBe('DNS:cert-2, DNS:localhost, IP Address:127.0.0.1, IP Address:10.1.2.3, IP Address:FD00:0:0:0:0:0:0:1');
    expect(leaf.checkIssued(new X509Certificate(c.caPem))).toBe(true);
    expect(r.text.endsWith(c.caPem)).toBe(true);
  });
  it('client-kube-proxy.crt and client-k3s-controller.crt need no node headers', async () => {
    const t = await bootstrapToken();
    expect(leafOf((await postCsr('client-kube-proxy.crt', { bearer: t })).text).subject).toBe('CN=system:kube-proxy');
    expect(leafOf((await postCsr('client-k3s-controller.crt', { bearer: t })).text).subject).toBe('CN=system:k3s-controller');
  });
  it('a missing node header → 400 with k3s\'s message; a CSR that does not parse → 400', async () => {
    const t = await bootstrapToken();
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: { 'K3s-Node-Password': 'x' } })).json).toMatchObject({ code: 400, reason: 'BadRequest', message: 'node name not set' });
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: { 'k3s-node-name': 'x' } })).json.message).toBe('node password not set');
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('bad-csr', 'p'), csr: Buffer.from('not a csr') })).status).toBe(400);
  });
});

describe('node passwords (§5)', () => {
  it('the first kubelet-cert request creates <node>.node-password.k3s: type, immutable, scrypt string that verifies', async () => {
    const t = await bootstrapToken();
    expect((await postCsr('serving-kubelet.crt', { bearer: t, headers: nodeHeaders('PW-1', 'first-password') })).status).toBe(200);
    const s = await call('GET', `${SECRETS}/pw-1.node-password.k3s`, { bearer: c.serviceAccountToken });
    expect(s.json).toMatchObject({ type: 'k3s.cattle.io/node-password', immutable: true });
    const hash = Buffer.from(s.json.data.hash, 'base64').toString();
    const m = /^\$1:([0-9a-f]{16}):15:8:1:([A-Za-z0-9+/]{86})$/.exec(hash);
    expect(m).not.toBeNull();
    const key = scryptSync('first-password', Buffer.from(m![1]!, 'hex'), 64, { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
    expect(key.toString('base64').replace(/=+$/, '')).toBe(m![2]);
  });
  it('the same password passes again; another password → 403 "unable to verify password for node …" and no certificate', async () => {
    const t = await bootstrapToken();
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-2', 'right') })).status).toBe(200);
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-2', 'right') })).status).toBe(200);
    const wrong = await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-2', 'wrong') });
    expect(wrong.status).toBe(403);
    expect(wrong.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"unable to verify password for node pw-2: hash does not match","reason":"Forbidden","code":403}');
    expect(wrong.text).not.toContain('BEGIN CERTIFICATE');
  });
  it('a re-imaged machine is refused until the Secret is deleted', async () => {
    const t = await bootstrapToken();
    await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-3', 'old-image') });
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-3', 'new-image') })).status).toBe(403);
    expect((await call('DELETE', `${SECRETS}/pw-3.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(200);
    expect((await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-3', 'new-image') })).status).toBe(200);
  });
  it('the signed client cert authenticates on the API (CN → user, O → group); the Node owns its password Secret and takes it along', async () => {
    const t = await bootstrapToken();
    const { key, csrDer } = makeCsr();
    const r = await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-4', 'p4'), csr: csrDer });
    const cert = { cert: r.text, key };
    const who = await call('POST', '/apis/authentication.k8s.io/v1/selfsubjectreviews', { ...cert, body: {} });
    expect(who.json.status.userInfo).toEqual({ username: 'system:node:pw-4', groups: ['system:nodes', 'system:authenticated'] });
    const created = await call('POST', '/api/v1/nodes', { ...cert, body: { metadata: { name: 'pw-4' } } });
    expect(created.status).toBe(201);
    const s = await call('GET', `${SECRETS}/pw-4.node-password.k3s`, { bearer: c.serviceAccountToken });
    expect(s.json.metadata.ownerReferences).toEqual([{ apiVersion: 'v1', kind: 'Node', name: 'pw-4', uid: created.json.metadata.uid }]);
    const admin = clientCert(dir, 'system:admin', 'system:masters');
    expect((await call('DELETE', '/api/v1/nodes/pw-4', admin)).status).toBe(200);
    expect((await call('GET', `${SECRETS}/pw-4.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(404);
  });
  it('with its own client certificate a node must name itself (400) and exist (401); then the token is not needed', async () => {
    const t = await bootstrapToken();
    const { key, csrDer } = makeCsr();
    const cert = { cert: (await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('pw-5', 'p5'), csr: csrDer })).text, key };
    const missing = await postCsr('client-kubelet.crt', { ...cert, headers: nodeHeaders('pw-5', 'p5') });
    expect(missing.json).toMatchObject({ code: 401, message: 'unable to verify node identity: node "pw-5" not found' });
    expect((await call('POST', '/api/v1/nodes', { ...cert, body: { metadata: { name: 'pw-5' } } })).status).toBe(201);
    expect((await postCsr('client-kubelet.crt', { ...cert, headers: nodeHeaders('other', 'p5') })).json).toMatchObject({ code: 400, message: 'header node name does not match auth node name' });
    expect((await call('DELETE', `${SECRETS}/bootstrap-token-${t.slice(0, 6)}`, { bearer: c.serviceAccountToken })).status).toBe(200);
    expect((await postCsr('client-kubelet.crt', { ...cert, bearer: t, headers: nodeHeaders('pw-5', 'p5') })).status).toBe(200);
    expect((await postCsr('client-kubelet.crt', { ...cert, headers: nodeHeaders('pw-5', 'not-p5') })).status).toBe(403);
  });
  it('an orphan (no Node) older than 10 minutes is removed; a fresh one and an owned one stay', async () => {
    const t = await bootstrapToken();
    await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('orphan-1', 'o1') });
    const { key, csrDer } = makeCsr();
    const cert = { cert: (await postCsr('client-kubelet.crt', { bearer: t, headers: nodeHeaders('owned-1', 'o2'), csr: csrDer })).text, key };
    expect((await call('POST', '/api/v1/nodes', { ...cert, body: { metadata: { name: 'owned-1' } } })).status).toBe(201);
    const control = { headers: { 'x-dev-cluster-control': c.controlToken } };
    await new Promise((r) => setTimeout(r, 1200));
    expect((await call('GET', `${SECRETS}/orphan-1.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(200);
    await call('PUT', '/__dev/clock', { ...control, body: { offsetSeconds: 11 * 60 } });
    try {
      await new Promise((r) => setTimeout(r, 1500));
      expect((await call('GET', `${SECRETS}/orphan-1.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(404);
      expect((await call('GET', `${SECRETS}/owned-1.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(200);
    } finally {
      await call('PUT', '/__dev/clock', { ...control, body: { offsetSeconds: 0 } });
    }
  });
});
