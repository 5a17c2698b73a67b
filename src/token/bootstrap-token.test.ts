import { describe, expect, it } from 'vitest';
import { MALFORMED_STRINGS, NON_STRINGS } from '../../test/support/malformed.ts';
import { BOOTSTRAP_TOKEN_PATTERN, TOKEN_ALPHABET, generateBootstrapToken, isBootstrapTokenId, parseBootstrapToken, randomAlphabetString, TokenError, type RandomFill } from './index.ts';

/** Pearson's chi-square statistic of character counts against the uniform distribution. */
function chiSquare(sample: string): number {
  const counts = new Map<string, number>();
  for (const c of sample) counts.set(c, (counts.get(c) ?? 0) + 1);
  const expected = sample.length / TOKEN_ALPHABET.length;
  let chi = 0;
  for (const c of TOKEN_ALPHABET) chi += ((counts.get(c) ?? 0) - expected) ** 2 / expected;
  return chi;
}
// 35 degrees of freedom; P(chi2 > 80) ≈ 2e-5, so a fair sampler fails about once in 50,000 runs.
const CHI_SQUARE_LIMIT = 80;
const SAMPLE_CHARS = 360_000;

describe('generateBootstrapToken', () => {
  it('produces [a-z0-9]{6}.[a-z0-9]{16} with id and secret split', () => {
    for (let i = 0; i < 200; i++) {
      const t = generateBootstrapToken();
      expect(t.token).toMatch(BOOTSTRAP_TOKEN_PATTERN);
      expect(t.token).toBe(`${t.id}.${t.secret}`);
    }
  });

  it('draws uniformly over the alphabet (chi-square)', () => {
    expect(chiSquare(randomAlphabetString(SAMPLE_CHARS))).toBeLessThan(CHI_SQUARE_LIMIT);
  });

  it('the same chi-square test catches modulo bias', () => {
    // `byte % 36` without rejection favours the first 4 characters by 8/7: the test must see it.
    const bytes = new Uint8Array(SAMPLE_CHARS);
    for (let i = 0; i < bytes.length; i += 65_536) crypto.getRandomValues(bytes.subarray(i, i + 65_536));
    const biased = Array.from(bytes, (b) => TOKEN_ALPHABET[b % 36]).join('');
    expect(chiSquare(biased)).toBeGreaterThan(CHI_SQUARE_LIMIT);
  });

  it('rejects bytes >= 252 instead of folding them', () => {
    // A source that yields 252..255 first must not produce '0'..'3' from them.
    let call = 0;
    const fill: RandomFill = (buf) => {
      buf.fill(call++ === 0 ? 252 : 37); // 37 % 36 = 1 → '1'
      return buf;
    };
    expect(randomAlphabetString(6, fill)).toBe('111111');
    expect(call).toBe(2);
  });

  it('uses the injected source (deterministic)', () => {
    const fill: RandomFill = (buf) => buf.fill(10);
    expect(generateBootstrapToken(fill).token).toBe('aaaaaa.aaaaaaaaaaaaaaaa');
  });
});

describe('parseBootstrapToken', () => {
  it('accepts the upstream example', () => {
    expect(parseBootstrapToken('abcdef.0123456789abcdef')).toMatchObject({ id: 'abcdef', secret: '0123456789abcdef' });
    for (const t of ['xabcdef.0123456789abcdef', 'abcdef.0123456789abcdefx', 'abcdef.0123456789abcdef\n', 'abcdefx0123456789abcdef']) expect(() => parseBootstrapToken(t)).toThrow(TokenError);
  });
  it.each(MALFORMED_STRINGS)('rejects %s', (_n, input) => {
    expect(() => parseBootstrapToken(input)).toThrow(TokenError);
  });
  it.each(NON_STRINGS)('rejects %s', (_n, input) => {
    expect(() => parseBootstrapToken(input)).toThrow(TokenError);
  });
  it('does not echo the token in its message', () => {
    try {
      parseBootstrapToken('abcdef.0123456789ABCDEF');
    } catch (err) {
      expect((err as Error).message).not.toContain('0123456789ABCDEF');
    }
  });
  it('isBootstrapTokenId matches only 6 lowercase alphanumerics', () => {
    expect(isBootstrapTokenId('abc123')).toBe(true);
    for (const bad of ['abc12', 'abc1234', 'ABC123', 'abc-12', '', 12345]) expect(isBootstrapTokenId(bad)).toBe(false);
  });
});
