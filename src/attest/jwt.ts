// Identity tokens from configured issuers (JWT_ISSUERS), verified with jose: issuer picked from
// the unverified `iss` then enforced, explicit asymmetric algorithm allow-list, audience, exp/nbf,
// iat max age, clock tolerance, remote JWKS cached per issuer with a timeout and injected fetch.
// It does not decide replay: the machine store records the token's id until `exp`. That id is
// the `jti`, or else a hash of the verified claims, never of the token string: base64url is
// lenient (unused trailing bits, whitespace) and ECDSA signatures are malleable ((r, s) and
// (r, n − s) both verify), so many strings carry one set of signed claims.
import { sha256 } from '@noble/hashes/sha2.js';
import { bytesToHex } from '@noble/hashes/utils.js';
import { base64url, createLocalJWKSet, createRemoteJWKSet, customFetch, decodeJwt, errors, jwtVerify, type JWTPayload, type JSONWebKeySet } from 'jose';
import type { JwtIssuerConfig } from '../config.ts';
import { UpstreamError } from '../errors.ts';
import { AppError } from '../errors.ts';
import { MACHINE_ID_PATTERN, rejected, type EvidenceVerifier } from './evidence.ts';

export const JWT_MAX_LENGTH = 16 * 1024;
export const JWT_CLOCK_TOLERANCE_SECONDS = 30;
/** An identity token older than this (by `iat`) is refused even if `exp` is far away. */
export const JWT_MAX_AGE_SECONDS = 3600;
export const JWKS_TIMEOUT_MS = 5_000;

type KeySet = ReturnType<typeof createRemoteJWKSet> | ReturnType<typeof createLocalJWKSet>;

export function createJwtVerifier(issuers: readonly JwtIssuerConfig[], options: { fetch?: typeof fetch } = {}): EvidenceVerifier {
  const keySets = new Map<string, KeySet>();
  const keySetFor = (cfg: JwtIssuerConfig): KeySet => {
    let ks = keySets.get(cfg.issuer);
    if (!ks) {
      ks = cfg.jwks
        ? createLocalJWKSet(cfg.jwks as JSONWebKeySet)
        : createRemoteJWKSet(new URL(cfg.jwksUri!), {
            timeoutDuration: JWKS_TIMEOUT_MS,
            cooldownDuration: 30_000,
            cacheMaxAge: 10 * 60_000,
            ...(options.fetch ? { [customFetch]: options.fetch } : {}),
          });
      keySets.set(cfg.issuer, ks);
    }
    return ks;
  };

  return {
    method: 'jwt',
    async verify(body, now) {
      const token = body.jwt;
      if (typeof token !== 'string' || token.length === 0 || token.length > JWT_MAX_LENGTH) throw new AppError('invalid_request', `jwt must be a compact JWS of at most ${JWT_MAX_LENGTH} characters`);
      let unverified: JWTPayload;
      try {
        unverified = decodeJwt(token);
      } catch (err) {
        throw rejected('jwt: not a decodable JWT', err);
      }
      const cfg = issuers.find((i) => i.issuer === unverified.iss);
      if (!cfg) throw rejected(`jwt: issuer not configured: ${String(unverified.iss).slice(0, 200)}`);
      let payload: JWTPayload;
      try {
        ({ payload } = await jwtVerify(token, keySetFor(cfg), {
          issuer: cfg.issuer,
          audience: cfg.audience as string | string[],
          algorithms: [...cfg.algorithms],
          clockTolerance: JWT_CLOCK_TOLERANCE_SECONDS,
          maxTokenAge: JWT_MAX_AGE_SECONDS,
          requiredClaims: ['exp', 'iat'],
          currentDate: now,
        }));
      } catch (err) {
        if (err instanceof errors.JWKSTimeout) throw new UpstreamError('the identity provider did not answer', { retryable: true, reason: `jwks ${cfg.jwksUri}: timeout`, cause: err });
        if (err instanceof errors.JOSEError && err.code === 'ERR_JWKS_INVALID') throw new UpstreamError('the identity provider served an invalid key set', { retryable: false, reason: `jwks ${cfg.jwksUri}: invalid`, cause: err });
        if (err instanceof errors.JOSEError) throw rejected(`jwt: ${err.code}: ${err.message}`, err);
        if (err instanceof TypeError || (err instanceof Error && /fetch|network/i.test(err.message))) {
          throw new UpstreamError('the identity provider could not be reached', { retryable: true, reason: `jwks ${cfg.jwksUri}: ${err.message}`, cause: err });
        }
        throw err;
      }
      const machineId = payload[cfg.machineIdClaim];
      if (typeof machineId !== 'string' || !MACHINE_ID_PATTERN.test(machineId)) throw rejected(`jwt: claim ${cfg.machineIdClaim} is not a machine id`);
      const jtiSha256 = jwtReplayKey(cfg.issuer, token, payload);
      const exp = (payload.exp as number) * 1000 + JWT_CLOCK_TOLERANCE_SECONDS * 1000;
      return {
        machineId,
        proof: { method: 'jwt', jtiSha256, exp, issuer: cfg.issuer, subject: payload.sub ?? '' },
        usedJwt: { jtiSha256, exp },
      };
    },
  };
}

/**
 * The single-use key of a verified JWT: its `jti` under its issuer, or the SHA-256 of the signed
 * payload bytes (decoded, so every encoding of one token and every signature over it collide).
 */
export function jwtReplayKey(issuer: string, verifiedToken: string, payload: JWTPayload): string {
  if (typeof payload.jti === 'string' && payload.jti !== '') return bytesToHex(sha256(new TextEncoder().encode(`jti:${issuer}:${payload.jti}`)));
  const claims = base64url.decode(verifiedToken.split('.')[1]!);
  const prefix = new TextEncoder().encode(`claims:${issuer}:`);
  const input = new Uint8Array(prefix.length + claims.length);
  input.set(prefix);
  input.set(claims, prefix.length);
  return bytesToHex(sha256(input));
}
