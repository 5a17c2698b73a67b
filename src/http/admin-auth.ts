// Admin authentication: `Authorization: Bearer <ADMIN_TOKEN>` (compared as SHA-256 digests in
// constant time) or a Cloudflare Access JWT in `Cf-Access-Jwt-Assertion` (jose, team JWKS, AUD).
// Sets `actor` for the audit log; never logs the presented credential.
import { sha256 } from '@noble/hashes/sha2.js';
import type { Context, MiddlewareHandler } from 'hono';
import { createRemoteJWKSet, customFetch, jwtVerify } from 'jose';
import type { AppEnv } from '../app.ts';
import { AppError } from '../errors.ts';

export function constantTimeEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i]! ^ b[i]!;
  return diff === 0;
}

/**
 * Verifies a Cloudflare Access JWT (header `Cf-Access-Jwt-Assertion`, or the `CF_Authorization`
 * cookie for the dashboard) against the team's JWKS and AUD; returns the audit actor.
 */
export function createAccessVerifier(options: { fetch?: typeof fetch } = {}): (c: Context<AppEnv>, assertion: string) => Promise<string> {
  let jwks: { domain: string; set: ReturnType<typeof createRemoteJWKSet> } | null = null;
  return async (c, assertion) => {
    const config = c.get('config');
    if (!config.access) throw new AppError('unauthorized', 'admin credentials required', { reason: 'access jwt given but no ACCESS_TEAM_DOMAIN configured' });
    if (!jwks || jwks.domain !== config.access.teamDomain) {
      jwks = {
        domain: config.access.teamDomain,
        set: createRemoteJWKSet(new URL(`https://${config.access.teamDomain}/cdn-cgi/access/certs`), { timeoutDuration: 5000, ...(options.fetch ? { [customFetch]: options.fetch } : {}) }),
      };
    }
    try {
      const { payload } = await jwtVerify(assertion, jwks.set, {
        issuer: `https://${config.access.teamDomain}`,
        audience: config.access.aud,
        algorithms: ['RS256'],
        clockTolerance: 30,
        requiredClaims: ['exp'],
        currentDate: c.get('deps').now?.() ?? new Date(),
      });
      return `access:${typeof payload.email === 'string' ? payload.email : (payload.sub ?? 'unknown')}`;
    } catch (err) {
      throw new AppError('unauthorized', 'invalid admin credentials', { reason: `access jwt: ${err instanceof Error ? err.message : 'invalid'}` });
    }
  };
}

/** `ADMIN_TOKEN` as presented, compared as SHA-256 digests in constant time. */
export function isAdminToken(config: { adminTokenSha256: Uint8Array | null }, presented: string): boolean {
  return config.adminTokenSha256 !== null && constantTimeEqual(sha256(new TextEncoder().encode(presented)), config.adminTokenSha256);
}

export function createAdminAuth(options: { fetch?: typeof fetch } = {}): MiddlewareHandler<AppEnv> {
  const verifyAccess = createAccessVerifier(options);
  return async (c, next) => {
    const config = c.get('config');
    const header = c.req.header('authorization') ?? '';
    const bearer = /^Bearer ([^\s]+)$/i.exec(header)?.[1];
    if (bearer && config.adminTokenSha256) {
      if (!isAdminToken(config, bearer)) throw new AppError('unauthorized', 'invalid admin credentials', { reason: 'admin bearer mismatch' });
      c.set('actor', 'admin-token');
      return next();
    }
    const assertion = c.req.header('cf-access-jwt-assertion');
    if (assertion && config.access) {
      c.set('actor', await verifyAccess(c, assertion));
      return next();
    }
    throw new AppError('unauthorized', 'admin credentials required', { reason: bearer ? 'bearer given but no ADMIN_TOKEN configured' : 'no credentials' });
  };
}
