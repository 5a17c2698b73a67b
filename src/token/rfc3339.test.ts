import { describe, expect, it } from 'vitest';
import { MALFORMED_STRINGS, NON_STRINGS } from '../../test/support/malformed.ts';
import { parseRfc3339 } from './index.ts';

// Go time.Parse(time.RFC3339, …) acceptance (reference/k8s-bootstrap.md §1: what the bootstrap
// authenticator and token cleaner accept as an expiration).
describe('parseRfc3339', () => {
  it.each([
    ['2024-03-10T03:22:11Z', Date.UTC(2024, 2, 10, 3, 22, 11)],
    ['2024-03-10T03:22:11.500Z', Date.UTC(2024, 2, 10, 3, 22, 11, 500)],
    ['2024-03-10T03:22:11.5Z', Date.UTC(2024, 2, 10, 3, 22, 11, 500)],
    ['2024-03-10T05:22:11.25+02:00', Date.UTC(2024, 2, 10, 3, 22, 11, 250)],
    ['2024-03-10T05:22:11+02:00', Date.UTC(2024, 2, 10, 3, 22, 11)],
  ])('%s', (s, ms) => {
    expect(parseRfc3339(s)).toBe(ms);
  });
  it.each(['2024-03-10 03:22:11Z', '2024-03-10T03:22:11z', '2024-03-10t03:22:11Z', '2024-03-10T03:22:11', '1710040931', '2024-13-10T03:22:11Z', '+002024-03-10T03:22:11Z', '2024-03-10T03:22:11Z ', '2024-03-10T03:22:11.Z'])('rejects %s', (s) => {
    expect(parseRfc3339(s)).toBeNull();
  });
  it.each([...MALFORMED_STRINGS, ...NON_STRINGS])('rejects %s', (_n, v) => {
    expect(parseRfc3339(v)).toBeNull();
  });
});
