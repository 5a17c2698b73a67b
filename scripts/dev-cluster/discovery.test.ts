// What kubectl reads before it acts: /version, discovery in both forms, OpenAPI, Tables,
// namespaces; and Secret update/patch with `immutable` kept (the API server's rules).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster, clientCert, type CallOptions } from '../../test/support/cluster-call.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from './index.mjs';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { humanDuration } from './tables.mjs';

type Cluster = { url: string; caPem: string; serviceAccountToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;
let admin: { cert: string; key: string };
const call = (method: string, path: string, o: CallOptions = {}) => callCluster(c.url, c.caPem, method, path, { ...admin, ...o });
const AGG = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'devcluster-discovery-'));
  c = await startDevCluster({ port: 0, stateDir: dir });
  admin = clientCert(dir, 'system:admin', 'system:masters');
});
afterAll(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('version and discovery', () => {
  it('/version carries a k3s git version', async () => {
    const v = await call('GET', '/version');
    expect(v.json).toMatchObject({ major: '1', minor: '32', gitVersion: expect.stringMatching(/^v1\.32\.\d+\+k3s1$/), platform: 'linux/amd64' });
  });
  it('discovery needs an authenticated user (k3s runs without anonymous auth)', async () => {
    expect((await callCluster(c.url, c.caPem, 'GET', '/api')).status).toBe(401);
    expect((await callCluster(c.url, c.caPem, 'GET', '/apis', { bearer: c.serviceAccountToken })).status).toBe(200);
  });
  it('aggregated discovery (apidiscovery.k8s.io/v2) when asked for, with its content type', async () => {
    const api = await call('GET', '/api', { headers: { accept: AGG } });
    expect(api.headers['content-type']).toBe('application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const nodes = api.json.items[0].versions[0].resources.find((r: { resource: string }) => r.resource === 'nodes');
    expect(nodes).toMatchObject({ responseKind: { group: '', version: 'v1', kind: 'Node' }, scope: 'Cluster', singularResource: 'node', shortNames: ['no'], subresources: [{ subresource: 'status' }] });
    const apis = await call('GET', '/apis', { headers: { accept: AGG } });
    expect(apis.json.items.map((i: { metadata: { name: string } }) => i.metadata.name)).toEqual(['authentication.k8s.io', 'coordination.k8s.io']);
  });
  it('legacy discovery otherwise: APIVersions, APIGroupList, APIResourceList', async () => {
    expect((await call('GET', '/api')).json).toMatchObject({ kind: 'APIVersions', versions: ['v1'] });
    expect((await call('GET', '/apis')).json.groups.map((g: { name: string }) => g.name)).toEqual(['authentication.k8s.io', 'coordination.k8s.io']);
    const v1 = await call('GET', '/api/v1');
    expect(v1.json.resources.map((r: { name: string }) => r.name)).toEqual(['configmaps', 'namespaces', 'nodes', 'nodes/status', 'secrets']);
    expect((await call('GET', '/apis/coordination.k8s.io/v1')).json.resources[0]).toMatchObject({ name: 'leases', namespaced: true, kind: 'Lease' });
  });
  it('OpenAPI v3: a root of group-versions, each with its kinds and the fieldValidation parameter on PATCH', async () => {
    const root = await call('GET', '/openapi/v3');
    const url = root.json.paths['api/v1'].serverRelativeURL as string;
    expect(url).toMatch(/^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]+$/);
    const doc = await call('GET', url);
    expect(doc.json.openapi).toBe('3.0.0');
    const patch = doc.json.paths['/api/v1/nodes/{name}'].patch;
    expect(patch['x-kubernetes-group-version-kind']).toEqual({ group: '', version: 'v1', kind: 'Node' });
    expect(patch.parameters).toContainEqual(expect.objectContaining({ name: 'fieldValidation', in: 'query' }));
    expect(doc.json.components.schemas['io.k8s.api.core.v1.Node']['x-kubernetes-group-version-kind']).toEqual([{ group: '', kind: 'Node', version: 'v1' }]);
  });
  it('OpenAPI v2 as JSON; a protobuf-only Accept gets 406', async () => {
    expect((await call('GET', '/openapi/v2', { headers: { accept: 'application/json' } })).json.swagger).toBe('2.0');
    expect((await call('GET', '/openapi/v2', { headers: { accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf' } })).status).toBe(406);
  });
});

describe('server-side printing and namespaces', () => {
  it('a Table for Nodes with k3s\'s columns when kubectl asks for one', async () => {
    await call('POST', '/api/v1/nodes', { body: { metadata: { name: 'tbl-1', labels: { 'node-role.kubernetes.io/control-plane': 'true' } }, status: { conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.32.4+k3s1' } } } });
    const t = await call('GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dtbl-1', { headers: { accept: TABLE } });
    expect(t.json.kind).toBe('Table');
    expect(t.json.columnDefinitions.filter((d: { priority: number }) => d.priority === 0).map((d: { name: string }) => d.name)).toEqual(['Name', 'Status', 'Roles', 'Age', 'Version']);
    expect(t.json.rows[0].cells.slice(0, 3)).toEqual(['tbl-1', 'Ready', 'control-plane']);
    expect(t.json.rows[0].object).toMatchObject({ kind: 'PartialObjectMetadata', metadata: { name: 'tbl-1' } });
  });
  it.each([[0, '0s'], [119_000, '119s'], [150_000, '2m30s'], [600_000, '10m'], [3 * 3600_000 + 60_000, '3h1m'], [30 * 3600_000, '30h'], [50 * 3600_000, '2d2h'], [400 * 86400_000, '400d'], [3 * 365 * 86400_000 + 86400_000, '3y1d']])('age %i ms → %s', (ms, s) => {
    expect(humanDuration(ms)).toBe(s);
  });
  it('the namespaces k3s starts with; RBAC keeps them from the service account', async () => {
    expect((await call('GET', '/api/v1/namespaces')).json.items.map((n: { metadata: { name: string } }) => n.metadata.name)).toEqual(['default', 'kube-node-lease', 'kube-public', 'kube-system']);
    expect((await call('GET', '/api/v1/namespaces/nope')).json.message).toBe('namespaces "nope" not found');
    expect((await callCluster(c.url, c.caPem, 'GET', '/api/v1/namespaces/kube-system', { bearer: c.serviceAccountToken })).status).toBe(403);
  });
});

describe('Secret update and patch', () => {
  const S = '/api/v1/namespaces/kube-system/secrets';
  it('merge patch changes data and labels and moves resourceVersion; the service account may not patch', async () => {
    const created = await call('POST', S, { body: { metadata: { name: 'sp-1' }, stringData: { a: '1' } } });
    const p = await call('PATCH', `${S}/sp-1`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { x: 'y' } }, data: { a: Buffer.from('2').toString('base64') } } });
    expect(p.json).toMatchObject({ metadata: { labels: { x: 'y' }, uid: created.json.metadata.uid }, data: { a: 'Mg==' } });
    expect(Number(p.json.metadata.resourceVersion)).toBeGreaterThan(Number(created.json.metadata.resourceVersion));
    expect((await callCluster(c.url, c.caPem, 'PATCH', `${S}/sp-1`, { bearer: c.serviceAccountToken, contentType: 'application/merge-patch+json', body: {} })).status).toBe(403);
  });
  it('an immutable Secret keeps its data and stays immutable (422); its labels may change; its type never', async () => {
    await call('POST', S, { body: { metadata: { name: 'sp-imm' }, immutable: true, stringData: { a: '1' } } });
    const data = await call('PATCH', `${S}/sp-imm`, { contentType: 'application/merge-patch+json', body: { data: { a: 'Mg==' } } });
    expect(data.status).toBe(422);
    expect(data.json.message).toBe('Secret "sp-imm" is invalid: data: Forbidden: field is immutable when `immutable` is set');
    expect((await call('PATCH', `${S}/sp-imm`, { contentType: 'application/merge-patch+json', body: { immutable: false } })).status).toBe(422);
    expect((await call('PATCH', `${S}/sp-imm`, { contentType: 'application/merge-patch+json', body: { type: 'Other' } })).json.message).toContain('type: Invalid value: "Other": field is immutable');
    expect((await call('PATCH', `${S}/sp-imm`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { ok: '1' } } } })).status).toBe(200);
  });
  it('PUT with a stale resourceVersion → 409', async () => {
    const created = await call('POST', S, { body: { metadata: { name: 'sp-put' }, stringData: { a: '1' } } });
    await call('PATCH', `${S}/sp-put`, { contentType: 'application/merge-patch+json', body: { metadata: { labels: { v: '2' } } } });
    expect((await call('PUT', `${S}/sp-put`, { body: created.json })).json.reason).toBe('Conflict');
  });
});
