// The JWT verifier: which tokens verify, what each rejection says, and the single-use key (one
// set of signed claims → one key, however the token or its signature is encoded).
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JwtIssuerConfig } from '../config.ts';
import { AppError, UpstreamError } from '../errors.ts';
import type { EvidenceVerifier } from './evidence.ts';
import { createJwtVerifier, JWT_CLOCK_TOLERANCE_SECONDS, JWT_MAX_LENGTH } from './jwt.ts';

const ISSUER = 'https://idp.test';
const NOW = new Date('2026-06-01T12:00:00Z');
const nowS = Math.floor(NOW.getTime() / 1000);
const B64U = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';

let keys: Record<'rs' | 'es' | 'rogue', CryptoKey>;
let verifier: EvidenceVerifier;

const cfg = (over: Partial<JwtIssuerConfig> = {}): JwtIssuerConfig => ({ issuer: ISSUER, jwksUri: null, jwks: null, audience: 'k3s-enroll', machineIdClaim: 'machine_id', algorithms: ['RS256', 'ES256'], ...over });

beforeAll(async () => {
  const rs = await generateKeyPair('RS256');
  const es = await generateKeyPair('ES256');
  const rogue = await generateKeyPair('RS256');
  keys = { rs: rs.privateKey, es: es.privateKey, rogue: rogue.privateKey };
  const pub = async (k: CryptoKey, kid: string, alg: string): Promise<JWK> => ({ ...(await exportJWK(k)), kid, alg });
  verifier = createJwtVerifier([cfg({ jwks: { keys: [await pub(rs.publicKey, 'rs', 'RS256'), await pub(es.publicKey, 'es', 'ES256')] } })]);
});

async function sign(over: { key?: 'rs' | 'es' | 'rogue'; claims?: Record<string, unknown>; iss?: string; aud?: string; iat?: number; exp?: number; jti?: string | null; sub?: string } = {}) {
  const key = over.key ?? 'rs';
  const alg = key === 'es' ? 'ES256' : 'RS256';
  const j = new SignJWT({ machine_id: 'edge-1', ...(over.claims ?? {}) })
    .setProtectedHeader({ alg, kid: key === 'rogue' ? 'rs' : key })
    .setIssuer(over.iss ?? ISSUER)
    .setAudience(over.aud ?? 'k3s-enroll')
    .setSubject(over.sub ?? 'device-1')
    .setIssuedAt(over.iat ?? nowS - 10)
    .setExpirationTime(over.exp ?? nowS + 300);
  if (over.jti !== null && over.jti !== undefined) j.setJti(over.jti);
  return j.sign(keys[key]);
}

const reason = async (p: Promise<unknown>) => {
  const e = await p.catch((err: unknown) => err);
  expect(e).toBeInstanceOf(AppError);
  return { code: (e as AppError).code, reason: (e as AppError).reason };
};

describe('createJwtVerifier', () => {
  it('a valid token gives the machine id, issuer, subject and an exp with the clock tolerance', async () => {
    const ev = await verifier.verify({ method: 'jwt', jwt: await sign() }, NOW);
    expect(ev.machineId).toBe('edge-1');
    expect(ev.proof).toMatchObject({ method: 'jwt', issuer: ISSUER, subject: 'device-1', exp: (nowS + 300 + JWT_CLOCK_TOLERANCE_SECONDS) * 1000 });
    expect(ev.usedJwt).toEqual({ jtiSha256: (ev.proof as { jtiSha256: string }).jtiSha256, exp: (nowS + 300 + JWT_CLOCK_TOLERANCE_SECONDS) * 1000 });
    expect((ev.proof as { jtiSha256: string }).jtiSha256).toMatch(/^[0-9a-f]{64}$/);
  });

  it('an ES256 token verifies too', async () => {
    expect((await verifier.verify({ jwt: await sign({ key: 'es' }) }, NOW)).machineId).toBe('edge-1');
  });

  it.each([
    ['not a string', 42],
    ['empty', ''],
    ['oversized', 'a'.repeat(JWT_MAX_LENGTH + 1)],
  ])('jwt %s → invalid_request', async (_n, jwt) => {
    expect((await reason(verifier.verify({ jwt }, NOW))).code).toBe('invalid_request');
  });

  it('rejections say attestation_rejected, with the precise reason kept for the audit', async () => {
    const cases: Array<[Promise<string> | string, RegExp]> = [
      ['not.a.jwt', /not a decodable JWT/],
      [sign({ iss: 'https://other.test' }), /issuer not configured/],
      [sign({ key: 'rogue' }), /ERR_JWS_SIGNATURE_VERIFICATION_FAILED/],
      [sign({ aud: 'someone-else' }), /ERR_JWT_CLAIM_VALIDATION_FAILED/],
      [sign({ exp: nowS - 120, iat: nowS - 600 }), /ERR_JWT_EXPIRED/],
      [sign({ iat: nowS - 7200, exp: nowS + 600 }), /ERR_JWT_EXPIRED|iat/],
      [sign({ claims: { machine_id: 'Not_A_Machine' } }), /claim machine_id is not a machine id/],
      [sign({ claims: { machine_id: 7 } }), /claim machine_id is not a machine id/],
    ];
    for (const [jwt, why] of cases) {
      const r = await reason(verifier.verify({ jwt: await jwt }, NOW));
      expect(r.code).toBe('attestation_rejected');
      expect(r.reason).toMatch(why);
    }
  });

  it('alg none and HS256 are refused', async () => {
    const b64u = (s: string) => Buffer.from(s).toString('base64url');
    const payload = b64u(JSON.stringify({ iss: ISSUER, aud: 'k3s-enroll', machine_id: 'edge-1', iat: nowS, exp: nowS + 60 }));
    for (const alg of ['none', 'HS256']) {
      const r = await reason(verifier.verify({ jwt: `${b64u(JSON.stringify({ alg, kid: 'rs' }))}.${payload}.${alg === 'none' ? '' : 'c2ln'}` }, NOW));
      expect(r.code).toBe('attestation_rejected');
    }
  });

  it('a jti keys single use by issuer and jti: two tokens with one jti share a key, other jtis do not', async () => {
    const key = async (jwt: string) => ((await verifier.verify({ jwt }, NOW)).proof as { jtiSha256: string }).jtiSha256;
    const a = await key(await sign({ jti: 'j-1' }));
    expect(await key(await sign({ jti: 'j-1', iat: nowS - 20 }))).toBe(a);
    expect(await key(await sign({ jti: 'j-2' }))).not.toBe(a);
  });

  it('without a jti, different claims give different keys', async () => {
    const key = async (jwt: string) => ((await verifier.verify({ jwt }, NOW)).proof as { jtiSha256: string }).jtiSha256;
    expect(await key(await sign({ iat: nowS - 10 }))).not.toBe(await key(await sign({ iat: nowS - 11 })));
  });

  describe('one set of signed claims has one single-use key, however it is encoded (no jti)', () => {
    const keyOf = async (jwt: string) => ((await verifier.verify({ jwt }, NOW)).proof as { jtiSha256: string }).jtiSha256;

    async function encodings(jwt: string): Promise<string[]> {
      const [h, p, s] = jwt.split('.') as [string, string, string];
      const out = new Set<string>();
      // Unused trailing bits of the signature's last base64url character.
      for (const c of B64U) out.add(`${h}.${p}.${s.slice(0, -1)}${c}`);
      // Whitespace, padding and the standard alphabet, where the decoder tolerates them.
      for (const v of [`${s.slice(0, 8)} ${s.slice(8)}`, `${s.slice(0, 8)}\n${s.slice(8)}`, `${s}=`, `${s} `, `${s}\n`, s.replace(/-/g, '+').replace(/_/g, '/')]) out.add(`${h}.${p}.${v}`);
      out.delete(jwt);
      return [...out];
    }

    it('RS256: every re-encoding that verifies has the original key', async () => {
      const jwt = await sign({ jti: null });
      const original = await keyOf(jwt);
      let verified = 0;
      for (const v of await encodings(jwt)) {
        const k = await keyOf(v).catch(() => null);
        if (k === null) continue;
        verified++;
        expect(k, JSON.stringify(v.slice(-8))).toBe(original);
      }
      // The decoder really is lenient: the test exercises re-encodings, not only refusals.
      expect(verified).toBeGreaterThan(3);
    });

    it('ES256: re-encodings and the malleated signature (r, n − s) have the original key', async () => {
      const jwt = await sign({ key: 'es', jti: null });
      const original = await keyOf(jwt);
      const [h, p, s] = jwt.split('.') as [string, string, string];
      const sig = Buffer.from(s, 'base64url');
      const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n; // P-256 order (SEC 2)
      const sv = BigInt(`0x${sig.subarray(32).toString('hex')}`);
      const malleated = Buffer.concat([sig.subarray(0, 32), Buffer.from((n - sv).toString(16).padStart(64, '0'), 'hex')]).toString('base64url');
      const variants = [...(await encodings(jwt)), `${h}.${p}.${malleated}`];
      let verified = 0;
      for (const v of variants) {
        const k = await keyOf(v).catch(() => null);
        if (k === null) continue;
        verified++;
        expect(k).toBe(original);
      }
      expect(verified).toBeGreaterThan(3);
    });
  });

  it('a JWKS that cannot be fetched is an upstream error, not a rejection', async () => {
    const remote = createJwtVerifier([cfg({ jwksUri: 'https://idp.test/jwks' })], {
      fetch: async () => {
        throw new TypeError('fetch failed');
      },
    });
    const e = await remote.verify({ jwt: await sign() }, NOW).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(UpstreamError);
  });

  it('an invalid JWKS is upstream_error', async () => {
    const remote = createJwtVerifier([cfg({ jwksUri: 'https://idp.test/jwks' })], { fetch: async () => new Response('{"nope":1}', { headers: { 'content-type': 'application/json' } }) });
    const e = await remote.verify({ jwt: await sign() }, NOW).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(UpstreamError);
    expect((e as UpstreamError).code).toBe('upstream_error');
  });
});
