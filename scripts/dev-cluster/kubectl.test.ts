// A real kubectl against the dev cluster, as a new user would drive k3s: with the admin kubeconfig
// (k3s.yaml), the service account's token and a bootstrap token. Skipped, with the reason printed,
// when no kubectl ≥ 1.27 is installed.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster } from '../../test/support/cluster-call.ts';
import { findKubectl, kubectlRunner } from '../../test/support/kubectl.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from './index.mjs';

const found = findKubectl();
if (!found.bin) console.log(`kubectl tests skipped: ${found.reason}`);

type Cluster = { url: string; caFile: string; caPem: string; kubeconfig: string; serviceAccountToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;
let kubectl: ReturnType<typeof kubectlRunner>;
const asAdmin = (...args: string[]) => kubectl(['--kubeconfig', c.kubeconfig, ...args]);
const withToken = (token: string, ...args: string[]) => kubectl(['--kubeconfig', '/dev/null', '--server', c.url, '--certificate-authority', c.caFile, '--token', token, ...args]);
const manifest = (name: string, text: string) => {
  const f = join(dir, name);
  writeFileSync(f, text);
  return f;
};
let bootstrap = '';

describe.skipIf(!found.bin)('kubectl against the dev cluster', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'devcluster-kubectl-'));
    c = await startDevCluster({ port: 0, stateDir: join(dir, 'cluster') });
    kubectl = kubectlRunner(found.bin!);
    const r = await callCluster(c.url, c.caPem, 'POST', '/api/v1/namespaces/kube-system/secrets', { bearer: c.serviceAccountToken, body: { metadata: { name: 'bootstrap-token-kctl01' }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': 'kctl01', 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': 'system:bootstrappers:k3s:default-node-token' } } });
    expect(r.status).toBe(201);
    bootstrap = 'kctl01.0123456789abcdef';
  });
  afterAll(async () => {
    await c?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('the admin kubeconfig is a k3s.yaml: cluster CA, server URL, a client certificate with O=system:masters', () => {
    const k = readFileSync(c.kubeconfig, 'utf8');
    expect(k).toContain(`server: ${c.url}`);
    expect(k).toContain(`certificate-authority-data: ${Buffer.from(c.caPem).toString('base64')}`);
    expect(k).toMatch(/client-certificate-data: \S+/);
    expect(JSON.parse(readFileSync(join(dir, 'cluster', 'cluster.json'), 'utf8')).kubeconfig).toBe(c.kubeconfig);
  });

  it('kubectl version shows a k3s server version; api-resources lists what is served', async () => {
    const v = await asAdmin('version');
    expect(v.code, v.stderr).toBe(0);
    expect(v.stdout).toMatch(/^Server Version: v1\.\d+\.\d+\+k3s1$/m);
    const r = await asAdmin('api-resources');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^nodes\s+no\s+v1\s+false\s+Node$/m);
    expect(r.stdout).toMatch(/^secrets\s+v1\s+true\s+Secret$/m);
    expect(r.stdout).toMatch(/^leases\s+coordination\.k8s\.io\/v1\s+true\s+Lease$/m);
  });

  it('auth whoami for each identity', async () => {
    expect((await asAdmin('auth', 'whoami')).stdout).toMatch(/Username\s+system:admin\nGroups\s+\[system:masters system:authenticated\]/);
    expect((await withToken(c.serviceAccountToken, 'auth', 'whoami')).stdout).toMatch(/Username\s+system:serviceaccount:k3s-enroll:k3s-enroll/);
    expect((await withToken(bootstrap, 'auth', 'whoami')).stdout).toMatch(/Username\s+system:bootstrap:kctl01\nGroups\s+\[system:bootstrappers system:bootstrappers:k3s:default-node-token system:authenticated\]/);
  });

  it('apply -f creates, a second apply patches; get -o name|json|yaml|jsonpath, -l, --field-selector; delete', async () => {
    const f = manifest('node.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: kctl-node\n  labels:\n    site: a\n');
    const first = await asAdmin('apply', '-f', f);
    expect(first.stdout.trim(), first.stderr).toBe('node/kctl-node created');
    writeFileSync(f, 'apiVersion: v1\nkind: Node\nmetadata:\n  name: kctl-node\n  labels:\n    site: b\n');
    const second = await asAdmin('apply', '-f', f);
    expect(second.stdout.trim(), second.stderr).toBe('node/kctl-node configured');
    expect((await asAdmin('get', 'node', 'kctl-node', '-o', 'jsonpath={.metadata.labels.site}')).stdout).toBe('b');
    expect(JSON.parse((await asAdmin('get', 'node', 'kctl-node', '-o', 'json')).stdout).metadata.annotations['kubectl.kubernetes.io/last-applied-configuration']).toContain('"site":"b"');
    expect((await asAdmin('get', 'node', 'kctl-node', '-o', 'yaml')).stdout).toMatch(/^kind: Node$/m);
    expect((await asAdmin('get', 'nodes', '-l', 'site=b', '-o', 'name')).stdout).toBe('node/kctl-node\n');
    expect((await asAdmin('get', 'nodes', '-l', 'site=a', '-o', 'name')).stdout).toBe('');
    const table = await asAdmin('get', 'nodes');
    expect(table.stdout).toMatch(/^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\nkctl-node\s+Unknown\s+<none>\s+\d+s\s*$/m);
    expect((await asAdmin('delete', 'node', 'kctl-node')).stdout).toBe('node "kctl-node" deleted\n');
    expect((await asAdmin('get', 'node', 'kctl-node')).stderr).toBe('Error from server (NotFound): nodes "kctl-node" not found\n');
  });

  it('Secrets: apply twice, list with --field-selector type=… and -l, get -o jsonpath, delete', async () => {
    const f = manifest('secret.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: kctl-secret\n  namespace: kube-system\n  labels: {app: kctl}\nstringData:\n  a: "1"\n');
    expect((await asAdmin('apply', '-f', f)).stdout).toBe('secret/kctl-secret created\n');
    writeFileSync(f, readFileSync(f, 'utf8').replace('"1"', '"2"'));
    expect((await asAdmin('apply', '-f', f)).stdout).toBe('secret/kctl-secret configured\n');
    expect((await asAdmin('-n', 'kube-system', 'get', 'secret', 'kctl-secret', '-o', 'jsonpath={.data.a}')).stdout).toBe(Buffer.from('2').toString('base64'));
    const byType = await withToken(c.serviceAccountToken, '-n', 'kube-system', 'get', 'secrets', '--field-selector', 'type=bootstrap.kubernetes.io/token', '-o', 'name');
    expect(byType.stdout).toBe('secret/bootstrap-token-kctl01\n');
    const table = await withToken(c.serviceAccountToken, '-n', 'kube-system', 'get', 'secrets', '-l', 'app=kctl');
    expect(table.stdout).toMatch(/^NAME\s+TYPE\s+DATA\s+AGE\nkctl-secret\s+Opaque\s+1\s+\d+s\n$/);
    expect((await asAdmin('-n', 'kube-system', 'delete', 'secret', 'kctl-secret')).stdout).toBe('secret "kctl-secret" deleted\n');
  });

  it('refusals in kubectl\'s own words: 401 for an unknown token, 403 for the bootstrap token and the service account', async () => {
    const bad = await withToken('abcdef.0000000000000000', 'get', 'nodes');
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('error: You must be logged in to the server (Unauthorized)\n');
    const bt = await withToken(bootstrap, '-n', 'kube-system', 'get', 'secrets');
    expect(bt.stderr).toBe('Error from server (Forbidden): secrets is forbidden: User "system:bootstrap:kctl01" cannot list resource "secrets" in API group "" in the namespace "kube-system"\n');
    const sa = await withToken(c.serviceAccountToken, 'delete', 'node', 'anything');
    expect(sa.stderr).toBe('Error from server (Forbidden): nodes "anything" is forbidden: User "system:serviceaccount:k3s-enroll:k3s-enroll" cannot delete resource "nodes" in API group "" at the cluster scope\n');
    const missing = await withToken(c.serviceAccountToken, '-n', 'kube-system', 'get', 'secret', 'nope');
    expect(missing.stderr).toBe('Error from server (NotFound): secrets "nope" not found\n');
  });

  it('apply validates strictly, as kubectl asks: an unknown field is refused by the server', async () => {
    const r = await asAdmin('apply', '-f', manifest('typo.yaml', 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: kctl-typo\n  namespace: kube-system\nstringDta:\n  a: "1"\n'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('strict decoding error: unknown field "stringDta"');
    expect((await asAdmin('-n', 'kube-system', 'get', 'secret', 'kctl-typo')).stderr).toBe('Error from server (NotFound): secrets "kctl-typo" not found\n');
  });

  it('kubectl wait watches a Node until Ready', async () => {
    await asAdmin('apply', '-f', manifest('wait.yaml', 'apiVersion: v1\nkind: Node\nmetadata:\n  name: kctl-wait\n'));
    const waiting = asAdmin('wait', '--for=condition=Ready', 'node/kctl-wait', '--timeout=20s');
    await new Promise((r) => setTimeout(r, 1000));
    const p = await asAdmin('patch', 'node', 'kctl-wait', '--subresource=status', '--type=merge', '-p', '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}');
    expect(p.code, p.stderr).toBe(0);
    const w = await waiting;
    expect(w.stdout, w.stderr).toBe('node/kctl-wait condition met\n');
  });
});
