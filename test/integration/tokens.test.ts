// `k3s token` parity through the admin API, in workerd against the dev cluster.
import { describe, expect, it } from 'vitest';
import { checkedFetch } from '../support/workers/openapi-contract.ts';
import { parseJoinToken } from '../../src/token/index.ts';
import { bootstrapSecrets, cacerts, cluster, whoAmI } from '../support/workers/dev-cluster.ts';

const ADMIN = { authorization: 'Bearer test-admin-token-0123456789', 'content-type': 'application/json' };
const call = (method: string, path: string, body?: unknown) => checkedFetch(`https://enroll.test${path}`, { method, headers: ADMIN, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
const hex = (b: ArrayBuffer) => [...new Uint8Array(b)].map((x) => x.toString(16).padStart(2, '0')).join('');

describe('/v1/tokens (k3s token create/list/delete/generate)', () => {
  it('create with k3s defaults: 24h, signing+authentication, default group; the token logs in', async () => {
    const res = await call('POST', '/v1/tokens', {});
    expect(res.status).toBe(201);
    const body = (await res.json()) as { token: string; id: string; expiresAt: string };
    const t = parseJoinToken(body.token);
    expect(t.caHash).toBe(hex(await crypto.subtle.digest('SHA-256', await cacerts())));
    expect(t.bootstrap!.id).toBe(body.id);
    expect(Date.parse(body.expiresAt) - Date.now()).toBeGreaterThan(23.9 * 3600_000);
    expect(await whoAmI(`${t.bootstrap!.id}.${t.bootstrap!.secret}`)).toMatchObject({ status: 201, groups: ['system:bootstrappers', 'system:bootstrappers:k3s:default-node-token', 'system:authenticated'] });
    const secret = (await bootstrapSecrets()).find((s) => s.metadata.name === `bootstrap-token-${body.id}`)!;
    expect(atob(secret.data['usage-bootstrap-signing']!)).toBe('true');
    expect(atob(secret.data['usage-bootstrap-authentication']!)).toBe('true');
  });

  it('create with a given token and ttl 0 never expires; a duplicate id is refused with 409', async () => {
    const res = await call('POST', '/v1/tokens', { token: 'perage.s0xt4u0hl5guoyi6', ttl: '0', description: 'forever' });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ id: 'perage', expiresAt: null });
    const dup = await call('POST', '/v1/tokens', { token: 'perage.aaaaaaaaaaaaaaaa' });
    expect(dup.status).toBe(409);
    expect(await dup.json()).toMatchObject({ code: 'conflict', detail: 'a token with id "perage" already exists' });
    const list = (await (await call('GET', '/v1/tokens')).json()) as { items: Array<Record<string, unknown>> };
    expect(list.items.find((i) => i.id === 'perage')).toEqual({ id: 'perage', description: 'forever', expires: null, ttl: '<forever>', usages: ['authentication', 'signing'], groups: ['system:bootstrappers:k3s:default-node-token'] });
  });

  it('list shows TTL as k3s does (10m → 9m) and tokens made outside the service', async () => {
    await call('POST', '/v1/tokens', { token: '10mint.ida18trbbk43szwk', ttl: '10m', description: 'Test' });
    // A token made by `k3s token create` directly in the cluster, without our labels.
    const raw = await fetch(`${cluster.url}/api/v1/namespaces/kube-system/secrets`, {
      method: 'POST',
      headers: { authorization: `Bearer ${cluster.serviceAccountToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bootstrap-token-k3scli', namespace: 'kube-system' }, type: 'bootstrap.kubernetes.io/token', stringData: { 'token-id': 'k3scli', 'token-secret': '0123456789abcdef', 'usage-bootstrap-authentication': 'true' } }),
    });
    expect(raw.status).toBe(201);
    const list = (await (await call('GET', '/v1/tokens')).json()) as { items: Array<Record<string, unknown>> };
    expect(list.items.find((i) => i.id === '10mint')).toMatchObject({ ttl: expect.stringMatching(/^[0-9]m$/), description: 'Test' });
    expect(list.items.find((i) => i.id === 'k3scli')).toEqual({ id: 'k3scli', description: '', expires: null, ttl: '<forever>', usages: ['authentication'], groups: [] });
  });

  it('delete by id; a full token in the path is 400 and deletes nothing; a missing token is 404; garbage is 400', async () => {
    const a = (await (await call('POST', '/v1/tokens', { ttl: '5m' })).json()) as { id: string; token: string };
    const b = (await (await call('POST', '/v1/tokens', { ttl: '5m' })).json()) as { id: string; token: string };
    const byId = await call('DELETE', `/v1/tokens/${a.id}`);
    expect(await byId.json()).toEqual({ id: a.id, message: `bootstrap token "${a.id}" deleted` });
    // The path takes the id only: a full token is refused unused (it would be in access logs).
    const byToken = await call('DELETE', `/v1/tokens/${encodeURIComponent(b.token)}`);
    expect(byToken.status).toBe(400);
    expect(await byToken.json()).toMatchObject({ code: 'invalid_token', hint: expect.stringContaining('k3s-token delete') });
    expect((await bootstrapSecrets()).map((s) => s.metadata.name)).toContain(`bootstrap-token-${b.id}`);
    expect((await call('DELETE', `/v1/tokens/${b.id}`)).status).toBe(200);
    const names = (await bootstrapSecrets()).map((s) => s.metadata.name);
    expect(names).not.toContain(`bootstrap-token-${a.id}`);
    expect(names).not.toContain(`bootstrap-token-${b.id}`);
    const again = await call('DELETE', `/v1/tokens/${a.id}`);
    expect(again.status).toBe(404);
    expect(await again.json()).toMatchObject({ code: 'not_found' });
    const bad = await call('DELETE', '/v1/tokens/NOT-A-TOKEN');
    expect(bad.status).toBe(400);
    expect(await bad.json()).toMatchObject({ code: 'invalid_token' });
  });

  it('generate touches nothing', async () => {
    const before = (await bootstrapSecrets()).length;
    const res = await call('POST', '/v1/tokens/generate');
    expect(res.status).toBe(200);
    expect(((await res.json()) as { token: string }).token).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);
    expect((await bootstrapSecrets()).length).toBe(before);
  });

  it.each([
    [{ token: 'ABCDEF.0123456789abcdef' }, 'invalid_token'],
    [{ ttl: '1d' }, 'invalid_request'],
    [{ groups: ['system:nodes'] }, 'invalid_request'],
    [{ usages: ['auth'] }, 'invalid_request'],
    [{ groups: 'system:bootstrappers:x' }, 'invalid_request'],
    [{ extra: true }, 'invalid_request'],
  ])('create %j → 400 %s, nothing created', async (body, code) => {
    const before = (await bootstrapSecrets()).length;
    const res = await call('POST', '/v1/tokens', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ code });
    expect((await bootstrapSecrets()).length).toBe(before);
  });

  it('server-token rotate: a wrong current token → 403 forbidden; a bootstrap-form or missing token → 400', async () => {
    const wrong = await call('POST', '/v1/server-token/rotate', { token: 'not-the-server-password' });
    expect(wrong.status).toBe(403);
    expect(await wrong.json()).toMatchObject({ code: 'forbidden' });
    const bootstrapForm = await call('POST', '/v1/server-token/rotate', { token: 'abcdef.0123456789abcdef' });
    expect(bootstrapForm.status).toBe(400);
    const missing = await call('POST', '/v1/server-token/rotate', {});
    expect(missing.status).toBe(400);
    // The successful rotation is exercised once, in cluster-client.test.ts (one shared supervisor password).
  });
});
