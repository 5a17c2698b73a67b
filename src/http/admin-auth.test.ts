// Admin authentication in-process: the ADMIN_TOKEN bearer, and Cloudflare Access JWTs verified
// with jose against the team's JWKS (served here through the injected fetch: same bytes a real
// team domain serves, real signatures).
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { createApp, type Services } from '../app.ts';
import { parseConfig } from '../config.ts';
import { createMemoryAuditLog, createMemoryMachineIndex, createMemoryMachineStore, createMemoryRateLimiter, createMemoryWebhookEventLog } from '../store/memory.ts';
import { silentLogger } from './logger.ts';

const TEAM = 'myteam.cloudflareaccess.com';
const AUD = 'access-aud-tag-123';
let sign: (claims: Record<string, unknown>, opts?: { aud?: string; iss?: string; exp?: number; key?: 'good' | 'rogue' }) => Promise<string>;
let jwksCalls = 0;
let app: ReturnType<typeof createApp>;

beforeAll(async () => {
  const good = await generateKeyPair('RS256', { extractable: true });
  const rogue = await generateKeyPair('RS256', { extractable: true });
  const jwks = { keys: [{ ...(await exportJWK(good.publicKey)), kid: 'access-1', alg: 'RS256' }] };
  sign = (claims, o = {}) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'RS256', kid: 'access-1' })
      .setIssuer(o.iss ?? `https://${TEAM}`)
      .setAudience(o.aud ?? AUD)
      .setIssuedAt()
      .setExpirationTime(o.exp ?? Math.floor(Date.now() / 1000) + 300)
      .sign(o.key === 'rogue' ? rogue.privateKey : good.privateKey);
  const fetchJwks = (async (input: RequestInfo | URL) => {
    jwksCalls++;
    const url = String(input instanceof Request ? input.url : input);
    if (url !== `https://${TEAM}/cdn-cgi/access/certs`) return new Response('not found', { status: 404 });
    return new Response(JSON.stringify(jwks), { headers: { 'content-type': 'application/json' } });
  }) as typeof fetch;
  const config = parseConfig({ K3S_SERVER_URL: 'https://k3s:6443', CLUSTER_API_URL: 'https://api', CLUSTER_SA_TOKEN: 'sa', CLUSTER_CA_HASH: 'a'.repeat(64), ADMIN_TOKEN: 'admin-secret-0123456789', ACCESS_TEAM_DOMAIN: TEAM, ACCESS_AUD: AUD });
  const services = {
    machines: createMemoryMachineStore(),
    index: createMemoryMachineIndex(),
    audit: createMemoryAuditLog(),
    webhookEvents: createMemoryWebhookEventLog(),
    ipLimiter: createMemoryRateLimiter(60, 60_000),
    verifiers: {},
    ekTrust: { roots: [], intermediates: [] },
  } as unknown as Services;
  app = createApp({ loadConfig: () => config, services: () => services, logger: silentLogger, fetch: fetchJwks });
});

const list = (headers: Record<string, string>) => app.request('/v1/machines', { headers });

describe('admin auth', () => {
  it('accepts the admin token and refuses a near miss', async () => {
    expect((await list({ authorization: 'Bearer admin-secret-0123456789' })).status).toBe(200);
    expect((await list({ authorization: 'Bearer admin-secret-012345678' })).status).toBe(401);
    expect((await list({ authorization: 'Bearer admin-secret-01234567890' })).status).toBe(401);
  });

  it('accepts a Cloudflare Access JWT for the team and AUD', async () => {
    const res = await list({ 'cf-access-jwt-assertion': await sign({ email: 'ops@example.com' }) });
    expect(res.status).toBe(200);
    expect(jwksCalls).toBeGreaterThan(0);
  });

  it.each([
    ['another audience', { aud: 'other-aud' }],
    ['another issuer', { iss: 'https://evil.cloudflareaccess.com' }],
    ['an expired token', { exp: Math.floor(Date.now() / 1000) - 120 }],
    ['a key not in the team JWKS', { key: 'rogue' as const }],
  ])('refuses an Access JWT with %s (401 unauthorized)', async (_n, o) => {
    const res = await list({ 'cf-access-jwt-assertion': await sign({ email: 'ops@example.com' }, o) });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ code: 'unauthorized' });
  });

  it('refuses garbage in the Access header', async () => {
    expect((await list({ 'cf-access-jwt-assertion': 'not-a-jwt' })).status).toBe(401);
  });
});
