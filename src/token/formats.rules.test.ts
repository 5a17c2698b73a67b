// The bounds and messages of the token formats that the vector suites do not reach: random
// strings of any length, the messages k3s and Go print, and the length limits on untrusted input.
import { describe, expect, it } from 'vitest';
import { formatDuration, formatJoinTokenWithHash, parseBootstrapToken, parseDuration, parseJoinToken, randomAlphabetString, TokenError, type RandomFill } from './index.ts';

const message = (f: () => unknown) => {
  try {
    f();
  } catch (e) {
    return `${(e as Error).constructor.name}: ${(e as Error).message}`;
  }
  throw new Error('accepted');
};

describe('randomAlphabetString', () => {
  it('gives exactly `count` characters, drawing again when a draw runs out', () => {
    let calls = 0;
    const fill: RandomFill = (buf) => {
      calls++;
      return buf.fill(35);
    };
    expect(randomAlphabetString(0, fill)).toBe('');
    expect(calls).toBe(0);
    expect(randomAlphabetString(1, fill)).toBe('z');
    expect(randomAlphabetString(64, fill)).toBe('z'.repeat(64));
    calls = 0;
    expect(randomAlphabetString(65, fill)).toBe('z'.repeat(65));
    expect(calls).toBe(2);
  });

  it('maps bytes below 252 onto the alphabet by their remainder mod 36', () => {
    const seq = [0, 9, 10, 35, 36, 251, 252, 255];
    const fill: RandomFill = (buf) => {
      buf.fill(0);
      buf.set(seq);
      return buf;
    };
    expect(randomAlphabetString(6, fill)).toBe('09az0z');
  });

  it('refuses a count that is not a non-negative integer', () => {
    for (const n of [-1, 1.5, Number.NaN]) expect(message(() => randomAlphabetString(n))).toBe('TypeError: count must be a non-negative integer');
  });

  it('the default source gives fresh strings', () => {
    expect(randomAlphabetString(16)).not.toBe(randomAlphabetString(16));
  });
});

describe('parseBootstrapToken messages', () => {
  it('says what a bootstrap token looks like, as the authenticator does', () => {
    expect(message(() => parseBootstrapToken(42))).toBe('TokenError: bootstrap token must be a string');
    expect(message(() => parseBootstrapToken('abcdef.0123456789abcdeF'))).toBe('TokenError: the bootstrap token was not of the form "\\\\A([a-z0-9]{6})\\\\.([a-z0-9]{16})\\\\z"');
  });
  it('gives id, secret and the token itself', () => {
    expect({ ...parseBootstrapToken('abcdef.0123456789abcdef') }).toEqual({ id: 'abcdef', secret: '0123456789abcdef', token: 'abcdef.0123456789abcdef' });
  });
});

describe('join token messages', () => {
  it('parseJoinToken: not a string, empty', () => {
    expect(message(() => parseJoinToken(null))).toBe('TokenError: token must be a string');
    expect(message(() => parseJoinToken(''))).toBe('TokenError: token must not be empty');
  });
  it('formatJoinTokenWithHash: the hash must be 64 lowercase hex; empty credentials give ""', () => {
    const h = 'a'.repeat(64);
    expect(formatJoinTokenWithHash(h, 'abcdef.0123456789abcdef')).toBe(`K10${h}::abcdef.0123456789abcdef`);
    expect(formatJoinTokenWithHash(h, '')).toBe('');
    for (const bad of ['A'.repeat(64), 'a'.repeat(63), `${h}0`, `x${h}`, `${h}\n`]) {
      expect(message(() => formatJoinTokenWithHash(bad, 'u:p'))).toBe('TypeError: caHash must be 64 lowercase hex characters');
    }
  });
});

describe('durations', () => {
  it('input is at most 64 characters, and so is the input quoted back', () => {
    expect(parseDuration(`${'0'.repeat(61)}1ms`)).toBe(1);
    expect(message(() => parseDuration(`${'0'.repeat(62)}1ms`))).toBe(`TokenError: time: invalid duration "${'0'.repeat(62)}1m"`);
    expect(message(() => parseDuration(5))).toBe('TokenError: duration must be a string');
  });
  it('the messages quote the input with unprintable characters replaced', () => {
    expect(message(() => parseDuration('1\u0000'))).toBe('TokenError: time: unknown unit "?" in duration "1?"');
    expect(message(() => parseDuration('1h2'))).toBe('TokenError: time: missing unit in duration "1h2"');
    expect(message(() => parseDuration('+'))).toBe('TokenError: time: invalid duration "+"');
  });
  it('units add up, the sign applies to the whole, and a fraction of any unit counts', () => {
    expect(parseDuration('1h1m1s1ms')).toBe(3_661_001);
    expect(parseDuration('-1h30m')).toBe(-5_400_000);
    expect(parseDuration('1.25s')).toBe(1_250);
    expect(parseDuration('1.s')).toBe(1_000);
    expect(parseDuration('2562047h47m16s854ms')).toBe(9_223_372_036_854);
  });
  it('formatDuration drops sub-second parts and zero-hour / zero-minute prefixes as Go does', () => {
    expect(formatDuration(1_500)).toBe('1s');
    expect(formatDuration(59_999)).toBe('59s');
    expect(formatDuration(60_000)).toBe('1m0s');
    expect(formatDuration(3_600_000)).toBe('1h0m0s');
    expect(formatDuration(3_605_000)).toBe('1h0m5s');
    expect(formatDuration(-20_000)).toBe('-20s');
    expect(formatDuration(-3_660_000)).toBe('-1h1m0s');
  });
});

it('TokenError is invalid_token', () => {
  const e = new TokenError('x');
  expect([e.code, e.name, e.message]).toEqual(['invalid_token', 'TokenError', 'x']);
});

describe('more bounds', () => {
  it('a bootstrap token Secret is a v1 Secret', async () => {
    const { buildBootstrapTokenSecret } = await import('./index.ts');
    const s = buildBootstrapTokenSecret({ id: 'abcdef', secret: '0123456789abcdef', expiresAt: null });
    expect([s.apiVersion, s.kind]).toEqual(['v1', 'Secret']);
  });
  it('isBootstrapTokenId wants a string, not a number that prints as one', async () => {
    const { isBootstrapTokenId } = await import('./index.ts');
    expect(isBootstrapTokenId(123456)).toBe(false);
    expect(isBootstrapTokenId('123456')).toBe(true);
  });
  it('the largest Go duration (2^63-1 ns) parses; one more second does not', () => {
    expect(parseDuration('9223372036854775807ns')).toBeCloseTo(9_223_372_036_854.775, 3);
    expect(() => parseDuration('9223372036855s')).toThrow(new TokenError('time: invalid duration "9223372036855s"'));
  });
  it('parseRfc3339 reads strings only (not an array that prints as a time)', async () => {
    const { parseRfc3339 } = await import('./index.ts');
    expect(parseRfc3339(['2024-03-10T03:22:11Z'])).toBeNull();
    expect(parseRfc3339('2024-03-10T03:22:11Z')).toBe(Date.UTC(2024, 2, 10, 3, 22, 11));
  });
});
