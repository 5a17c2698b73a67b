// The real `kubectl` (v1.32 client, /usr/bin/kubectl on the project's machines) against the dev
// cluster and the real kube-apiserver: the same command gives the same answer on both. Skips
// where kubectl is missing; the oracle target skips where it is not built.
import { execFile, spawnSync } from 'node:child_process';
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterTargets, type ClusterHandle } from '../support/cluster-targets.ts';

const hasKubectl = spawnSync('kubectl', ['version', '--client'], { encoding: 'utf8' }).status === 0;
if (!hasKubectl) console.log('kubectl differential tests skipped: kubectl is not installed');
const NO_DISCOVERY = 'dev cluster serves no discovery (/api, /apis) yet';

describe.each(clusterTargets())('kubectl against $name', (target) => {
  let c: ClusterHandle;
  beforeAll(async () => {
    if (target.skip || !hasKubectl) return;
    c = await target.start();
  }, 240_000);
  afterAll(async () => {
    await c?.close();
  }, 30_000);
  const run = it.skipIf(!!target.skip || !hasKubectl);

  // Asynchronous: the dev cluster serves from this very process.
  const kubectl = (token: string, ...args: string[]) =>
    new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
      execFile('kubectl', [`--server=${c.url}`, `--certificate-authority=${c.caFile}`, `--token=${token}`, ...args], { encoding: 'utf8', env: { ...process.env, KUBECONFIG: '/dev/null' }, timeout: 20_000 }, (e, out, err) => resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, out, err }));
    });
  let n = 0;
  async function bootstrapToken(groups: string): Promise<string> {
    const id = `k${String(++n).padStart(5, '0')}`;
    const body = JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `bootstrap-token-${id}` }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': id, 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true', 'auth-extra-groups': groups } });
    const u = new URL('/api/v1/namespaces/kube-system/secrets', c.url);
    const status = await new Promise<number>((resolve, reject) => {
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname, method: 'POST', ca: c.caPem, headers: { authorization: `Bearer ${c.serviceAccountToken}`, 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) } }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      });
      req.on('error', reject);
      req.end(body);
    });
    expect(status).toBe(201);
    return `${id}.0123456789abcdef`;
  }

  run('kubectl auth whoami with a bootstrap token: the same user and groups', async () => {
    const t = await bootstrapToken('system:bootstrappers:edge');
    const r = await kubectl(t, 'auth', 'whoami', '-o', 'json');
    expect(r.code, r.err).toBe(0);
    expect(JSON.parse(r.out).status.userInfo).toEqual({ username: `system:bootstrap:${t.slice(0, 6)}`, groups: ['system:bootstrappers', 'system:bootstrappers:edge', 'system:authenticated'] });
  });
  run('kubectl with an unknown token: exit 1, "You must be logged in to the server (Unauthorized)"', async () => {
    const r = await kubectl('abcdef.0000000000000000', 'auth', 'whoami');
    expect(r.code).toBe(1);
    expect(r.err.trim().split('\n').at(-1)).toBe('error: You must be logged in to the server (Unauthorized)');
  });
  run('kubectl get secret (discovery, then GET) sees the token Secret', async (ctx) => {
    const discovery = await kubectl(c.serviceAccountToken, 'get', '--raw', '/api');
    if (target.kind === 'dev-cluster' && discovery.code !== 0) return ctx.skip(NO_DISCOVERY);
    const t = await bootstrapToken('system:bootstrappers:edge');
    const r = await kubectl(c.serviceAccountToken, '-n', 'kube-system', 'get', 'secret', `bootstrap-token-${t.slice(0, 6)}`, '-o', 'jsonpath={.type} {.data.token-id}');
    expect(r.code, r.err).toBe(0);
    expect(r.out).toBe(`bootstrap.kubernetes.io/token ${Buffer.from(t.slice(0, 6)).toString('base64')}`);
  });
});
