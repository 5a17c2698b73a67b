// Kubernetes bootstrap tokens `<id>.<secret>`: generation with rejection sampling and parsing.
// It does not build Secrets (bootstrap-secret.ts) nor the k3s K10 form (join-token.ts).
import { TokenError } from './token-error.ts';

/** `k8s.io/cluster-bootstrap` BootstrapTokenPattern; JS `^`/`$` without `m` = Go `\A`/`\z`. */
export const BOOTSTRAP_TOKEN_PATTERN = /^([a-z0-9]{6})\.([a-z0-9]{16})$/;
export const BOOTSTRAP_TOKEN_ID_PATTERN = /^[a-z0-9]{6}$/;
export const TOKEN_ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
export const TOKEN_ID_LENGTH = 6;
export const TOKEN_SECRET_LENGTH = 16;
/** Bytes at or above this are discarded: 252 = 7 * 36, the largest multiple of 36 below 256. */
const REJECT_AT_OR_ABOVE = 256 - (256 % TOKEN_ALPHABET.length);

export interface BootstrapToken {
  readonly id: string;
  readonly secret: string;
  /** `<id>.<secret>`. A credential: log `id` only. */
  readonly token: string;
}

/** Fills a buffer with cryptographically strong random bytes. */
export type RandomFill = (buffer: Uint8Array<ArrayBuffer>) => Uint8Array;

export const defaultRandomFill: RandomFill = (buffer) => {
  crypto.getRandomValues(buffer);
  return buffer;
};

/**
 * `count` characters of `[a-z0-9]`, each uniform: bytes >= 252 are rejected, the rest taken mod 36
 * (the rule of cluster-bootstrap's helpers.go). Exported for the uniformity test.
 */
export function randomAlphabetString(count: number, fill: RandomFill = defaultRandomFill): string {
  if (!Number.isInteger(count) || count < 0) throw new TypeError('count must be a non-negative integer');
  let out = '';
  // 64 bytes per draw: with 252/256 acceptance one draw almost always suffices for a token.
  const buffer = new Uint8Array(64);
  while (out.length < count) {
    fill(buffer);
    for (const byte of buffer) {
      if (byte >= REJECT_AT_OR_ABOVE) continue;
      out += TOKEN_ALPHABET[byte % TOKEN_ALPHABET.length];
      if (out.length === count) break;
    }
  }
  return out;
}

export function generateBootstrapToken(fill: RandomFill = defaultRandomFill): BootstrapToken {
  const id = randomAlphabetString(TOKEN_ID_LENGTH, fill);
  const secret = randomAlphabetString(TOKEN_SECRET_LENGTH, fill);
  return Object.freeze({ id, secret, token: `${id}.${secret}` });
}

/** Parses `<id>.<secret>` exactly as the apiserver's authenticator matches a bearer. */
export function parseBootstrapToken(input: unknown): BootstrapToken {
  if (typeof input !== 'string') throw new TokenError('bootstrap token must be a string');
  const m = BOOTSTRAP_TOKEN_PATTERN.exec(input);
  if (!m) {
    throw new TokenError(
      `the bootstrap token was not of the form "\\\\A([a-z0-9]{6})\\\\.([a-z0-9]{16})\\\\z"`,
    );
  }
  return Object.freeze({ id: m[1]!, secret: m[2]!, token: input });
}

/** True for a 6-char token id. */
export function isBootstrapTokenId(input: unknown): input is string {
  return typeof input === 'string' && BOOTSTRAP_TOKEN_ID_PATTERN.test(input);
}
