// Stryker (`npm run mutation`, scripts/mutation.mjs): mutation testing of the domain rules. It runs
// under Node 22 from tools/node22 (Stryker needs Node >= 22; the project stays on Node 20) and
// uses vitest.mutation.config.ts (the unit tests beside the mutated files).
//
// Every file must score >= 85 %. A surviving mutant is either killed by a test that pins a rule or
// named below as equivalent (file, mutant, why no test can tell it apart).
//
// Equivalent mutants (file:line, mutant → why no test can tell it apart):
//   src/enroll/machine-state.ts:166 `last !== null` → `true`: with last null, `event.at === null`
//     is already false (at is a number).
//   src/enroll/machine-state.ts:166 `state?.lastFleetEventType` → `state.lastFleetEventType`: last
//     is non-null only when state is.
//   src/enroll/machine-state.ts:237 `used !== undefined && used > now` → `true && used > now`:
//     `undefined > now` is false.
//   src/enroll/machine-state.ts:249 `challengesNotBefore != null` → `true`: `issuedAt < null` or
//     `< undefined` is false for every issuedAt the service writes (its clock, >= 0).
//   src/enroll/machine-state.ts:269 `challengeExpiresAt !== undefined ? {…} : {}` → `true`: adds
//     `challengeExpiresAt: undefined`, which the JSON-persisted document drops.
//   src/enroll/machine-state.ts:314 `fresh.length > 0` → `true` / `>= 0`: with no fresh owed id the
//     copy's pendingDeletes equal the state's; every caller saves the result, never compares it.
//   src/enroll/machine-state.ts:363 `r !== null && …` → `true && …`: commitEnrollment has already
//     refused a state without this reservation.
//   src/enroll/machine-state.ts:375 and src/http/webhook-signature.ts:33 `i < length` → `i <= length`:
//     one step past the end XORs NaN/undefined with itself, adding 0 to the difference.
//   src/http/webhook-signature.ts:23, :24 `v !== undefined` → `true`: the regex then tests the
//     string "undefined", which matches neither `\d{1,12}` nor 64 hex characters.
//   src/attest/tpm/ek.ts:19 `pem ?? ''` → "Stryker was here!": neither holds a PEM block.
//   src/attest/tpm/ek.ts:34 `err instanceof CertificateParseError` → `true`: parseCertificate
//     throws nothing else.
//   src/attest/tpm/ek.ts:22 `c.rawSubject.length === c.rawIssuer.length` → `true`: a DER Name is
//     prefix-free (its length is in its first bytes), so a subject shorter than the issuer never
//     matches it byte for byte, and a longer one reads `undefined` past the issuer's end.
//   src/attest/tpm/make-credential.ts:44 (b64u) `/=+$/` → `/=+/`: btoa puts `=` only at the end.
//   src/attest/tpm/make-credential.ts:59, :71 (kdfa, kdfe) `have * 8 < bits` → `<= bits`, and
//     `have * 8` → `have / 8`: the loop makes more blocks, which `slice(0, bits / 8)` cuts off.
//   src/attest/tpm/make-credential.ts:89 `alg.name === 'ECDH'` → `true`, `['encrypt']` → `[]`: the
//     imported EK is only exported to a JWK, never used, and a public key may have no usages.
//   src/attest/tpm/make-credential.ts:100 `jwk.crv === 'P-256' || jwk.crv === 'P-384'` → `true`:
//     the only non-RSA imports tried are ECDH P-256 and P-384, so no other curve gets there.
//   src/attest/tpm/make-credential.ts:162 `akName.length >= 2` → `true` / `> 2`, :163 `akDigest ===
//     undefined` → `false`: a 0-1 byte name reads alg `b << 8`, never a digest algorithm; a 2-byte
//     name fails `akName.length !== 2 + akDigest` (NaN when undefined): the same TypeError.
//   src/attest/tpm/make-credential.ts:171, :180 and src/attest/tpm/quote.ts:92, :102 `extractable:
//     false` → `true`: those keys are never exported.
//   src/attest/tpm/quote.ts:72 `k < 8` → `k <= 8`: `byte & (1 << 8)` is 0 for a byte.
//   src/attest/tpm/quote.ts:89 `let ok = false` → `true`: each branch sets ok or throws.
//   src/attest/tpm/quote.ts:118 (expBytes: drop leading zero bytes of the exponent) the condition
//     → `false`, `out.length > 1` → `true` / `>= 1` / `<= 1`, `out[0] === 0` → `!== 0`: WebCrypto
//     in Node reads the JWK `e` as a big-endian integer and takes leading zero bytes, and e is
//     never 0 (the parser maps 0 to 65537), so the loop never empties `out`. Whether another
//     runtime wants `e` minimal is not visible to these tests.
//   src/token/bootstrap-secret.ts:74 `/\.\d{3}Z$/` → `/\.\d{3}Z/`: toISOString has one `.mmmZ`, at the end.
//   src/token/bootstrap-secret.ts:106, :107 `slash >= 0` → `slash > 0`: a key starting with "/"
//     is refused either way (empty prefix, or a name containing "/").
//   src/token/bootstrap-secret.ts:106 `''` → "Stryker was here!", and `slash >= 0` → `true` there:
//     the prefix of a key without "/" is never read (`slash < 0 ||` short-circuits).
//   src/token/bootstrap-secret.ts:107 `slash >= 0` → `true`: for a key without "/",
//     `key.slice(slash + 1)` is `key.slice(0)`, the key itself.
//   src/token/ca-hash.ts:47-48 the `catch` around TextDecoder.decode: a non-fatal decoder never throws.
//   src/token/ca-hash.ts:23, :32 `certs.length === 1` → `false`: findRoot over no other certificate
//     finds no chain, and the fallback is the same bytes / the same first certificate.
//   src/token/ca-hash.ts:56 `err instanceof CertificateParseError` → `true`: parseCertificate
//     throws nothing else.
//   src/token/ca-hash.ts:67 `certs.slice(1)` → `certs`: certs[0] in the pools is never used, since
//     the chain starts at certs[0] and verifyCertificateChain skips a certificate already in it.
//   src/token/duration.ts:33 the regex without `^`: every part is optional, so it matches at 0.
//   src/token/duration.ts:41 `'0'` → `""`: Number(".5") and Number("1.") equal Number("0.5"), Number("1.0").
//   src/token/duration.ts:50 `ms === 0` → `false`, :51 `ms < 0` → `ms <= 0`: 0 still formats "0s".
//   src/token/rfc3339.ts:3 the pattern without `$`: it then accepts a valid time followed by
//     anything, and Date.parse gives NaN for each such string tried (' ', 'x', 'Z', '+02:00',
//     ':30', ' GMT', '\n' after the zone), so parseRfc3339 still returns null.
//   src/token/human-duration.ts:6 `seconds < 0` → `seconds <= 0`: 0 s formats "0s" in the next branch.
//   src/cluster/write-governor.ts, the gate (createBatchedWriteGate):
//     - the `length > 0` guards of the loops that drop old entries (answered, pool, refusedAt) →
//       `true` / `>= 0`: on an empty array the comparison reads `undefined`, which is false;
//     - shortAt `{ create: -Infinity, … }` → `{}`: `undefined >= started` is false like -Infinity;
//     - windowWait's `inFlight.size < windowCap && answered.length > 0` → `||`, `<=`, `true`,
//       `>= 0`: a write leaves only while unanswered + recently answered < the cap, so the two are
//       never both at or over it, and with nothing answered the branch is reached only when the
//       unanswered alone fill the window (both arms then poll);
//     - `call.catch(() => undefined)` removed: Promise.race already handles the call's rejection;
//     - the refill's `finally` guard `timer !== undefined` → `true`: the timer is always set;
//     - `polls * GATE_POLL_MS > GATE_WAIT_MAX_MS` → `>=` or `polls / GATE_POLL_MS`: the same
//       refusal, one or many more polls later;
//     - giveBack's staleness check → `false`, and its sorted insert `t > slotAt` → `>=`: take()
//       drops stale slots anyway, and equal times are interchangeable;
//     - send's window-wait bound `>` → `>=`: differs only when a wait ends exactly at the bound;
//     - send's fresh slot `acquire(kind, { wait: false })` → `{}` / `{ wait: true }`: the wait
//       then happens in acquire instead of at the top of send's loop, to the same time.
//   src/store/batched-calls.ts:
//     - `++turn` → `--turn`: turns only need to differ from each other;
//     - `call.catch(() => undefined)` removed: Promise.race already handles the call's rejection;
//     - `batch.length === 0` → `false`: every path into sendOne finds its own or a queued item
//       (a submitter's, a waiter's whose item is untaken, or the continuation when the queue is
//       not empty), and nothing else slices the queue between;
//     - settle's `if (e.settled) return` → `false`: an entry is settled once by its batch, or by a
//       waiter past its deadline, whose wait() has then returned; nobody reads it again;
//     - the default `now` → `() => undefined`: only a takeover reads the clock, and with the
//       default timers a sender's deadline timer always fires (tests that take over inject both).
//   src/enroll/idempotency.ts:
//     - a retry's lifted marks (`usedJwts`/`usedChallenges` copies → `{}`, `codeUsedAt` lifted for
//       any method, the jwt `delete` for any method): reserveEnrollment then checks only this
//       proof's own mark, and the state it returns gets every mark back;
//     - the retry test's first conjuncts (`state !== null`, `keySha256 !== null` → `true` or
//       `||`): `rec !== null` and `rec.keySha256 === keySha256` imply them;
//     - sameProof's length check → `true`: constantTimeEqualHex answers false for unequal lengths;
//     - parseIdempotencyKey's `value.length < 1` → `false`: the pattern refuses "" too;
//     - `state?.idempotency` → `state.idempotency` (:65, :75): a null state was refused just before.
//   src/http/client-address.ts:
//     - parseIpv6's 45-character cap → `false`: no longer text is an IPv6 address (it bounds work);
//     - the `::` fill `'0'` → `''`: parseInt('', 16) is NaN, stored as byte 0 all the same;
//     - isV4Mapped's `b.length === 16` → `true`: parseIpv6 answers 16 bytes or null;
//     - `!t.includes(':')` → `false` / `includes('')`: parseIpv6 refuses text without a colon;
//     - the prefix's `/^\d{1,3}$/` without `^` or `$`: Number() of what else matched is NaN;
//     - the mapped-range test's `entry.slice(0, slash)` → `entry`: after the slash come digits only;
//     - samePrefix's `rem === 0` → `false`: the mask is then 0 and the bytes compare equal;
//     - formatIpAddress's loop bounds `< 8` → `<= 8` and its step `j === i ? i + 1 : j` → `i + 1`:
//       reading past the 8 words finds undefined, and a run's later starting points are shorter;
//     - clientAddressBehindProxies's `trusted.length === 0` → `false` (no range contains the
//       peer) and `last === null ? peer : …` → `…` (the loop always sets last or returns first).
//   src/enroll/join-state.ts:
//     - `s.revokedAt !== null` → `false` in awaitedToken (:47) and the revoked early return of
//       applyNodeObserved (:136) → `false`: a revocation moves the live token to the owed deletes,
//       so nothing is awaited and the general path decides the same nothing;
//     - `passwordCreatedAt === null` / `readyHeartbeatAt === null` → `false` (:81, :82): null
//       compares as 0, below any mint time the service writes, so the same wait follows;
//     - the leading `state === null` checks (:190, :200) → `false`: the next check (`j === null`,
//       `awaited === null`) holds for a null state too.

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'vitest',
  vitest: { configFile: 'vitest.mutation.config.ts' },
  mutate: [
    'src/token/**/*.ts',
    'src/attest/**/*.ts',
    'src/enroll/machine-state.ts',
    'src/http/webhook-signature.ts',
    'src/cluster/write-governor.ts',
    'src/store/batched-calls.ts',
    'src/store/failure-limiter.ts',
    'src/enroll/idempotency.ts',
    'src/http/client-address.ts',
    'src/enroll/join-state.ts',
    'src/enroll/busy-audit.ts',
    'src/enroll/registration.ts',
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
