// The dev agent joins like `k3s agent` (reference/k3s-join.md §1 token forms, §2 CA check, §3
// requests, §5 node password, §6 what appears): each refusal has its own exit code and leaves no Node.
import { execFile, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster, clientCert, type CallOptions } from '../../test/support/cluster-call.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from '../dev-cluster/index.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { agentAuthorization, parseToken } from './token.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { loadSettings, parseConfigYaml } from './config.mjs';

const MAIN = resolve(import.meta.dirname, 'main.mjs');
type Cluster = { url: string; caPem: string; serviceAccountToken: string; serverToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;
let admin: { cert: string; key: string };
const call = (method: string, path: string, o: CallOptions = {}) => callCluster(c.url, c.caPem, method, path, o);
const SECRETS = '/api/v1/namespaces/kube-system/secrets';
const caHash = () => c.serverToken.slice(3, 67);
let n = 0;
async function bootstrapToken(): Promise<string> {
  const id = `a${String(++n).padStart(5, '0')}`;
  const r = await call('POST', SECRETS, { bearer: c.serviceAccountToken, body: { metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': 'system:bootstrappers:k3s:default-node-token' } } });
  expect(r.status).toBe(201);
  return `${id}.0123456789abcdef`;
}
function agent(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((res) => execFile(process.execPath, [MAIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => res({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr })));
}
function configFile(name: string, body: string) {
  const f = join(dir, `${name}.yaml`);
  writeFileSync(f, body, { mode: 0o600 });
  return f;
}
const node = (name: string) => call('GET', `/api/v1/nodes/${name}`, admin);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'dev-agent-'));
  c = await startDevCluster({ port: 0, stateDir: join(dir, 'cluster') });
  admin = clientCert(join(dir, 'cluster'), 'system:admin', 'system:masters');
});
afterAll(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('token forms (§1)', () => {
  it.each([
    ['abcdef.0123456789abcdef', { caHash: '', bootstrap: 'abcdef.0123456789abcdef' }],
    [`K10${'a'.repeat(64)}::abcdef.0123456789abcdef`, { caHash: 'a'.repeat(64), bootstrap: 'abcdef.0123456789abcdef' }],
    [`K10${'b'.repeat(64)}::server:pw:with:colons`, { caHash: 'b'.repeat(64), bootstrap: null, username: 'server', password: 'pw:with:colons' }],
    ['K10::node:secret', { caHash: '', bootstrap: null, username: 'node', password: 'secret' }],
    ['plain-password', { caHash: '', bootstrap: null, username: '', password: 'plain-password' }],
  ])('%s', (raw, want) => {
    expect(parseToken(raw)).toMatchObject(want);
  });
  it.each([
    ['K10abc::abcdef.0123456789abcdef', 'invalid token CA hash length'],
    [`K10${'a'.repeat(64)}::server:`, 'invalid token format'],
    [`K10${'a'.repeat(64)}::nocolon`, 'invalid token format'],
    ['', 'token must not be empty'],
  ])('%s → %s', (raw, msg) => {
    expect(() => parseToken(raw)).toThrow(msg);
  });
  it('agents send a bootstrap token as Bearer, anything else as Basic node:<password>', () => {
    expect(agentAuthorization(parseToken('abcdef.0123456789abcdef'))).toBe('Bearer abcdef.0123456789abcdef');
    expect(agentAuthorization(parseToken('K10::server:pw'))).toBe(`Basic ${Buffer.from('node:pw').toString('base64')}`);
  });
});

describe('config file and flags', () => {
  it('reads scalars, quoted strings, block and flow lists; flags win and node-label appends', () => {
    expect(parseConfigYaml('server: "https://x:6443"\ntoken: \'K10::a:b\'\n# c\nnode-label:\n  - "a=1"\n  - b=2\nnode-ip: [10.0.0.1, 10.0.0.2]\n')).toEqual({ server: 'https://x:6443', token: 'K10::a:b', 'node-label': ['a=1', 'b=2'], 'node-ip': ['10.0.0.1', '10.0.0.2'] });
    const s = loadSettings(['--config', 'f', '--data-dir', 'd', '--node-label', 'c=3', '--node-name', 'Edge-1', '--once'], {}, () => 'server: https://x:6443/\ntoken: t\nnode-name: other\nnode-label: [a=1]\n');
    expect(s).toMatchObject({ server: 'https://x:6443', token: 't', nodeName: 'edge-1', nodeLabels: ['a=1', 'c=3'], once: true, dataDir: 'd' });
    expect(() => loadSettings(['--data-dir', 'd'], {}, () => '')).toThrow('server is required');
    expect(() => loadSettings(['--bogus'], {}, () => '')).toThrow('unknown flag');
  });
});

describe('joining the dev cluster', () => {
  it('--once: CA check, CSRs, node password, k3s file layout, Node Ready with its labels as system:node:<name>, a Lease', async () => {
    const t = await bootstrapToken();
    const cfg = configFile('join-1', `server: "${c.url}"\ntoken: "K10${caHash()}::${t}"\nnode-label:\n  - "example.com/site=lab"\n`);
    const data = join(dir, 'agent-1');
    const r = await agent(['--config', cfg, '--data-dir', data, '--node-name', 'agent-1', '--once']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ node: 'agent-1', ready: true, dataDir: data });
    for (const f of ['client-ca.crt', 'server-ca.crt', 'serving-kubelet.crt', 'serving-kubelet.key', 'client-kubelet.crt', 'client-kubelet.key', 'client-kube-proxy.crt', 'client-k3s-controller.crt', 'kubelet.kubeconfig']) expect(existsSync(join(data, 'agent', f)), f).toBe(true);
    const pw = join(data, 'etc', 'rancher', 'node', 'password');
    expect(readFileSync(pw, 'utf8')).toMatch(/^[0-9a-f]{32}\n$/);
    expect(statSync(pw).mode & 0o777).toBe(0o600);
    expect(readFileSync(join(data, 'agent', 'server-ca.crt'), 'utf8')).toBe(c.caPem);
    const got = await node('agent-1');
    expect(got.json.metadata.labels).toMatchObject({ 'example.com/site': 'lab', 'kubernetes.io/hostname': 'agent-1', 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'k3s' });
    expect(got.json.status.conditions.find((x: any) => x.type === 'Ready')).toMatchObject({ status: 'True', reason: 'KubeletReady' });
    const lease = await call('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/agent-1', admin);
    expect(lease.json.spec).toMatchObject({ holderIdentity: 'agent-1', leaseDurationSeconds: 40 });
    expect(lease.json.metadata.ownerReferences[0]).toMatchObject({ kind: 'Node', name: 'agent-1', uid: got.json.metadata.uid });
    expect((await call('GET', `${SECRETS}/agent-1.node-password.k3s`, { bearer: c.serviceAccountToken })).json.metadata.ownerReferences[0].uid).toBe(got.json.metadata.uid);

    // A restart after the token is gone: the client certificate carries it (§6).
    expect((await call('DELETE', `${SECRETS}/bootstrap-token-${t.slice(0, 6)}`, { bearer: c.serviceAccountToken })).status).toBe(200);
    const again = await agent(['--config', cfg, '--data-dir', data, '--node-name', 'agent-1', '--once']);
    expect(again.code, again.stderr).toBe(0);
  });

  it('a restart after its Node was deleted: the certificate gets 401, the agent retries once with the token alone and rejoins', async () => {
    const t = await bootstrapToken();
    const args = ['--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-gone'), '--node-name', 'agent-gone', '--once'];
    expect((await agent(args)).code).toBe(0);
    const uid = (await node('agent-gone')).json.metadata.uid;
    expect((await call('DELETE', '/api/v1/nodes/agent-gone', admin)).status).toBe(200);
    // The garbage collector takes what the Node owned: its password Secret and its Lease.
    expect((await call('GET', `${SECRETS}/agent-gone.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(404);
    expect((await call('GET', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/agent-gone', admin)).status).toBe(404);
    const again = await agent(args);
    expect(again.code, again.stderr).toBe(0);
    expect((await node('agent-gone')).json.metadata.uid).not.toBe(uid);
  });

  it('a wrong CA hash → exit 3 with k3s\'s message before any credential; no Node, no password Secret', async () => {
    const t = await bootstrapToken();
    const cfg = configFile('badca', `server: ${c.url}\ntoken: K10${'0'.repeat(64)}::${t}\n`);
    const control = { headers: { 'x-dev-cluster-control': JSON.parse(readFileSync(join(dir, 'cluster', 'cluster.json'), 'utf8')).controlToken } };
    const before = ((await call('GET', '/__dev/requests', control)).json as unknown[]).length;
    const r = await agent(['--config', cfg, '--data-dir', join(dir, 'agent-badca'), '--node-name', 'agent-badca', '--once']);
    const during = ((await call('GET', '/__dev/requests', control)).json as Array<{ path: string }>).slice(before, -1);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`token CA hash does not match the Cluster CA certificate hash: ${'0'.repeat(64)} != ${caHash()}`);
    expect(r.stderr).toContain(`Failed to validate connection to cluster at ${c.url}`);
    expect(during.map((q) => q.path)).toEqual(['/cacerts', '/cacerts']); // unverified, then verified against it
    expect((await node('agent-badca')).status).toBe(404);
    expect((await call('GET', `${SECRETS}/agent-badca.node-password.k3s`, { bearer: c.serviceAccountToken })).status).toBe(404);
  });

  it('a deleted token → exit 5 (401); no Node', async () => {
    const t = await bootstrapToken();
    await call('DELETE', `${SECRETS}/bootstrap-token-${t.slice(0, 6)}`, { bearer: c.serviceAccountToken });
    const r = await agent(['--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-deleted'), '--node-name', 'agent-deleted', '--once']);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain('401 Unauthorized');
    expect((await node('agent-deleted')).status).toBe(404);
  });

  it('a second machine claiming a taken node name with another password → exit 6 with k3s\'s log line; the Node is untouched', async () => {
    const t = await bootstrapToken();
    const first = await agent(['--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-dup-a'), '--node-name', 'agent-dup', '--once']);
    expect(first.code, first.stderr).toBe(0);
    const before = (await node('agent-dup')).json.metadata.resourceVersion;
    const r = await agent(['--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-dup-b'), '--node-name', 'agent-dup', '--once']);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('Node password rejected, duplicate hostname or contents of');
    expect(r.stderr).toContain('unable to verify password for node agent-dup: hash does not match');
    expect(existsSync(join(dir, 'agent-dup-b', 'agent', 'client-kubelet.crt'))).toBe(false);
    expect((await node('agent-dup')).json.metadata.resourceVersion).toBe(before);
  });

  it('an unreachable cluster → exit 4 after the timeout', async () => {
    const r = await agent(['--server', 'https://127.0.0.1:1', '--token', 'abcdef.0123456789abcdef', '--data-dir', join(dir, 'agent-down'), '--once', '--timeout', '1']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('Failed to validate connection to cluster at https://127.0.0.1:1');
  });

  it('a node-restriction label it may not set → exit 7 (NodeRestriction); no Node', async () => {
    const t = await bootstrapToken();
    const r = await agent(['--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-forge'), '--node-name', 'agent-forge', '--node-label', 'k3s-enroll.node-restriction.kubernetes.io/site=hq', '--once']);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain('node \\"agent-forge\\" is not allowed to set the following labels: k3s-enroll.node-restriction.kubernetes.io/site');
    expect((await node('agent-forge')).status).toBe(404);
  });

  it('without --once it renews its Lease until SIGTERM, then exits 0', async () => {
    const t = await bootstrapToken();
    const child = spawn(process.execPath, [MAIN, '--server', c.url, '--token', `K10${caHash()}::${t}`, '--data-dir', join(dir, 'agent-beat'), '--node-name', 'agent-beat', '--heartbeat-seconds', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    const LEASE = '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/agent-beat';
    let first = '';
    for (let i = 0; i < 100 && !first; i++) {
      await new Promise((r) => setTimeout(r, 200));
      const l = await call('GET', LEASE, admin);
      if (l.status === 200) first = l.json.spec.renewTime;
    }
    expect(first, err).not.toBe('');
    let later = first;
    for (let i = 0; i < 50 && later === first; i++) {
      await new Promise((r) => setTimeout(r, 200));
      later = (await call('GET', LEASE, admin)).json.spec.renewTime;
    }
    expect(later > first).toBe(true);
    const code = await new Promise<number | null>((r) => {
      child.once('exit', (c2) => r(c2));
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
