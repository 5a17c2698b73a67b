// Nodes, Leases, watch, NodeRestriction and the service account's node rights, rule by rule
// (reference/k3s-join.md §6–7; the API server's registry and watch cache behaviour).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callCluster, clientCert, watchCluster, type CallOptions } from '../../test/support/cluster-call.ts';
// @ts-expect-error: plain JavaScript module with JSDoc types
import { startDevCluster } from './index.mjs';

type Cluster = { url: string; caPem: string; serviceAccountToken: string; readonlyServiceAccountToken: string; controlToken: string; close(): Promise<void> };
let dir = '';
let c: Cluster;
let admin: { cert: string; key: string };
const call = (method: string, path: string, o: CallOptions = {}) => callCluster(c.url, c.caPem, method, path, o);
const asAdmin = (method: string, path: string, o: CallOptions = {}) => call(method, path, { ...admin, ...o });
const node = (name: string) => clientCert(dir, `system:node:${name}`, 'system:nodes');
const NODES = '/api/v1/nodes';
const nodeBody = (name: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, ...extra });
const SMP = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'devcluster-nodes-'));
  c = await startDevCluster({ port: 0, stateDir: dir, bookmarkIntervalMs: 150, watchHistory: 50 });
  admin = clientCert(dir, 'system:admin', 'system:masters');
});
afterAll(async () => {
  await c.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('Nodes registry', () => {
  it('create keeps status, sets uid/resourceVersion/creationTimestamp; get returns the same object', async () => {
    const r = await asAdmin('POST', NODES, { body: nodeBody('reg-1', { a: '1' }, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }) });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'reg-1', labels: { a: '1' } }, status: { conditions: [{ type: 'Ready', status: 'False' }] } });
    expect(r.json.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.json.metadata.resourceVersion).toMatch(/^\d+$/);
    const g = await asAdmin('GET', `${NODES}/reg-1`);
    expect(g.json).toEqual(r.json);
    expect((await asAdmin('POST', NODES, { body: nodeBody('reg-1') })).json).toMatchObject({ reason: 'AlreadyExists', message: 'nodes "reg-1" already exists', code: 409 });
    expect((await asAdmin('GET', `${NODES}/nope`)).text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"nodes"},"code":404}');
  });
  it('422 for an invalid name or label', async () => {
    expect((await asAdmin('POST', NODES, { body: nodeBody('Bad_Name') })).json).toMatchObject({ reason: 'Invalid', code: 422, details: { kind: 'Node' } });
    expect((await asAdmin('POST', NODES, { body: nodeBody('ok-name', { 'bad key!': 'x' }) })).status).toBe(422);
  });
  it('list: label and field selectors, limit/continue paging, list resourceVersion', async () => {
    for (const n of ['pg-1', 'pg-2', 'pg-3']) await asAdmin('POST', NODES, { body: nodeBody(n, { pool: 'pg', tier: n === 'pg-2' ? 'b' : 'a' }) });
    const byLabel = await asAdmin('GET', `${NODES}?labelSelector=${encodeURIComponent('pool=pg,tier in (a)')}`);
    expect(byLabel.json.kind).toBe('NodeList');
    expect(byLabel.json.items.map((i: any) => i.metadata.name)).toEqual(['pg-1', 'pg-3']);
    expect(byLabel.json.metadata.resourceVersion).toMatch(/^\d+$/);
    const byField = await asAdmin('GET', `${NODES}?fieldSelector=metadata.name%3Dpg-2`);
    expect(byField.json.items.map((i: any) => i.metadata.name)).toEqual(['pg-2']);
    expect((await asAdmin('GET', `${NODES}?fieldSelector=status.phase%3Dx`)).json).toMatchObject({ code: 400, message: 'field label not supported: status.phase' });
    const p1 = await asAdmin('GET', `${NODES}?labelSelector=pool%3Dpg&limit=2`);
    expect(p1.json.items.map((i: any) => i.metadata.name)).toEqual(['pg-1', 'pg-2']);
    expect(p1.json.metadata.remainingItemCount).toBe(1);
    const p2 = await asAdmin('GET', `${NODES}?labelSelector=pool%3Dpg&limit=2&continue=${p1.json.metadata.continue}`);
    expect(p2.json.items.map((i: any) => i.metadata.name)).toEqual(['pg-3']);
    expect(p2.json.metadata.continue).toBeUndefined();
  });
  it('patch: JSON merge patch, strategic merge (conditions by type, $patch delete, label removal), JSON patch; resourceVersion moves', async () => {
    const created = await asAdmin('POST', NODES, { body: nodeBody('pt-1', { keep: 'y', drop: 'y' }, { status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'MemoryPressure', status: 'False' }] } }) });
    const m = await asAdmin('PATCH', `${NODES}/pt-1`, { contentType: MERGE, body: { metadata: { labels: { added: 'z', drop: null } } } });
    expect(m.status).toBe(200);
    expect(m.json.metadata.labels).toEqual({ keep: 'y', added: 'z' });
    expect(Number(m.json.metadata.resourceVersion)).toBeGreaterThan(Number(created.json.metadata.resourceVersion));
    const s = await asAdmin('PATCH', `${NODES}/pt-1/status`, { contentType: SMP, body: { status: { $setElementOrder: undefined, conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady' }, { type: 'MemoryPressure', $patch: 'delete' }] } } });
    expect(s.json.status.conditions).toEqual([{ type: 'Ready', status: 'True', reason: 'KubeletReady' }]);
    const t = await asAdmin('PATCH', `${NODES}/pt-1`, { contentType: SMP, body: { spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } } });
    expect(t.json.spec.taints).toEqual([{ key: 'k', effect: 'NoSchedule' }]);
    const j = await asAdmin('PATCH', `${NODES}/pt-1`, { contentType: 'application/json-patch+json', body: [{ op: 'add', path: '/metadata/labels/j', value: '1' }, { op: 'remove', path: '/metadata/labels/keep' }] });
    expect(j.json.metadata.labels).toEqual({ added: 'z', j: '1' });
    expect((await asAdmin('PATCH', `${NODES}/pt-1`, { contentType: 'application/json-patch+json', body: [{ op: 'test', path: '/metadata/labels/j', value: '2' }] })).status).toBe(422);
    expect((await asAdmin('PATCH', `${NODES}/pt-1`, { contentType: 'text/plain', body: '{}' })).status).toBe(415);
  });
  it('a uid in a patch that is not the Node\'s → 422 (metadata.uid is immutable); in a PUT body → 409 precondition; the matching uid passes', async () => {
    const created = await asAdmin('POST', NODES, { body: nodeBody('uid-1') });
    const wrong = '00000000-0000-0000-0000-000000000000';
    const p = await asAdmin('PATCH', `${NODES}/uid-1`, { contentType: MERGE, body: { metadata: { uid: wrong, labels: { x: '1' } } } });
    expect(p.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Node \\"uid-1\\" is invalid: metadata.uid: Invalid value: \\"${wrong}\\": field is immutable","reason":"Invalid","details":{"name":"uid-1","kind":"Node","causes":[{"reason":"FieldValueInvalid","message":"Invalid value: \\"${wrong}\\": field is immutable","field":"metadata.uid"}]},"code":422}`);
    const put = await asAdmin('PUT', `${NODES}/uid-1`, { body: { ...created.json, metadata: { ...created.json.metadata, uid: wrong } } });
    expect(put.json).toMatchObject({ code: 409, reason: 'Conflict', message: `Operation cannot be fulfilled on nodes "uid-1": Precondition failed: UID in precondition: ${wrong}, UID in object meta: ${created.json.metadata.uid}` });
    expect((await asAdmin('GET', `${NODES}/uid-1`)).json.metadata.labels).toBeUndefined();
    expect((await asAdmin('PATCH', `${NODES}/uid-1`, { contentType: MERGE, body: { metadata: { uid: created.json.metadata.uid, labels: { x: '1' } } } })).json.metadata.labels).toEqual({ x: '1' });
  });
  it('the main resource does not write status, the status subresource writes only status (nodeStrategy)', async () => {
    await asAdmin('POST', NODES, { body: nodeBody('st-1', {}, { status: { conditions: [{ type: 'Ready', status: 'False' }] } }) });
    const main = await asAdmin('PATCH', `${NODES}/st-1`, { contentType: MERGE, body: { status: { conditions: [] } } });
    expect(main.json.status.conditions).toHaveLength(1);
    const st = await asAdmin('PATCH', `${NODES}/st-1/status`, { contentType: MERGE, body: { metadata: { labels: { x: 'y' } }, status: { capacity: { cpu: '2' } } } });
    expect(st.json.metadata.labels).toBeUndefined();
    expect(st.json.status.capacity).toEqual({ cpu: '2' });
  });
  it('update with a stale resourceVersion → 409 Conflict; delete → Success Status then 404; UID precondition checked', async () => {
    const created = await asAdmin('POST', NODES, { body: nodeBody('up-1') });
    await asAdmin('PATCH', `${NODES}/up-1`, { contentType: MERGE, body: { metadata: { labels: { v: '2' } } } });
    const stale = await asAdmin('PUT', `${NODES}/up-1`, { body: created.json });
    expect(stale.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"Operation cannot be fulfilled on nodes \\"up-1\\": the object has been modified; please apply your changes to the latest version and try again","reason":"Conflict","details":{"name":"up-1","kind":"nodes"},"code":409}');
    expect((await asAdmin('DELETE', `${NODES}/up-1`, { body: { preconditions: { uid: '00000000-0000-0000-0000-000000000000' } } })).status).toBe(409);
    const del = await asAdmin('DELETE', `${NODES}/up-1`);
    expect(del.text).toBe(`{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Success","details":{"name":"up-1","kind":"nodes","uid":"${created.json.metadata.uid}"}}`);
    expect((await asAdmin('GET', `${NODES}/up-1`)).status).toBe(404);
  });
});

describe('watch', () => {
  it('from a list resourceVersion: ADDED, MODIFIED, DELETED as chunked JSON lines with their resourceVersions', async () => {
    const list = await asAdmin('GET', NODES);
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&resourceVersion=${list.json.metadata.resourceVersion}&labelSelector=w%3D1`, admin);
    expect(w.status).toBe(200);
    await asAdmin('POST', NODES, { body: nodeBody('w-1', { w: '1' }) });
    const p = await asAdmin('PATCH', `${NODES}/w-1`, { contentType: MERGE, body: { metadata: { annotations: { a: 'b' } } } });
    await asAdmin('DELETE', `${NODES}/w-1`);
    const ev = await w.waitFor(3);
    w.close();
    expect(ev.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w-1', 'MODIFIED w-1', 'DELETED w-1']);
    expect(ev[1]!.object.metadata.resourceVersion).toBe(p.json.metadata.resourceVersion);
    expect(Number(ev[2]!.object.metadata.resourceVersion)).toBeGreaterThan(Number(p.json.metadata.resourceVersion));
    expect(ev[0]!.object.kind).toBe('Node');
  });
  it('resuming from a resourceVersion replays what happened after it', async () => {
    const a = await asAdmin('POST', NODES, { body: nodeBody('rs-1', { rs: '1' }) });
    await asAdmin('PATCH', `${NODES}/rs-1`, { contentType: MERGE, body: { metadata: { labels: { more: 'x' } } } });
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&resourceVersion=${a.json.metadata.resourceVersion}&labelSelector=rs%3D1`, admin);
    const ev = await w.waitFor(1);
    w.close();
    expect(ev.map((e) => e.type)).toEqual(['MODIFIED']);
  });
  it('resourceVersion 0 or unset: synthetic ADDED for what exists; a label change out of the selector is DELETED', async () => {
    await asAdmin('POST', NODES, { body: nodeBody('z-1', { z: '1' }) });
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=true&resourceVersion=0&labelSelector=z%3D1`, admin);
    await w.waitFor(1);
    await asAdmin('PATCH', `${NODES}/z-1`, { contentType: MERGE, body: { metadata: { labels: { z: '2' } } } });
    const ev = await w.waitFor(2);
    w.close();
    expect(ev.map((e) => e.type)).toEqual(['ADDED', 'DELETED']);
  });
  it('allowWatchBookmarks: BOOKMARK events carry only a resourceVersion', async () => {
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&allowWatchBookmarks=true&labelSelector=none%3Dnone`, admin);
    const ev = await w.waitFor(1);
    w.close();
    expect(ev[0]).toEqual({ type: 'BOOKMARK', object: { kind: 'Node', apiVersion: 'v1', metadata: { resourceVersion: expect.stringMatching(/^\d+$/), creationTimestamp: null } } });
  });
  it('a resourceVersion older than the watch cache → ERROR event with 410 Expired; a stale continue → HTTP 410', async () => {
    const old = (await asAdmin('GET', NODES)).json.metadata.resourceVersion;
    const page = await asAdmin('GET', `${NODES}?limit=1`);
    await asAdmin('POST', NODES, { body: nodeBody('old-1') });
    const ctl = await call('POST', '/__dev/compact', { headers: { 'x-dev-cluster-control': c.controlToken } });
    expect(ctl.status).toBe(200);
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&resourceVersion=${old}`, admin);
    expect(w.status).toBe(200);
    await w.ended;
    expect(w.events).toEqual([{ type: 'ERROR', object: { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `too old resource version: ${old} (${ctl.json.floor})`, reason: 'Expired', code: 410 } }]);
    const cont = await asAdmin('GET', `${NODES}?limit=1&continue=${page.json.metadata.continue}`);
    expect(cont.status).toBe(410);
    expect(cont.json.reason).toBe('Expired');
  });
  it('timeoutSeconds ends the stream', async () => {
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&timeoutSeconds=1&labelSelector=none%3Dnone`, admin);
    await w.ended;
    expect(w.status).toBe(200);
  });
});

describe('NodeRestriction (reference §7)', () => {
  it('a node may register itself with kubelet labels and free-domain labels', async () => {
    const n = node('nr-ok');
    const r = await call('POST', NODES, { ...n, body: nodeBody('nr-ok', { 'kubernetes.io/hostname': 'nr-ok', 'kubernetes.io/os': 'linux', 'node.kubernetes.io/instance-type': 'k3s', 'kubelet.kubernetes.io/x': 'y', 'topology.kubernetes.io/zone': 'z', 'example.com/site': 'a' }) });
    expect(r.status).toBe(201);
  });
  it('may not create another node', async () => {
    const r = await call('POST', NODES, { ...node('nr-a'), body: nodeBody('nr-b') });
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \\"nr-b\\" is forbidden: node \\"nr-a\\" is not allowed to modify node \\"nr-b\\"","reason":"Forbidden","details":{"name":"nr-b","kind":"nodes"},"code":403}');
    expect((await asAdmin('GET', `${NODES}/nr-b`)).status).toBe(404);
  });
  it.each([
    ['node-restriction.kubernetes.io/site'],
    ['k3s-enroll.node-restriction.kubernetes.io/site'],
    ['kubernetes.io/role'],
    ['node-role.kubernetes.io/master'],
    ['example.k8s.io/x'],
  ])('may not register with %s', async (label) => {
    const name = `nr-${label.length}-${label.split('/')[0]!.length}`;
    const r = await call('POST', NODES, { ...node(name), body: nodeBody(name, { [label]: 'x', 'free.example/ok': 'y' }) });
    expect(r.status).toBe(403);
    expect(r.json.message).toBe(`nodes "${name}" is forbidden: node "${name}" is not allowed to set the following labels: ${label}`);
    expect((await asAdmin('GET', `${NODES}/${name}`)).status).toBe(404);
  });
  it('may not add or change a restricted label on update, nor its taints; may change free labels and its status', async () => {
    const n = node('nr-up');
    await call('POST', NODES, { ...n, body: nodeBody('nr-up', {}, { spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } }) });
    const add = await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: SMP, body: { metadata: { labels: { 'site.node-restriction.kubernetes.io/x': 'forged', 'b.example/ok': '1' } } } });
    expect(add.json.message).toBe('nodes "nr-up" is forbidden: is not allowed to modify labels: site.node-restriction.kubernetes.io/x');
    // An administrator sets it; the node may then not remove it either.
    expect((await asAdmin('PATCH', `${NODES}/nr-up`, { contentType: SMP, body: { metadata: { labels: { 'node-restriction.kubernetes.io/site': 'hq' } } } })).status).toBe(200);
    const rm = await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: MERGE, body: { metadata: { labels: { 'node-restriction.kubernetes.io/site': null } } } });
    expect(rm.json.message).toBe('nodes "nr-up" is forbidden: is not allowed to modify labels: node-restriction.kubernetes.io/site');
    const taint = await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: MERGE, body: { spec: { taints: [] } } });
    expect(taint.json.message).toBe('nodes "nr-up" is forbidden: node "nr-up" is not allowed to modify taints');
    expect((await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: MERGE, body: { metadata: { labels: { 'b.example/ok': '1' } } } })).status).toBe(200);
    expect((await call('PATCH', `${NODES}/nr-up/status`, { ...n, contentType: SMP, body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } })).status).toBe(200);
    expect((await call('PATCH', `${NODES}/nr-ok/status`, { ...n, contentType: SMP, body: { status: { conditions: [{ type: 'Ready', status: 'False' }] } } })).json.message).toBe('nodes "nr-ok" is forbidden: node "nr-up" is not allowed to modify node "nr-ok"');
    expect((await call('DELETE', `${NODES}/nr-ok`, n)).status).toBe(403);
  });
  it('a node writes only its own Lease, only in kube-node-lease', async () => {
    const n = node('nr-lease');
    const lease = (name: string, ns = 'kube-node-lease') => ({ apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace: ns }, spec: { holderIdentity: name, leaseDurationSeconds: 40 } });
    const own = await call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { ...n, body: lease('nr-lease') });
    expect(own.status).toBe(201);
    const other = await call('POST', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases', { ...n, body: lease('nr-other') });
    expect(other.json.message).toBe('leases.coordination.k8s.io "nr-other" is forbidden: can only access node lease with the same name as the requesting node');
    const ns = await call('POST', '/apis/coordination.k8s.io/v1/namespaces/default/leases', { ...n, body: lease('nr-lease', 'default') });
    expect(ns.json.message).toBe('leases.coordination.k8s.io "nr-lease" is forbidden: can only access leases in the "kube-node-lease" system namespace');
    const renewed = await call('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/nr-lease', { ...n, body: { ...own.json, spec: { ...own.json.spec, renewTime: '2026-01-01T00:00:00.000000Z' } } });
    expect(renewed.status).toBe(200);
    expect(renewed.json.spec.renewTime).toBe('2026-01-01T00:00:00.000000Z');
  });
});

describe('RBAC for Nodes', () => {
  it('the service account may get/list/watch/patch Nodes, not create or delete them', async () => {
    const sa = { bearer: c.serviceAccountToken };
    await asAdmin('POST', NODES, { body: nodeBody('sa-1') });
    expect((await call('GET', `${NODES}/sa-1`, sa)).status).toBe(200);
    expect((await call('GET', NODES, sa)).status).toBe(200);
    expect((await call('PATCH', `${NODES}/sa-1`, { ...sa, contentType: MERGE, body: { metadata: { labels: { 'k3s-enroll.node-restriction.kubernetes.io/machine': 'm1' } } } })).status).toBe(200);
    const w = await watchCluster(c.url, c.caPem, `${NODES}?watch=1&fieldSelector=metadata.name%3Dsa-1`, sa);
    expect((await w.waitFor(1))[0]!.type).toBe('ADDED');
    w.close();
    const create = await call('POST', NODES, { ...sa, body: nodeBody('sa-2') });
    expect(create.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes is forbidden: User \\"system:serviceaccount:k3s-enroll:k3s-enroll\\" cannot create resource \\"nodes\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"kind":"nodes"},"code":403}');
    expect((await call('DELETE', `${NODES}/sa-1`, sa)).json.message).toBe('nodes "sa-1" is forbidden: User "system:serviceaccount:k3s-enroll:k3s-enroll" cannot delete resource "nodes" in API group "" at the cluster scope');
    expect((await call('PATCH', `${NODES}/sa-1/status`, { ...sa, contentType: MERGE, body: {} })).status).toBe(403);
  });
  it('the readonly account and a bootstrap token may not list Nodes', async () => {
    expect((await call('GET', NODES, { bearer: c.readonlyServiceAccountToken })).status).toBe(403);
  });
  it('a client certificate not from the client CA is not a credential (401)', async () => {
    const other = mkdtempSync(join(tmpdir(), 'devcluster-other-'));
    try {
      const o = await startDevCluster({ port: 0, stateDir: other });
      await o.close();
      const foreign = clientCert(other, 'system:admin', 'system:masters');
      expect((await call('GET', NODES, foreign)).status).toBe(401);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
