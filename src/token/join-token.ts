// k3s join tokens: `K10<ca hash>::<user>:<password>`, `K10<ca hash>::<id>.<secret>` and the short
// forms, parsed exactly as k3s's pkg/clientaccess/token.go parseToken. Formatting lives here too;
// the CA hash itself is computed in ca-hash.ts.
import { BOOTSTRAP_TOKEN_PATTERN } from './bootstrap-token.ts';
import { hashClusterCA, type HashClusterCAOptions } from './ca-hash.ts';
import { TokenError } from './token-error.ts';

export const TOKEN_PREFIX = 'K10';
export const CA_HASH_LENGTH = 64;

export interface JoinToken {
  /** The token's CA hash as written (length 0 or 64; k3s checks only the length here). */
  readonly caHash: string;
  readonly username: string;
  readonly password: string;
  readonly bootstrap: { readonly id: string; readonly secret: string } | null;
}

/** k3s parseToken, rule for rule (reference/k3s-token.md §1.2). Throws TokenError with k3s's message. */
export function parseJoinToken(input: unknown): JoinToken {
  if (typeof input !== 'string') throw new TokenError('token must be a string');
  if (input === '') throw new TokenError('token must not be empty');

  let token = input;
  if (!token.startsWith(TOKEN_PREFIX)) {
    // A bare bootstrap token gets an empty hash; anything else becomes a bare password.
    token = BOOTSTRAP_TOKEN_PATTERN.test(token) ? `${TOKEN_PREFIX}::${token}` : `${TOKEN_PREFIX}:::${token}`;
  }
  const rest = token.slice(TOKEN_PREFIX.length);

  let caHash = '';
  let creds = rest;
  const sep = rest.indexOf('::');
  if (sep >= 0) {
    caHash = rest.slice(0, sep);
    creds = rest.slice(sep + 2);
    if (caHash.length !== 0 && caHash.length !== CA_HASH_LENGTH) {
      throw new TokenError('invalid token CA hash length');
    }
  }

  const bootstrap = BOOTSTRAP_TOKEN_PATTERN.exec(creds);
  if (bootstrap) {
    return Object.freeze({
      caHash,
      username: '',
      password: '',
      bootstrap: Object.freeze({ id: bootstrap[1]!, secret: bootstrap[2]! }),
    });
  }
  const colon = creds.indexOf(':');
  if (colon < 0 || colon === creds.length - 1) throw new TokenError('invalid token format');
  return Object.freeze({ caHash, username: creds.slice(0, colon), password: creds.slice(colon + 1), bootstrap: null });
}

/**
 * `K10<hash>::<credentials>` (k3s FormatTokenBytes). `credentials` is `<id>.<secret>` or
 * `<user>:<password>`; empty credentials give `""` as in k3s.
 */
export async function formatJoinToken(
  caBundle: string | Uint8Array,
  credentials: string,
  options: HashClusterCAOptions = {},
): Promise<string> {
  if (typeof credentials !== 'string') throw new TypeError('credentials must be a string');
  if (credentials === '') return '';
  return formatJoinTokenWithHash(await hashClusterCA(caBundle, options), credentials);
}

/** Same as formatJoinToken when the hash is already known (configured CLUSTER_CA_HASH). */
export function formatJoinTokenWithHash(caHash: string, credentials: string): string {
  if (!/^[0-9a-f]{64}$/.test(caHash)) throw new TypeError('caHash must be 64 lowercase hex characters');
  if (credentials === '') return '';
  return `${TOKEN_PREFIX}${caHash}::${credentials}`;
}
