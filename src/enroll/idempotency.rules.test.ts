// Idempotency-Key rules one by one on the pure functions (DESIGN.md §3): which header values are
// keys, what identifies a proof, when the same proof + key is a retry rather than a replay, which
// "used" mark a retry lifts (only its own proof's), and that retries never extend the window.
// enroll-idempotency.test.ts and atomic-enroll.test.ts drive the same rules through enrollments.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { commitWithKey, IDEMPOTENCY_KEY_MAX_LENGTH, IDEMPOTENCY_WINDOW_MS, parseIdempotencyKey, proofDigest, reserveWithKey, type StateWithKey } from './idempotency.ts';
import { applyRegistration, CHALLENGE_TTL_MS, RejectionWithState, type ChallengeRecord, type LiveToken, type MachineRegistration, type Proof } from './machine-state.ts';

const EK = 'e'.repeat(64);
const CERT = 'd'.repeat(64);
const SECRET = 'f'.repeat(64);
const CODE = 'a'.repeat(64);
const KEY = '1'.repeat(64);
const OTHER_KEY = '2'.repeat(64);

const reg: MachineRegistration = { id: 'edge-1', enrollmentCodeSha256: CODE, enrollmentCodeExpiresAt: null, jwtSubject: 'https://i|s', ekPublicKeySha256: EK, certificateSha256: CERT, groups: null, labels: {}, tokenTtlSeconds: null };
const fresh = (): StateWithKey => applyRegistration(null, reg, 0).state;
const ch = (over: Partial<ChallengeRecord> = {}): ChallengeRecord => ({ id: 'c1', machineId: 'edge-1', kind: 'tpm', secretSha256: SECRET, ekSha256: EK, issuedAt: 1_000, expiresAt: 1_000 + CHALLENGE_TTL_MS, ...over });
const code = (): Proof => ({ method: 'code', codeSha256: CODE });
const jwt = (j = 'j1'): Proof => ({ method: 'jwt', jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's' });
const tpm = (id = 'c1'): Proof => ({ method: 'tpm', challenge: ch({ id }), secretSha256: SECRET });
const x509 = (id = 'x1'): Proof => ({ method: 'x509', challenge: ch({ id, kind: 'x509', secretSha256: CERT, ekSha256: '' }), secretSha256: CERT });
const minted = (id: string): LiveToken => ({ id, uid: `uid-${id}`, expiresAt: 900_000, mintedAt: 2_000, method: 'code' });

/** One answered enrollment of `proof` under `key` at `now`: the state after its commit. */
function enrolled(proof: Proof, key: string | null, now = 2_000, state: StateWithKey = fresh()): StateWithKey {
  const r = reserveWithKey(state, proof, `r-${now}`, now, key);
  const usedJwt = proof.method === 'jwt' ? { jtiSha256: proof.jtiSha256, exp: proof.exp } : null;
  return commitWithKey(r.state, `r-${now}`, minted(`t${now}`), usedJwt, now).state;
}
const refusal = (f: () => unknown): string => {
  try {
    f();
    return 'accepted';
  } catch (e) {
    const err = e instanceof RejectionWithState ? e.error : e;
    return (err as AppError).code;
  }
};

describe('parseIdempotencyKey', () => {
  it('absent is no key; 1–255 printable ASCII characters are a key as they are; anything else is invalid_request', () => {
    expect(parseIdempotencyKey(null)).toBeNull();
    expect(parseIdempotencyKey(undefined)).toBeNull();
    for (const ok of ['k', '!', '~', 'x'.repeat(IDEMPOTENCY_KEY_MAX_LENGTH), 'a7f3-9c1e_Z.0']) expect(parseIdempotencyKey(ok)).toBe(ok);
    for (const bad of ['', 'x'.repeat(IDEMPOTENCY_KEY_MAX_LENGTH + 1), 'a b', 'tab\there', 'é', '\x7f', 'line\n']) {
      let err: unknown = null;
      try {
        parseIdempotencyKey(bad);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(bad)).toBeInstanceOf(AppError);
      expect(err).toMatchObject({ code: 'invalid_request', message: `Idempotency-Key must be 1–${IDEMPOTENCY_KEY_MAX_LENGTH} printable ASCII characters` });
    }
  });
});

describe('proofDigest', () => {
  it('names the method and what identifies the proof: the code hash, the JWT id hash, the challenge and its secret', () => {
    expect(proofDigest(code())).toBe(`code:${CODE}`);
    expect(proofDigest(jwt('j9'))).toBe('jwt:j9');
    expect(proofDigest(tpm('c7'))).toBe(`tpm:c7:${SECRET}`);
    expect(proofDigest(x509('x7'))).toBe(`x509:x7:${CERT}`);
  });
});

describe('reserveWithKey', () => {
  it('a first attempt with a key records the key, the proof and the window; without a key, a state with no record is left without one', () => {
    const withKey = reserveWithKey(fresh(), code(), 'r1', 1_000, KEY);
    expect(withKey.retry).toBe(false);
    expect(withKey.state.idempotency).toEqual({ keySha256: KEY, proofDigest: `code:${CODE}`, until: 1_000 + IDEMPOTENCY_WINDOW_MS, reservationId: 'r1' });
    const without = reserveWithKey(fresh(), code(), 'r1', 1_000, null);
    expect(without.retry).toBe(false);
    expect(without.state.idempotency ?? null).toBeNull();
    expect('idempotency' in without.state).toBe(false); // the document is left as it was
    // A keyless attempt after a keyed one clears the old record.
    const after = reserveWithKey({ ...fresh(), idempotency: withKey.state.idempotency! }, jwt(), 'r2', 1_000, null);
    expect(after.state.idempotency).toBeNull();
  });

  it('the same proof + key within the window is a retry, for every method; the "used" marks of the state are kept', () => {
    for (const proof of [code(), jwt(), tpm(), x509()]) {
      const s = enrolled(proof, KEY);
      const r = reserveWithKey(s, proof, 'r-retry', 3_000, KEY);
      expect(r.retry, proof.method).toBe(true);
      expect(r.state.reservation?.id).toBe('r-retry');
      expect(r.state.idempotency).toMatchObject({ keySha256: KEY, reservationId: 'r-retry', until: 2_000 + IDEMPOTENCY_WINDOW_MS });
      // What the first attempt marked used stays marked (only this attempt looked past it).
      expect(r.state.codeUsedAt).toBe(s.codeUsedAt);
      expect(r.state.usedJwts).toEqual(s.usedJwts);
      expect(r.state.usedChallenges).toEqual(s.usedChallenges ?? {});
    }
  });

  it('is a replay under another key, without a key, with another proof, or once the window is over (to the millisecond)', () => {
    const s = enrolled(jwt('j1'), KEY);
    expect(refusal(() => reserveWithKey(s, jwt('j1'), 'r', 3_000, OTHER_KEY))).not.toBe('accepted');
    expect(refusal(() => reserveWithKey(s, jwt('j1'), 'r', 3_000, null))).not.toBe('accepted');
    const until = 2_000 + IDEMPOTENCY_WINDOW_MS;
    expect(refusal(() => reserveWithKey(s, jwt('j1'), 'r', until - 1, KEY))).toBe('accepted');
    expect(refusal(() => reserveWithKey(s, jwt('j1'), 'r', until, KEY))).not.toBe('accepted');
    // Another proof under the same key is judged on its own (a fresh JWT id is fine, not a retry).
    const other = reserveWithKey(s, jwt('j2'), 'r', 3_000, KEY);
    expect(other.retry).toBe(false);
    // A used code under the same key but a different proof digest (a tpm proof) stays refused.
    const c = enrolled(code(), KEY);
    const t = reserveWithKey(c, tpm(), 'r', 3_000, KEY);
    expect(t.retry).toBe(false);
  });

  it('a retry lifts only its own proof\'s mark: another used JWT id, challenge or the code stays used', () => {
    // j0 used earlier without a key; then j1 under the key.
    const s = enrolled(jwt('j1'), KEY, 3_000, enrolled(jwt('j0'), null, 2_000));
    expect(reserveWithKey(s, jwt('j1'), 'r', 4_000, KEY).retry).toBe(true);
    expect(refusal(() => reserveWithKey(s, jwt('j0'), 'r', 4_000, KEY))).not.toBe('accepted');
    // Challenges: x1 used without a key, x2 under the key.
    const x = enrolled(x509('x2'), KEY, 3_000, enrolled(x509('x1'), null, 2_000));
    expect(reserveWithKey(x, x509('x2'), 'r', 4_000, KEY).retry).toBe(true);
    expect(refusal(() => reserveWithKey(x, x509('x1'), 'r', 4_000, KEY))).not.toBe('accepted');
    // TPM the same.
    const t = enrolled(tpm('c2'), KEY, 3_000, enrolled(tpm('c1'), null, 2_000));
    expect(reserveWithKey(t, tpm('c2'), 'r', 4_000, KEY).retry).toBe(true);
    expect(refusal(() => reserveWithKey(t, tpm('c1'), 'r', 4_000, KEY))).not.toBe('accepted');
    // The code used without a key: a JWT retry under a key does not free it.
    const c = enrolled(jwt('j5'), KEY, 3_000, enrolled(code(), null, 2_000));
    expect(reserveWithKey(c, jwt('j5'), 'r', 4_000, KEY).retry).toBe(true);
    expect(refusal(() => reserveWithKey(c, code(), 'r', 4_000, KEY))).toBe('code_used');
  });

  it('a retry takes over its own key\'s reservation still minting, not another attempt\'s', () => {
    const first = reserveWithKey(fresh(), code(), 'r1', 1_000, KEY).state; // still minting
    const retry = reserveWithKey(first, code(), 'r2', 1_500, KEY);
    expect(retry.retry).toBe(true);
    expect(retry.state.reservation?.id).toBe('r2');
    // An attempt without the key holding the reservation: the keyed one waits its turn (conflict).
    const other = reserveWithKey(fresh(), jwt('j1'), 'rx', 1_000, null).state;
    const withRecord: StateWithKey = { ...other, idempotency: { keySha256: KEY, proofDigest: `code:${CODE}`, until: 1_000 + IDEMPOTENCY_WINDOW_MS, reservationId: 'r1' } };
    expect(refusal(() => reserveWithKey(withRecord, code(), 'r3', 1_500, KEY))).toBe('conflict');
  });
});

describe('commitWithKey', () => {
  it('the first answer opens the window from its own time; a retry\'s answer never extends it', () => {
    const r1 = reserveWithKey(fresh(), code(), 'r1', 1_000, KEY);
    const c1 = commitWithKey(r1.state, 'r1', minted('t1'), null, 5_000).state;
    expect(c1.idempotency).toEqual({ keySha256: KEY, proofDigest: `code:${CODE}`, until: 5_000 + IDEMPOTENCY_WINDOW_MS, reservationId: null, answered: true });
    const r2 = reserveWithKey(c1, code(), 'r2', 60_000, KEY);
    const c2 = commitWithKey(r2.state, 'r2', minted('t2'), null, 70_000).state;
    expect(c2.idempotency).toEqual({ keySha256: KEY, proofDigest: `code:${CODE}`, until: 5_000 + IDEMPOTENCY_WINDOW_MS, reservationId: null, answered: true });
  });

  it('a commit of another reservation leaves the key\'s record as it is; a state without one gets none', () => {
    const r1 = reserveWithKey(fresh(), code(), 'r1', 1_000, KEY).state;
    const rec = r1.idempotency!;
    // The key's record points at r1, yet r9 commits (as after a takeover raced): the record stays.
    const other = commitWithKey({ ...r1, reservation: { ...r1.reservation!, id: 'r9' } }, 'r9', minted('t9'), null, 2_000).state;
    expect(other.idempotency).toEqual(rec);
    const plain = reserveWithKey(fresh(), code(), 'r1', 1_000, null).state;
    expect(commitWithKey(plain, 'r1', minted('t1'), null, 2_000).state.idempotency).toBeNull();
  });
});
