import { describe, expect, it } from 'vitest';
import vectors from '../../test/vectors/duration.json' with { type: 'json' };
import { MALFORMED_STRINGS, NON_STRINGS } from '../../test/support/malformed.ts';
import { formatDuration, parseDuration, TokenError } from './index.ts';

describe('parseDuration (Go time.ParseDuration)', () => {
  it.each(vectors.valid)('$input → $ms ms', (v) => {
    expect(parseDuration(v.input)).toBeCloseTo(v.ms, 6);
  });
  it.each(vectors.invalid)('rejects "$input"', (v) => {
    expect(() => parseDuration(v.input)).toThrow(new TokenError(v.error));
  });
  it.each(MALFORMED_STRINGS)('rejects %s', (_n, input) => {
    expect(() => parseDuration(input)).toThrow(TokenError);
  });
  it.each(NON_STRINGS)('rejects %s', (_n, input) => {
    expect(() => parseDuration(input)).toThrow(TokenError);
  });
  it('rejects durations past int64 nanoseconds', () => {
    expect(() => parseDuration('2562048h')).toThrow(TokenError);
    expect(parseDuration('2562047h')).toBe(2562047 * 3_600_000);
  });
});

describe('formatDuration (Go Duration.String, whole seconds)', () => {
  it.each([
    [86_400_000, '24h0m0s'],
    [600_000, '10m0s'],
    [20_000, '20s'],
    [0, '0s'],
    [5_410_000, '1h30m10s'],
    [-300_000, '-5m0s'],
  ])('%d → %s', (ms, s) => {
    expect(formatDuration(ms)).toBe(s);
    expect(parseDuration(s)).toBe(ms);
  });
});
