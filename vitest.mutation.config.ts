// Vitest config for Stryker only (stryker.config.mjs, `npm run mutation`): the domain unit tests
// beside the mutated files, in plain Node. No e2e, integration or server-starting suites: under
// per-test coverage each mutant reruns the tests that reach it, so those would dominate the run.
// The live-swtpm suites are left out too: each rerun restarts swtpm (5-12 s a mutant, hours in
// all). Their rules are pinned here by vectors recorded from swtpm + tpm2-tools (test/vectors/tpm-*)
// and by quotes built to the TPM 2.0 layout (quote.layout.test.ts); `npm test` still runs them.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    environment: 'node',
    include: [
      'src/token/**/*.test.ts',
      'src/attest/**/*.test.ts',
      'src/enroll/machine-state*.test.ts',
      'src/http/webhook-signature*.test.ts',
      'src/cluster/write-governor*.test.ts',
      'src/store/batched-calls*.test.ts',
      'src/http/client-address*.test.ts',
      'src/store/failure-limiter*.test.ts',
      'src/enroll/enroll-idempotency.test.ts',
      'src/enroll/atomic-enroll.test.ts',
      'src/enroll/idempotency*.test.ts',
      'src/enroll/join-state*.test.ts',
      'src/enroll/busy-audit*.test.ts',
      'src/enroll/registration*.test.ts',
    ],
    exclude: ['src/**/*.swtpm.test.ts', 'src/attest/tpm/quote.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
