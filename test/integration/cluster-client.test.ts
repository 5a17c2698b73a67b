// src/cluster against the dev cluster over real HTTPS from inside workerd: what it reports as
// created exists and logs in; under faults it never reports a token that is not there.
import { afterEach, describe, expect, it } from 'vitest';
import { createClusterClient } from '../../src/cluster/index.ts';
import { hashClusterCA } from '../../src/token/index.ts';
import { bootstrapSecrets, cacerts, clearFaults, cluster, fault, setClockOffset, whoAmI } from '../support/workers/dev-cluster.ts';

const client = (over: Partial<Parameters<typeof createClusterClient>[0]> = {}) =>
  createClusterClient({
    baseUrl: cluster.url,
    bearer: cluster.serviceAccountToken,
    fetch: (i, init) => fetch(i, init),
    now: () => new Date(),
    caPem: null,
    caHash: null,
    caHashMode: 'pem',
    sleep: async () => {},
    timeoutMs: 2_000,
    ...over,
  });
const exists = async (id: string) => (await bootstrapSecrets()).some((s) => s.metadata.name === `bootstrap-token-${id}`);
const SECRETS = '/api/v1/namespaces/kube-system/secrets';

afterEach(async () => {
  await clearFaults();
  await setClockOffset(0);
});

describe('cluster client against the dev cluster', () => {
  it('mints a token that authenticates with the configured groups, lists it, deletes it', async () => {
    const c = client();
    const minted = await c.tokens.mint({ ttlSeconds: 600, groups: ['system:bootstrappers:k3s:default-node-token'], usages: ['authentication'], description: 'test', labels: { 'k3s-enroll.io/machine': 'cc-1' } });
    expect(minted.uid).not.toBe('');
    const who = await whoAmI(minted.token.token);
    expect(who).toEqual({ status: 201, username: `system:bootstrap:${minted.token.id}`, groups: ['system:bootstrappers', 'system:bootstrappers:k3s:default-node-token', 'system:authenticated'] });
    const listed = await c.tokens.list('k3s-enroll.io/machine=cc-1');
    expect(listed.map((t) => t.id)).toContain(minted.token.id);
    expect(listed.find((t) => t.id === minted.token.id)).toMatchObject({ description: 'test', usages: ['authentication'], groups: ['system:bootstrappers:k3s:default-node-token'] });
    expect(await c.tokens.remove(minted.token.id)).toBe(true);
    expect(await c.tokens.remove(minted.token.id)).toBe(false); // already gone = success
    expect((await whoAmI(minted.token.token)).status).toBe(401);
  });

  it('reads the CA from kube-root-ca.crt and hashes it as k3s does (= sha256 of /cacerts)', async () => {
    const expected = [...new Uint8Array(await crypto.subtle.digest('SHA-256', await cacerts()))].map((b) => b.toString(16).padStart(2, '0')).join('');
    expect(await client().ca.caHash()).toBe(expected);
    expect(await hashClusterCA(cluster.caPem)).toBe(expected);
  });

  it('computes expiration from the API server clock, not ours', async () => {
    await setClockOffset(3600); // the cluster runs an hour ahead
    const ourNow = Date.now();
    const minted = await client().tokens.mint({ ttlSeconds: 600 });
    const exp = minted.expiresAt!.getTime();
    expect(exp).toBeGreaterThan(ourNow + 3600_000 + 590_000);
    expect(exp).toBeLessThan(ourNow + 3600_000 + 610_000);
    expect((await whoAmI(minted.token.token)).status).toBe(201);
  });

  it('a skewed-behind edge clock still mints live tokens', async () => {
    const c = client({ now: () => new Date(Date.now() - 3 * 3600_000) }); // our clock 3h slow
    const minted = await c.tokens.mint({ ttlSeconds: 120 });
    expect((await whoAmI(minted.token.token)).status).toBe(201);
  });

  it('retries a 409 AlreadyExists with a fresh id', async () => {
    await fault({ method: 'POST', pathPrefix: SECRETS, mode: 'conflict', times: 1 });
    const minted = await client().tokens.mint({ ttlSeconds: 60 });
    expect(await exists(minted.token.id)).toBe(true);
  });

  it('a caller-chosen token that already exists is a conflict, not a retry', async () => {
    const c = client();
    const first = await c.tokens.mint({ ttlSeconds: 60 });
    await expect(c.tokens.mint({ ttlSeconds: 60, token: first.token })).rejects.toMatchObject({ code: 'conflict' });
  });

  it.each([
    ['500', { mode: 'status' as const, status: 500 }],
    ['a dropped connection, every time', { mode: 'drop' as const, times: 3 }],
    ['a hang (timeout)', { mode: 'hang' as const }],
  ])('create answered by %s → retryable error, and no Secret left behind', async (_n, f) => {
    const before = (await bootstrapSecrets()).length;
    await fault({ method: 'POST', pathPrefix: SECRETS, times: 1, ...f });
    const err = await client().tokens.mint({ ttlSeconds: 60 }).catch((e) => e);
    expect(err).toMatchObject({ code: 'upstream_unavailable', retryable: true });
    expect((await bootstrapSecrets()).length).toBe(before);
  });

  it('a create dropped before it landed (read-back 404) is sent again in the same call', async () => {
    await fault({ method: 'POST', pathPrefix: SECRETS, mode: 'drop', times: 1 });
    const minted = await client().tokens.mint({ ttlSeconds: 60 });
    expect((await whoAmI(minted.token.token)).status).toBe(201);
  });

  it('a create that landed but answered 500 is confirmed by reading it back', async () => {
    await fault({ method: 'POST', pathPrefix: SECRETS, mode: 'status-after-write', status: 500, times: 1 });
    const minted = await client().tokens.mint({ ttlSeconds: 60 });
    expect((await whoAmI(minted.token.token)).status).toBe(201);
  });

  it('an unknown bearer → 502 upstream_error; an under-privileged one → 502 with a 403 reason', async () => {
    const a = await client({ bearer: 'not-a-real-token' }).tokens.mint({ ttlSeconds: 60 }).catch((e) => e);
    expect(a).toMatchObject({ code: 'upstream_error', status: 401 });
    const b = await client({ bearer: cluster.readonlyServiceAccountToken }).tokens.mint({ ttlSeconds: 60 }).catch((e) => e);
    expect(b).toMatchObject({ code: 'upstream_error', status: 403 });
  });

  it('a list answered 500 once is retried (idempotent) and succeeds', async () => {
    await fault({ method: 'GET', pathPrefix: SECRETS, mode: 'status', status: 500, times: 1 });
    await expect(client().tokens.list()).resolves.toBeInstanceOf(Array);
  });

  it('an unreachable API → 503 upstream_unavailable', async () => {
    const err = await client({ baseUrl: 'https://127.0.0.1:1' }).tokens.list().catch((e) => e);
    expect(err).toMatchObject({ code: 'upstream_unavailable' });
  });

  it('rotates the server token through the supervisor as k3s token rotate does', async () => {
    const c = client();
    await c.rotateServerToken({ token: cluster.serverToken, newToken: 'rotated-password-1' });
    await expect(c.rotateServerToken({ token: cluster.serverToken })).rejects.toMatchObject({ code: 'forbidden' });
    await c.rotateServerToken({ token: 'rotated-password-1', newToken: cluster.serverToken.split('::server:')[1]! });
    await expect(c.rotateServerToken({ token: 'abcdef.0123456789abcdef' })).rejects.toMatchObject({ code: 'invalid_token' });
  });
});
