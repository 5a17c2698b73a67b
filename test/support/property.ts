// fast-check settings shared by the property tests: a fixed seed and run count in `npm test`
// (reproducible in CI); FC_RUNS=<n> runs more, FC_SEED=<n> explores another sequence.
import type { Parameters } from 'fast-check';

export function fcParams<T>(defaultRuns = 200): Parameters<T> {
  const runs = Number(process.env.FC_RUNS ?? defaultRuns);
  const seed = Number(process.env.FC_SEED ?? 20261201);
  return { seed, numRuns: Number.isFinite(runs) && runs > 0 ? runs : defaultRuns };
}
