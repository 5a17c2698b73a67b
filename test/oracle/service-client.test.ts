// Differential conformance of the service's own cluster client (src/cluster) against the dev
// cluster and the real kube-apiserver: mint, login via selfsubjectreviews, list/get, 409 on a
// caller-chosen token, delete with and without a UID precondition, RBAC refusal, and expiry.
// The same assertions run on both targets; the oracle target skips with a printed reason where
// it is not built.
import { request } from 'node:https';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createClusterClient, KubeApiError, type ClusterClient } from '../../src/cluster/index.ts';
import { AppError } from '../../src/errors.ts';
import { generateBootstrapToken } from '../../src/token/index.ts';
import { clusterTargets, type ClusterHandle } from '../support/cluster-targets.ts';

/** A fetch for the cluster client that trusts the target's CA (Node's fetch cannot take one). */
function fetchTrusting(caPem: string): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const u = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const body = typeof init?.body === 'string' ? init.body : undefined;
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body)); // as fetch sends it
    return new Promise<Response>((resolve, reject) => {
      const req = request({ hostname: u.hostname, port: u.port, path: u.pathname + u.search, method: init?.method ?? 'GET', ca: caPem, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (d: Buffer) => chunks.push(d));
        res.on('end', () => {
          const h = new Headers();
          for (const [k, v] of Object.entries(res.headers)) if (typeof v === 'string') h.set(k, v);
          resolve(new Response(res.statusCode === 204 ? null : Buffer.concat(chunks), { status: res.statusCode ?? 0, headers: h }));
        });
      });
      req.on('error', reject);
      init?.signal?.addEventListener('abort', () => req.destroy(new Error('aborted')));
      req.end(body);
    });
  }) as typeof fetch;
}

describe.each(clusterTargets())('service cluster client against $name', (target) => {
  let c: ClusterHandle;
  let client: ClusterClient;
  let fetchCa: typeof fetch;
  const clientAs = (bearer: string) => createClusterClient({ baseUrl: c.url, bearer, fetch: fetchCa, now: () => new Date(), caPem: c.caPem, caHash: null, caHashMode: 'pem' });
  beforeAll(async () => {
    if (target.skip) return;
    c = await target.start();
    fetchCa = fetchTrusting(c.caPem);
    client = clientAs(c.serviceAccountToken);
  }, 240_000);
  afterAll(async () => {
    await c?.close();
  }, 30_000);
  const run = it.skipIf(!!target.skip);

  /** Polls until `f` returns `want` (10 s at most): a real authenticator reads an informer cache. */
  async function eventually<T>(f: () => Promise<T>, want: T): Promise<T> {
    const deadline = Date.now() + 10_000;
    let v = await f();
    while (v !== want && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      v = await f();
    }
    return v;
  }
  async function whoami(token: string): Promise<{ status: number; json: any }> {
    const res = await fetchCa(`${c.url}/apis/authentication.k8s.io/v1/selfsubjectreviews`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' }) });
    return { status: res.status, json: await res.json() };
  }

  run('a minted token logs in as system:bootstrap:<id> with its groups; list and get see it', async () => {
    const m = await client.tokens.mint({ ttlSeconds: 3600, groups: ['system:bootstrappers:edge'], description: 'differential', labels: { 'app.kubernetes.io/managed-by': 'k3s-enroll' } });
    expect(m.uid).toMatch(/^[0-9a-f-]{36}$/);
    expect(m.expiresAt!.getTime() - Date.now()).toBeGreaterThan(3500_000);
    expect(await eventually(async () => (await whoami(`${m.token.id}.${m.token.secret}`)).status, 201)).toBe(201);
    const who = await whoami(`${m.token.id}.${m.token.secret}`);
    expect(who.json.status.userInfo).toEqual({ username: `system:bootstrap:${m.token.id}`, groups: ['system:bootstrappers', 'system:bootstrappers:edge', 'system:authenticated'] });
    const info = await client.tokens.get(m.token.id);
    expect(info).toMatchObject({ id: m.token.id, description: 'differential' });
    expect((await client.tokens.list('app.kubernetes.io/managed-by=k3s-enroll')).map((i) => i.id)).toContain(m.token.id);
  });

  run('a caller-chosen token that exists → conflict (409 AlreadyExists read from the Status)', async () => {
    const token = generateBootstrapToken();
    await client.tokens.mint({ ttlSeconds: 600, token });
    const err = await client.tokens.mint({ ttlSeconds: 600, token }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('conflict');
  });

  run('delete: a wrong UID precondition is refused (false), the right one deletes, a second delete is false; the token no longer logs in', async () => {
    const m = await client.tokens.mint({ ttlSeconds: 600 });
    expect(await client.tokens.remove(m.token.id, { uid: '00000000-0000-0000-0000-000000000000' })).toBe(false);
    expect(await eventually(async () => (await whoami(`${m.token.id}.${m.token.secret}`)).status, 201)).toBe(201);
    expect(await client.tokens.remove(m.token.id, { uid: m.uid })).toBe(true);
    expect(await client.tokens.remove(m.token.id)).toBe(false);
    expect(await eventually(async () => (await whoami(`${m.token.id}.${m.token.secret}`)).status, 401)).toBe(401);
    expect(await client.tokens.get(m.token.id)).toBeNull();
  });

  run('RBAC: an account without create is refused with 403 Forbidden', async () => {
    const err = await clientAs(c.readonlyServiceAccountToken).tokens.mint({ ttlSeconds: 600 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect((err as KubeApiError).status).toBe(403);
    expect((err as KubeApiError).kubeReason).toBe('Forbidden');
    const bad = await clientAs('not-a-token').tokens.list().catch((e: unknown) => e);
    expect((bad as KubeApiError).status).toBe(401);
    expect((bad as KubeApiError).kubeReason).toBe('Unauthorized');
  });

  run('expiry: a token stops logging in once its expiration passes, and the cleaner removes its Secret', async () => {
    const m = await client.tokens.mint({ ttlSeconds: 3 });
    expect(await eventually(async () => (await whoami(`${m.token.id}.${m.token.secret}`)).status, 201)).toBe(201);
    const deadline = Date.now() + 20_000;
    let status = 201;
    while (Date.now() < deadline && (status !== 401 || (await client.tokens.get(m.token.id)) !== null)) {
      await new Promise((r) => setTimeout(r, 250));
      status = (await whoami(`${m.token.id}.${m.token.secret}`)).status;
    }
    expect(status).toBe(401);
    expect(await client.tokens.get(m.token.id)).toBeNull();
  });
});
