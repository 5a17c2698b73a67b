import { describe, expect, it } from 'vitest';
import { shortHumanDuration } from './index.ts';

// kubernetes/kubernetes staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go, via
// reference/k3s-token.md §3.4 (table) and k3s tests/docker/token (`20sect\s+[0-9]{2}s`, `10mint\s+[0-9]m`).
describe('shortHumanDuration', () => {
  it.each([
    [-2_000, '<invalid>'],
    [-1_000, '0s'],
    [-500, '0s'],
    [0, '0s'],
    [20_000, '20s'],
    [59_999, '59s'],
    [60_000, '1m'],
    [599_000, '9m'],
    [3_599_999, '59m'],
    [3_600_000, '1h'],
    [86_399_000, '23h'],
    [86_400_000, '1d'],
    [364 * 86_400_000, '364d'],
    [365 * 86_400_000, '1y'],
    [3 * 365 * 86_400_000, '3y'],
  ])('%d ms → %s', (ms, s) => {
    expect(shortHumanDuration(ms)).toBe(s);
  });
});
