// The JWT verifier's limits and its upstream failures, rule by rule: clock tolerance and max age
// at their bounds, the issuer picked by `iss`, the remote key set fetched once per issuer, and
// the single-use key's exact form (stored in machine documents: changing it re-opens replays).
import { createHash } from 'node:crypto';
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JwtIssuerConfig } from '../config.ts';
import { AppError, UpstreamError } from '../errors.ts';
import { createJwtVerifier, JWT_CLOCK_TOLERANCE_SECONDS, JWT_MAX_AGE_SECONDS, JWT_MAX_LENGTH, jwtReplayKey } from './jwt.ts';

const A = 'https://a.test';
const B = 'https://b.test';
const NOW = new Date('2026-06-01T12:00:00Z');
const nowS = NOW.getTime() / 1000;
let keyA: CryptoKey;
let keyB: CryptoKey;
let jwkA: JWK;
let jwkB: JWK;
const cfg = (issuer: string, over: Partial<JwtIssuerConfig> = {}): JwtIssuerConfig => ({ issuer, jwksUri: null, jwks: { keys: [issuer === A ? jwkA : jwkB] }, audience: 'k3s-enroll', machineIdClaim: 'machine_id', algorithms: ['ES256'], ...over });

beforeAll(async () => {
  const a = await generateKeyPair('ES256');
  const b = await generateKeyPair('ES256');
  [keyA, keyB] = [a.privateKey, b.privateKey];
  jwkA = { ...(await exportJWK(a.publicKey)), kid: 'a', alg: 'ES256' };
  jwkB = { ...(await exportJWK(b.publicKey)), kid: 'b', alg: 'ES256' };
});

function sign(o: { iss?: string; iat?: number | null; exp?: number | null; sub?: string | null; claims?: Record<string, unknown>; key?: CryptoKey; kid?: string } = {}) {
  const iss = o.iss ?? A;
  const j = new SignJWT({ machine_id: 'edge-1', ...(o.claims ?? {}) }).setProtectedHeader({ alg: 'ES256', kid: o.kid ?? (iss === B ? 'b' : 'a') }).setIssuer(iss).setAudience('k3s-enroll');
  if (o.sub !== null) j.setSubject(o.sub ?? 'device-1');
  if (o.iat !== null) j.setIssuedAt(o.iat ?? nowS - 10);
  if (o.exp !== null) j.setExpirationTime(o.exp ?? nowS + 300);
  return j.sign(o.key ?? (iss === B ? keyB : keyA));
}
const failure = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(AppError);
  return e as AppError & { retryable?: boolean };
};

describe('jwt verifier limits', () => {
  it('the token is 1..16 KiB; the refusal says so', async () => {
    const v = createJwtVerifier([cfg(A)]);
    expect(v.method).toBe('jwt');
    const e = await failure(v.verify({ jwt: 'x'.repeat(JWT_MAX_LENGTH + 1) }, NOW));
    expect([e.code, e.message]).toEqual(['invalid_request', 'jwt must be a compact JWS of at most 16384 characters']);
    // At the bound it is read, and refused for what it is.
    expect((await failure(v.verify({ jwt: 'x'.repeat(JWT_MAX_LENGTH) }, NOW))).reason).toBe('jwt: not a decodable JWT');
  });

  it('exp and nbf get 30 s of clock tolerance; iat may be at most an hour old', async () => {
    const v = createJwtVerifier([cfg(A)]);
    await expect(v.verify({ jwt: await sign({ exp: nowS - JWT_CLOCK_TOLERANCE_SECONDS + 1 }) }, NOW)).resolves.toBeDefined();
    expect((await failure(v.verify({ jwt: await sign({ exp: nowS - JWT_CLOCK_TOLERANCE_SECONDS - 1 }) }, NOW))).reason).toMatch(/^jwt: ERR_JWT_EXPIRED: /);
    await expect(v.verify({ jwt: await sign({ iat: nowS - JWT_MAX_AGE_SECONDS + 1, exp: nowS + 600 }) }, NOW)).resolves.toBeDefined();
    expect((await failure(v.verify({ jwt: await sign({ iat: nowS - JWT_MAX_AGE_SECONDS - JWT_CLOCK_TOLERANCE_SECONDS - 1, exp: nowS + 600 }) }, NOW))).reason).toMatch(/^jwt: ERR_JWT_EXPIRED: .*iat/);
  });

  it('exp and iat are required', async () => {
    const v = createJwtVerifier([cfg(A)]);
    expect((await failure(v.verify({ jwt: await sign({ exp: null }) }, NOW))).reason).toMatch(/^jwt: ERR_JWT_CLAIM_VALIDATION_FAILED: .*"exp"/);
    expect((await failure(v.verify({ jwt: await sign({ iat: null }) }, NOW))).reason).toMatch(/^jwt: ERR_JWT_CLAIM_VALIDATION_FAILED: .*"iat"/);
  });

  it('the issuer is picked by iss and enforced with its own keys, audience and machine id claim', async () => {
    const v = createJwtVerifier([cfg(A), cfg(B, { machineIdClaim: 'device', audience: ['x', 'k3s-enroll'] })]);
    expect((await v.verify({ jwt: await sign({ iss: B, claims: { device: 'edge-b' } }) }, NOW)).machineId).toBe('edge-b');
    expect((await v.verify({ jwt: await sign({ iss: B, claims: { device: 'edge-b' } }) }, NOW)).proof).toMatchObject({ issuer: B });
    // B's claim name, A's key: refused.
    expect((await failure(v.verify({ jwt: await sign({ iss: B, key: keyA, kid: 'b', claims: { device: 'edge-b' } }) }, NOW))).reason).toMatch(/^jwt: ERR_JWS_SIGNATURE_VERIFICATION_FAILED/);
    expect((await failure(v.verify({ jwt: await sign({ iss: B }) }, NOW))).reason).toBe('jwt: claim device is not a machine id');
    const unknown = await failure(v.verify({ jwt: await sign({ iss: `https://${'c'.repeat(300)}` }) }, NOW));
    expect(unknown.reason).toBe(`jwt: issuer not configured: https://${'c'.repeat(192)}`);
    expect([unknown.code, unknown.message]).toEqual(['attestation_rejected', 'attestation rejected']);
  });

  it('a token without a subject has the empty subject (which no registration matches)', async () => {
    const ev = await createJwtVerifier([cfg(A)]).verify({ jwt: await sign({ sub: null }) }, NOW);
    expect((ev.proof as { subject: string }).subject).toBe('');
  });
});

describe('remote key sets', () => {
  const jwks = () => new Response(JSON.stringify({ keys: [jwkA] }), { headers: { 'content-type': 'application/json' } });

  it('are fetched from jwksUri once per issuer and reused', async () => {
    const urls: string[] = [];
    const v = createJwtVerifier([cfg(A, { jwks: null, jwksUri: 'https://a.test/jwks' })], {
      fetch: (async (url: string | URL) => {
        urls.push(String(url));
        return jwks();
      }) as typeof fetch,
    });
    await v.verify({ jwt: await sign() }, NOW);
    await v.verify({ jwt: await sign({ iat: nowS - 20 }) }, NOW);
    expect(urls).toEqual(['https://a.test/jwks']);
  });

  it('a network failure is a retryable upstream error naming the key set; an unanswered fetch times out the same way', async () => {
    const down = createJwtVerifier([cfg(A, { jwks: null, jwksUri: 'https://a.test/jwks' })], {
      fetch: (async () => {
        throw new Error('network unreachable');
      }) as typeof fetch,
    });
    const e = await failure(down.verify({ jwt: await sign() }, NOW));
    expect(e).toBeInstanceOf(UpstreamError);
    expect([e.message, e.reason, e.retryable]).toEqual(['the identity provider could not be reached', 'jwks https://a.test/jwks: network unreachable', true]);
    const invalid = createJwtVerifier([cfg(A, { jwks: null, jwksUri: 'https://a.test/jwks' })], { fetch: (async () => new Response('{"keys":7}', { headers: { 'content-type': 'application/json' } })) as typeof fetch });
    const i = await failure(invalid.verify({ jwt: await sign() }, NOW));
    expect([i.message, i.reason, i.retryable]).toEqual(['the identity provider served an invalid key set', 'jwks https://a.test/jwks: invalid', false]);
  });

  it('a key set fetch that never answers is a retryable timeout', async () => {
    // What fetch does when jose's AbortSignal.timeout(JWKS_TIMEOUT_MS) fires, without the wait.
    const hung = createJwtVerifier([cfg(A, { jwks: null, jwksUri: 'https://a.test/jwks' })], {
      fetch: (async () => {
        throw new DOMException('The operation was aborted due to timeout', 'TimeoutError');
      }) as typeof fetch,
    });
    const e = await failure(hung.verify({ jwt: await sign() }, NOW));
    expect([e.message, e.reason, e.retryable]).toEqual(['the identity provider did not answer', 'jwks https://a.test/jwks: timeout', true]);
  });

  it('an error that is neither from jose nor from the network is not disguised', async () => {
    const odd = createJwtVerifier([cfg(A, { jwks: null, jwksUri: 'https://a.test/jwks' })], {
      fetch: (async () => {
        throw new RangeError('something else');
      }) as typeof fetch,
    });
    const e = await odd.verify({ jwt: await sign() }, NOW).then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(RangeError);
  });
});

describe('jwtReplayKey', () => {
  const hex = (s: string | Uint8Array) => createHash('sha256').update(s).digest('hex');
  it('with a jti: SHA-256 of "jti:<issuer>:<jti>"', () => {
    expect(jwtReplayKey(A, 'h.e30.s', { jti: 'j-1' })).toBe(hex(`jti:${A}:j-1`));
  });
  it('without a jti (or an empty one): SHA-256 of "claims:<issuer>:" and the decoded payload bytes', () => {
    const payload = Buffer.from('{"a":1}');
    const token = `h.${payload.toString('base64url')}.s`;
    const want = hex(Buffer.concat([Buffer.from(`claims:${A}:`), payload]));
    expect(jwtReplayKey(A, token, {})).toBe(want);
    expect(jwtReplayKey(A, token, { jti: '' })).toBe(want);
    expect(jwtReplayKey(B, token, {})).not.toBe(want);
  });
});
