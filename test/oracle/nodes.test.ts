// Nodes, watch, NodeRestriction and the service account's Node rights (reference/k3s-join.md §6–7)
// against the dev cluster and the real kube-apiserver, with the same expectations. Nodes and
// admins authenticate with client certificates from <stateDir>/tls/client-ca.{crt,key}, the same
// layout on both targets. A dev cluster without Nodes (before the join watch) skips these tests
// with a note; the service account's Node rights need docs/real-cluster.md's join-watch ClusterRole.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterTargets, type ClusterHandle } from '../support/cluster-targets.ts';
import { callCluster, clientCert } from '../support/cluster-call.ts';

type Cred = { bearer?: string; cert?: string; key?: string };
type Opts = Cred & { body?: unknown; contentType?: string };
const NODES = '/api/v1/nodes';
const SMP = 'application/strategic-merge-patch+json';
const MERGE = 'application/merge-patch+json';
const docsHaveNodeRbac = readFileSync(new URL('../../docs/real-cluster.md', import.meta.url), 'utf8').includes('resources: ["nodes"]');
const nodeBody = (name: string, labels: Record<string, string> = {}, extra: Record<string, unknown> = {}) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name, labels }, ...extra });


describe.each(clusterTargets())('Nodes on $name', (target) => {
  let c: ClusterHandle;
  let admin: Cred;
  let unsupported: string | null = null;
  beforeAll(async () => {
    if (target.skip) return;
    c = await target.start();
    if (!existsSync(join(c.stateDir, 'tls', 'client-ca.key'))) unsupported = 'this dev cluster has no client CA, Nodes or watch yet';
    else admin = clientCert(c.stateDir, 'system:admin', 'system:masters');
  }, 240_000);
  afterAll(async () => {
    await c?.close();
  }, 30_000);

  /** One call through the shared client (test/support/cluster-call.ts); the text without k3s's trailing newline. */
  async function call(method: string, path: string, o: Opts = {}): Promise<{ status: number; text: string; json: any }> {
    const r = await callCluster(c.url, c.caPem, method, path, o);
    return { status: r.status, text: r.text.replace(/\n$/, ''), json: r.json };
  }
  /** Watch events (one JSON object per line) until `n` arrived or 10 s passed. */
  function watch(path: string, cred: Cred, n: number, act: () => Promise<unknown>): Promise<Array<{ type: string; object: any }>> {
    const u = new URL(path, c.url);
    return new Promise((resolve, reject) => {
      const events: Array<{ type: string; object: any }> = [];
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: 'GET', ca: c.caPem, ...(cred.cert ? { cert: cred.cert, key: cred.key } : {}), headers: cred.bearer ? { authorization: `Bearer ${cred.bearer}` } : {} }, (res) => {
        let buf = '';
        const done = () => {
          clearTimeout(timer);
          req.destroy();
          resolve(events);
        };
        const timer = setTimeout(done, 10_000);
        res.on('data', (d) => {
          buf += d;
          let i;
          while ((i = buf.indexOf('\n')) >= 0) {
            const line = buf.slice(0, i);
            buf = buf.slice(i + 1);
            if (line.trim()) events.push(JSON.parse(line));
          }
          if (events.length >= n) done();
        });
        res.on('end', done);
        act().catch(reject);
      });
      req.on('error', (e) => (events.length >= n ? undefined : reject(e)));
      req.end();
    });
  }
  const asAdmin = (method: string, path: string, o: Opts = {}) => call(method, path, { ...admin, ...o });
  const node = (name: string) => clientCert(c.stateDir, `system:node:${name}`, 'system:nodes');
  const run = (name: string, fn: () => Promise<void>) =>
    it.skipIf(!!target.skip)(name, async (ctx) => {
      if (unsupported) return ctx.skip(unsupported);
      await fn();
    });

  run('create, get, 409 AlreadyExists and 404 NotFound bodies', async () => {
    const r = await asAdmin('POST', NODES, { body: nodeBody('reg-1', { a: '1' }) });
    expect(r.status).toBe(201);
    expect(r.json).toMatchObject({ kind: 'Node', apiVersion: 'v1', metadata: { name: 'reg-1', labels: { a: '1' } } });
    expect((await asAdmin('POST', NODES, { body: nodeBody('reg-1') })).json).toMatchObject({ reason: 'AlreadyExists', message: 'nodes "reg-1" already exists', code: 409 });
    expect((await asAdmin('GET', `${NODES}/nope`)).text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \\"nope\\" not found","reason":"NotFound","details":{"name":"nope","kind":"nodes"},"code":404}');
  });
  run('watch from a list resourceVersion: ADDED, MODIFIED, DELETED with their resourceVersions', async () => {
    const list = await asAdmin('GET', NODES);
    let patched = '';
    const ev = await watch(`${NODES}?watch=1&resourceVersion=${list.json.metadata.resourceVersion}&labelSelector=w%3D1`, admin, 3, async () => {
      await asAdmin('POST', NODES, { body: nodeBody('w-1', { w: '1' }) });
      patched = (await asAdmin('PATCH', `${NODES}/w-1`, { contentType: MERGE, body: { metadata: { annotations: { a: 'b' } } } })).json.metadata.resourceVersion;
      await asAdmin('DELETE', `${NODES}/w-1`);
    });
    expect(ev.map((e) => `${e.type} ${e.object.metadata.name}`)).toEqual(['ADDED w-1', 'MODIFIED w-1', 'DELETED w-1']);
    expect(ev[1]!.object.metadata.resourceVersion).toBe(patched);
    expect(ev[0]!.object.kind).toBe('Node');
  });
  run('NodeRestriction: a node registers itself with kubelet and free labels, not another node', async () => {
    expect((await call('POST', NODES, { ...node('nr-ok'), body: nodeBody('nr-ok', { 'kubernetes.io/hostname': 'nr-ok', 'kubernetes.io/os': 'linux', 'topology.kubernetes.io/zone': 'z', 'example.com/site': 'a' }) })).status).toBe(201);
    const r = await call('POST', NODES, { ...node('nr-a'), body: nodeBody('nr-b') });
    expect(r.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes \\"nr-b\\" is forbidden: node \\"nr-a\\" is not allowed to modify node \\"nr-b\\"","reason":"Forbidden","details":{"name":"nr-b","kind":"nodes"},"code":403}');
  });
  for (const label of ['node-restriction.kubernetes.io/site', 'k3s-enroll.node-restriction.kubernetes.io/site', 'kubernetes.io/role', 'node-role.kubernetes.io/master']) {
    run(`NodeRestriction: may not register with ${label}`, async () => {
      const name = `nr-${label.length}-${label.split('/')[0]!.length}`;
      const r = await call('POST', NODES, { ...node(name), body: nodeBody(name, { [label]: 'x', 'free.example/ok': 'y' }) });
      expect(r.status).toBe(403);
      expect(r.json.message).toBe(`nodes "${name}" is forbidden: node "${name}" is not allowed to set the following labels: ${label}`);
    });
  }
  run('NodeRestriction on update: restricted labels and taints refused; free labels and own status allowed', async () => {
    const n = node('nr-up');
    expect((await call('POST', NODES, { ...n, body: nodeBody('nr-up', {}, { spec: { taints: [{ key: 'a', effect: 'NoSchedule' }] } }) })).status).toBe(201);
    const add = await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: SMP, body: { metadata: { labels: { 'site.node-restriction.kubernetes.io/x': 'forged', 'b.example/ok': '1' } } } });
    // The real message has no `node "<name>"` here (noderestriction/admission.go: "is not allowed to modify labels: %s").
    expect(add.json.message).toBe('nodes "nr-up" is forbidden: is not allowed to modify labels: site.node-restriction.kubernetes.io/x');
    const taint = await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: MERGE, body: { spec: { taints: [] } } });
    expect(taint.json.message).toBe('nodes "nr-up" is forbidden: node "nr-up" is not allowed to modify taints');
    expect((await call('PATCH', `${NODES}/nr-up`, { ...n, contentType: MERGE, body: { metadata: { labels: { 'b.example/ok': '1' } } } })).status).toBe(200);
    expect((await call('PATCH', `${NODES}/nr-up/status`, { ...n, contentType: SMP, body: { status: { conditions: [{ type: 'Ready', status: 'True' }] } } })).status).toBe(200);
  });
  run(`RBAC: the service account may get/list/watch/patch Nodes, not create or delete them${docsHaveNodeRbac ? '' : ' (skipped: docs/real-cluster.md grants no Node rights yet)'}`, async () => {
    if (!docsHaveNodeRbac) return;
    const sa = { bearer: c.serviceAccountToken };
    await asAdmin('POST', NODES, { body: nodeBody('sa-1') });
    expect((await call('GET', `${NODES}/sa-1`, sa)).status).toBe(200);
    expect((await call('PATCH', `${NODES}/sa-1`, { ...sa, contentType: MERGE, body: { metadata: { labels: { 'k3s-enroll.node-restriction.kubernetes.io/machine': 'm1' } } } })).status).toBe(200);
    const ev = await watch(`${NODES}?watch=1&fieldSelector=metadata.name%3Dsa-1`, sa, 1, async () => {});
    expect(ev[0]!.type).toBe('ADDED');
    const create = await call('POST', NODES, { ...sa, body: nodeBody('sa-2') });
    expect(create.text).toBe('{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"nodes is forbidden: User \\"system:serviceaccount:k3s-enroll:k3s-enroll\\" cannot create resource \\"nodes\\" in API group \\"\\" at the cluster scope","reason":"Forbidden","details":{"kind":"nodes"},"code":403}');
    expect((await call('DELETE', `${NODES}/sa-1`, sa)).json.message).toBe('nodes "sa-1" is forbidden: User "system:serviceaccount:k3s-enroll:k3s-enroll" cannot delete resource "nodes" in API group "" at the cluster scope');
  });
  run('RBAC: the readonly account may not list Nodes', async () => {
    expect((await call('GET', NODES, { bearer: c.readonlyServiceAccountToken })).status).toBe(403);
  });
});
