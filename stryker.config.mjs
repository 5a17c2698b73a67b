// Stryker (`npm run mutation`, scripts/mutation.mjs): mutation testing of the domain rules. It runs
// under Node 22 from tools/node22 (Stryker needs Node >= 22; the project stays on Node 20) and
// uses vitest.mutation.config.ts (the unit tests beside the mutated files).
//
// Every file must score >= 85 %. A surviving mutant is either killed by a test that pins a rule or
// named below as equivalent (file, mutant, why no test can tell it apart).
//
// Equivalent mutants (file:line, mutant → why no test can tell it apart):
//   src/enroll/machine-state.ts:146 `last !== null` → `true`: with last null, `event.at === null`
//     is already false (at is a number).
//   src/enroll/machine-state.ts:146 `state?.lastFleetEventType` → `state.lastFleetEventType`: last
//     is non-null only when state is.
//   src/enroll/machine-state.ts:217 `used !== undefined && used > now` → `true && used > now`:
//     `undefined > now` is false.
//   src/enroll/machine-state.ts:229 `challengesNotBefore != null` → `true`: `issuedAt < null` or
//     `< undefined` is false for every issuedAt the service writes (its clock, >= 0).
//   src/enroll/machine-state.ts:249 `challengeExpiresAt !== undefined ? {…} : {}` → `true`: adds
//     `challengeExpiresAt: undefined`, which the JSON-persisted document drops.
//   src/enroll/machine-state.ts:335 `r !== null && …` → `true && …`: commitEnrollment has already
//     refused a state without this reservation.
//   src/enroll/machine-state.ts:347 and src/http/webhook-signature.ts:33 `i < length` → `i <= length`:
//     one step past the end XORs NaN/undefined with itself, adding 0 to the difference.
//   src/http/webhook-signature.ts:23, :24 `v !== undefined` → `true`: the regex then tests the
//     string "undefined", which matches neither `\d{1,12}` nor 64 hex characters.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    'src/token/**/*.ts',
    'src/attest/**/*.ts',
    'src/enroll/machine-state.ts',
    'src/http/webhook-signature.ts',
    '!src/**/*.test.ts',
  ],
  coverageAnalysis: 'perTest',
  // Stryker rewrites the named tsconfig's paths with the classic TypeScript API, which TypeScript 7
  // (the native tsc) no longer has. Our tsconfigs point nowhere outside the sandbox, so nothing
  // needs rewriting: name a file that does not exist and the step is skipped.
  tsconfigFile: 'tsconfig.stryker-skip.json',
  concurrency: 2,
  // A mutant that loops forever (a `<` turned `<=` in a read loop) counts as detected once it
  // outlasts its tests' dry-run time by this much; every such mutant costs the wait.
  timeoutMS: 4_000,
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  ignorePatterns: ['/tools', '/.wip', '/bench', '/deploy', '/docs', '/dist', '/.dev', '/.wrangler', '/.artifacts', '/test/vm', '/test/oracle'],
  reporters: ['progress', 'clear-text', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/mutation.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
  thresholds: { high: 90, low: 85, break: null },
};
