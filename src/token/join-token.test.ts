import { describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/join-token.json' with { type: 'json' };
import caVectors from '../../test/vectors/ca-hash.json' with { type: 'json' };
import { MALFORMED_STRINGS, NON_STRINGS } from '../../test/support/malformed.ts';
import { formatJoinToken, formatJoinTokenWithHash, parseJoinToken, TokenError } from './index.ts';

describe('parseJoinToken (k3s pkg/clientaccess parseToken)', () => {
  it.each(vectors.valid)('parses $input', (v) => {
    const t = parseJoinToken(v.input);
    expect({ caHash: t.caHash, username: t.username, password: t.password, bootstrap: t.bootstrap }).toEqual({
      caHash: v.caHash,
      username: v.username,
      password: v.password,
      bootstrap: v.bootstrap,
    });
  });

  it.each(vectors.invalid)('rejects "$input" with "$error"', (v) => {
    expect(() => parseJoinToken(v.input)).toThrow(new TokenError(v.error));
    try {
      parseJoinToken(v.input);
    } catch (err) {
      expect((err as TokenError).code).toBe('invalid_token');
    }
  });

  it.each(vectors.usernamePasswordNotOk)('gives no username/password for %s', (input) => {
    let ok = true;
    try {
      ok = parseJoinToken(input).bootstrap === null;
    } catch {
      ok = false;
    }
    expect(ok).toBe(false);
  });

  // k3s accepts anything that is not K10-prefixed as a bare password, so the matrix checks that
  // a malformed string never parses as a bootstrap token or a hash-pinned token.
  it.each(MALFORMED_STRINGS)('never reads %s as a bootstrap token', (_name, input) => {
    let result: ReturnType<typeof parseJoinToken> | null = null;
    try {
      result = parseJoinToken(input);
    } catch (err) {
      expect(err).toBeInstanceOf(TokenError);
    }
    if (result) {
      expect(result.bootstrap).toBeNull();
      expect(result.caHash).toBe('');
      expect(result.password).toBe(input);
    }
  });

  it.each(NON_STRINGS)('throws TokenError for %s', (_name, input) => {
    expect(() => parseJoinToken(input)).toThrow(TokenError);
  });
});

describe('formatJoinToken (k3s FormatTokenBytes)', () => {
  it('formats the upstream single-root example byte for byte', async () => {
    const bundle = caVectors.joinToken.bundle.map((n) => caVectors.certificates[n as 'root']).join('');
    expect(await formatJoinToken(bundle, caVectors.joinToken.credentials)).toBe(caVectors.joinToken.token);
  });

  it('round-trips through parseJoinToken', async () => {
    const token = await formatJoinToken(caVectors.certificates.root, 'server:pw:with:colons');
    const parsed = parseJoinToken(token);
    expect(parsed).toMatchObject({ caHash: caVectors.caHash[0]!.hash, username: 'server', password: 'pw:with:colons' });
  });

  it('refuses credentials that are not a string (a caller mistake)', async () => {
    await expect(formatJoinToken(caVectors.certificates.root, 42 as never)).rejects.toThrow(new TypeError('credentials must be a string'));
  });

  it('gives "" for empty credentials as k3s does', async () => {
    expect(await formatJoinToken(caVectors.certificates.root, '')).toBe('');
    // As k3s FormatToken: an empty token is returned before the CA is read, so no CA is needed.
    expect(await formatJoinToken('not a CA bundle', '')).toBe('');
  });

  it('refuses a hash that is not 64 lowercase hex', () => {
    expect(() => formatJoinTokenWithHash('A'.repeat(64), 'abcdef.0123456789abcdef')).toThrow(TypeError);
    expect(() => formatJoinTokenWithHash('a'.repeat(63), 'abcdef.0123456789abcdef')).toThrow(TypeError);
  });

  it('fails when the bundle holds no certificate', async () => {
    await expect(formatJoinToken('garbage', 'abcdef.0123456789abcdef')).rejects.toThrow(
      'data does not contain any valid RSA or ECDSA certificates',
    );
  });
});
