// Vitest config for Stryker only (stryker.config.mjs, `npm run mutation`): the domain unit tests
// beside the mutated files, in plain Node. No e2e, integration or server-starting suites: under
// per-test coverage each mutant reruns the tests that reach it, so those would dominate the run.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: [
      'src/token/**/*.test.ts',
      'src/attest/**/*.test.ts',
      'src/enroll/machine-state*.test.ts',
      'src/http/webhook-signature*.test.ts',
    ],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
