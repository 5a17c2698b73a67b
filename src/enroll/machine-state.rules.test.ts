// The rules of the per-machine state machine (DESIGN.md §4), one by one on the pure functions:
// what each refusal says in the audit, what a revocation owes, how a commit books a proof, how
// fleet events order. machine-state.test.ts drives the same rules through the memory store.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import {
  applyFleetEvent,
  applyRegistration,
  applyRevocation,
  CHALLENGE_TTL_MS,
  commitEnrollment,
  confirmDeleted,
  constantTimeEqualHex,
  dueForDeletion,
  FLEET_EVENT_MAX_FUTURE_MS,
  MACHINE_RATE_MAX_ATTEMPTS,
  MACHINE_RATE_WINDOW_MS,
  nextAlarmAt,
  RejectionWithState,
  releaseEnrollment,
  reserveEnrollment,
  RESERVATION_MS,
  type ChallengeRecord,
  type LiveToken,
  type MachineRegistration,
  type MachineState,
  type Proof,
} from './machine-state.ts';

const EK = 'e'.repeat(64);
const CERT = 'd'.repeat(64);
const SECRET = 'f'.repeat(64);
const CODE = 'a'.repeat(64);

const reg = (over: Partial<MachineRegistration> = {}): MachineRegistration => ({
  id: 'edge-1',
  enrollmentCodeSha256: CODE,
  enrollmentCodeExpiresAt: null,
  jwtSubject: 'https://i|s',
  ekPublicKeySha256: EK,
  certificateSha256: CERT,
  groups: ['system:bootstrappers:k3s:edge'],
  labels: { site: 'north' },
  tokenTtlSeconds: 600,
  ...over,
});
const fresh = (over: Partial<MachineRegistration> = {}, now = 0): MachineState => applyRegistration(null, reg(over), now).state;
const live = (id: string, expiresAt: number | null = 50_000): LiveToken => ({ id, uid: `uid-${id}`, expiresAt, mintedAt: 1_000, method: 'code' });
const ref = (id: string) => ({ id, uid: `uid-${id}` });
const ch = (over: Partial<ChallengeRecord> = {}): ChallengeRecord => ({ id: 'c1', machineId: 'edge-1', kind: 'tpm', secretSha256: SECRET, ekSha256: EK, issuedAt: 1_000, expiresAt: 1_000 + CHALLENGE_TTL_MS, ...over });
const tpm = (challenge = ch(), secretSha256 = SECRET): Proof => ({ method: 'tpm', challenge, secretSha256 });
const x509 = (challenge = ch({ kind: 'x509', secretSha256: CERT, ekSha256: '' }), secretSha256 = CERT): Proof => ({ method: 'x509', challenge, secretSha256 });
const jwt = (j = 'j1', over: Partial<{ issuer: string; subject: string }> = {}): Proof => ({ method: 'jwt', jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's', ...over });
const code = (h = CODE): Proof => ({ method: 'code', codeSha256: h });

const caught = (f: () => unknown): AppError => {
  try {
    f();
  } catch (e) {
    if (e instanceof RejectionWithState) return e.error;
    if (e instanceof AppError) return e;
    throw e;
  }
  throw new Error('expected a refusal');
};
/** Reserves then commits a token: a machine with one live token. */
const enrolled = (s: MachineState, token: LiveToken, proof: Proof = code(), now = 2_000): MachineState => {
  const r = reserveEnrollment(s, proof, `r-${token.id}`, now).state;
  return commitEnrollment(r, `r-${token.id}`, token, null, now).state;
};

describe('machine state rules', () => {
  describe('registration', () => {
    it('a first registration creates an empty document stamped now', () => {
      const { state, created } = applyRegistration(null, reg(), 7);
      expect(created).toBe(true);
      expect(state).toEqual({
        version: 1, registration: reg(), createdAt: 7, updatedAt: 7, revokedAt: null, codeUsedAt: null, reservation: null,
        liveToken: null, pendingDeletes: [], usedJwts: {}, attempts: [], lastEnrolledAt: null,
      });
    });

    it('re-registering keeps a used code used, unless the code changes; the live token and the books stay', () => {
      const used = enrolled(fresh(), live('aaaaaa'));
      const same = applyRegistration(used, reg({ labels: { site: 'south' } }), 3_000);
      expect(same.created).toBe(false);
      expect(same.state.codeUsedAt).toBe(2_000);
      expect(same.state.updatedAt).toBe(3_000);
      expect(same.state.createdAt).toBe(0);
      expect(same.state.liveToken).toMatchObject({ id: 'aaaaaa' });
      expect(same.state.registration.labels).toEqual({ site: 'south' });
      expect(caught(() => reserveEnrollment(same.state, code(), 'r', 3_001)).code).toBe('code_used');
      // Registering no code at all does not make the used one new either.
      expect(applyRegistration(used, reg({ enrollmentCodeSha256: null }), 3_000).state.codeUsedAt).toBe(2_000);
      expect(applyRegistration(used, reg({ enrollmentCodeSha256: 'b'.repeat(64) }), 3_000).state.codeUsedAt).toBeNull();
    });

    it('a registration or a revocation ends the Idempotency-Key window of the last enrollment', () => {
      const withKey: MachineState = { ...fresh(), idempotency: { keySha256: 'k', proofDigest: 'p', until: 9e9, reservationId: null } };
      expect(applyRegistration(withKey, reg(), 1).state.idempotency).toBeNull();
      expect(applyRevocation(withKey, 1).state.idempotency).toBeNull();
    });

    it('a change of EK or of certificate cuts off older challenges; keeping both keeps the cut-off', () => {
      const s = fresh();
      expect(applyRegistration(s, reg(), 500).state.challengesNotBefore).toBeNull();
      expect(applyRegistration(s, reg({ ekPublicKeySha256: '1'.repeat(64) }), 500).state.challengesNotBefore).toBe(500);
      expect(applyRegistration(s, reg({ certificateSha256: '2'.repeat(64) }), 600).state.challengesNotBefore).toBe(600);
      const cut = applyRegistration(s, reg({ certificateSha256: '2'.repeat(64) }), 600).state;
      expect(applyRegistration(cut, reg({ certificateSha256: '2'.repeat(64) }), 900).state.challengesNotBefore).toBe(600);
    });
  });

  describe('revocation', () => {
    it('owes a delete for the live token and for every token already owed, and drops the reservation', () => {
      let s = enrolled(fresh(), live('aaaaaa'));
      s = { ...s, pendingDeletes: [ref('zzzzzz')] };
      s = reserveEnrollment(s, jwt(), 'r2', 3_000).state;
      const { state, tokensToDelete } = applyRevocation(s, 4_000);
      expect(tokensToDelete).toEqual([ref('zzzzzz'), ref('aaaaaa')]);
      expect(state.pendingDeletes).toEqual([ref('zzzzzz'), ref('aaaaaa')]);
      expect(state.liveToken).toBeNull();
      expect(state.reservation).toBeNull();
      expect(state.revokedAt).toBe(4_000);
      expect(state.updatedAt).toBe(4_000);
      expect(state.challengesNotBefore).toBe(4_000);
    });

    it('a second revocation keeps the first revocation time', () => {
      const once = applyRevocation(fresh(), 4_000).state;
      const twice = applyRevocation(once, 9_000).state;
      expect(twice.revokedAt).toBe(4_000);
      expect(twice.updatedAt).toBe(9_000);
    });

    it('of an unknown machine is machine_unknown', () => {
      const e = caught(() => applyRevocation(null, 1));
      expect([e.code, e.message]).toEqual(['machine_unknown', 'no such machine']);
    });

    it('a revoked machine is refused every proof, with the reason in the audit', () => {
      const s = applyRevocation(fresh(), 1_500).state;
      for (const p of [code(), jwt(), tpm(), x509()]) {
        const e = caught(() => reserveEnrollment(s, p, 'r', 2_000));
        expect([e.code, e.message, e.reason]).toEqual(['attestation_rejected', 'attestation rejected', 'machine revoked']);
      }
    });
  });

  describe('reserving a proof', () => {
    const refusal = (s: MachineState | null, p: Proof, now = 2_000) => {
      const e = caught(() => reserveEnrollment(s, p, 'r', now));
      expect(e.code).toBe('attestation_rejected');
      expect(e.message).toBe('attestation rejected');
      return e.reason;
    };

    it('gives the policy of the registration and a reservation leased for RESERVATION_MS', () => {
      const { state, policy } = reserveEnrollment(fresh(), code(), 'r1', 2_000);
      expect(policy).toEqual({ groups: ['system:bootstrappers:k3s:edge'], labels: { site: 'north' }, tokenTtlSeconds: 600 });
      expect(state.reservation).toEqual({ id: 'r1', method: 'code', proofKey: `code:${CODE}`, until: 2_000 + RESERVATION_MS });
      expect(state.attempts).toEqual([2_000]);
    });

    it('code: each refusal says why', () => {
      expect(refusal(null, code())).toBe('no registration for this machine');
      expect(refusal(fresh({ enrollmentCodeSha256: null }), code())).toBe('no enrollment code registered');
      expect(refusal(fresh(), code('b'.repeat(64)))).toBe('enrollment code mismatch');
      expect(refusal(fresh({ enrollmentCodeExpiresAt: 2_000 }), code())).toBe('enrollment code expired');
      expect(reserveEnrollment(fresh({ enrollmentCodeExpiresAt: 2_001 }), code(), 'r', 2_000).state.reservation).not.toBeNull();
    });

    it('code: used, or in use by a concurrent enrollment, is code_used with its reason', () => {
      const used = enrolled(fresh(), live('aaaaaa'));
      const e1 = caught(() => reserveEnrollment(used, code(), 'r', 3_000));
      expect([e1.code, e1.message, e1.reason]).toEqual(['code_used', 'this enrollment code has already been used', 'code already used']);
      const busy = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      const e2 = caught(() => reserveEnrollment(busy, code(), 'r2', 2_001));
      expect([e2.code, e2.message, e2.reason]).toEqual(['code_used', 'this enrollment code has already been used', 'code in use by a concurrent enrollment']);
    });

    it('jwt: each refusal says why; a used id answers again once its exp has passed', () => {
      expect(refusal(fresh({ jwtSubject: null }), jwt())).toMatch(/no jwtSubject registered/);
      expect(refusal(fresh(), jwt('j', { subject: 't' }))).toBe('jwt subject does not match the registration');
      let s = reserveEnrollment(fresh(), jwt('j1'), 'r1', 2_000).state;
      s = commitEnrollment(s, 'r1', live('aaaaaa'), { jtiSha256: 'j1', exp: 5_000 }, 2_000).state;
      expect(refusal(s, jwt('j1'), 4_999)).toBe('jwt replayed');
      expect(reserveEnrollment(s, jwt('j1'), 'r2', 5_000).state.reservation).toMatchObject({ method: 'jwt', proofKey: 'jwt:j1' });
      // The same token while its first use is still being minted.
      const busy = reserveEnrollment(fresh(), jwt('j1'), 'r1', 2_000).state;
      expect(refusal(busy, jwt('j1'), 2_001)).toBe('jwt replayed');
    });

    it('tpm: each challenge check refuses with its own reason', () => {
      const s = fresh();
      expect(refusal(s, tpm(ch({ machineId: 'edge-2' })))).toBe('challenge issued for another machine');
      expect(refusal(s, tpm(ch({ kind: 'x509' })))).toBe('a x509 challenge answered as tpm');
      expect(refusal(s, tpm(), 1_000 + CHALLENGE_TTL_MS)).toBe('challenge expired');
      expect(reserveEnrollment(s, tpm(), 'r', 1_000 + CHALLENGE_TTL_MS - 1).state.reservation).not.toBeNull();
      expect(refusal({ ...s, usedChallenges: { c1: 9e9 } }, tpm())).toBe('challenge already used');
      expect(refusal({ ...s, challengesNotBefore: 1_001 }, tpm())).toMatch(/issued before a revocation/);
      expect(reserveEnrollment({ ...s, challengesNotBefore: 1_000 }, tpm(), 'r', 2_000).state.reservation).not.toBeNull();
      expect(refusal(s, tpm(ch({ ekSha256: '1'.repeat(64) })))).toBe('challenge sealed to an EK that is not the registered one');
      expect(refusal(s, tpm(ch(), '0'.repeat(64)))).toMatch(/activated credential does not match/);
      const q = ch({ akName: '000b' + 'a'.repeat(64), quoteRequired: true });
      expect(refusal(s, tpm(q))).toBe('PCR policy requires a quote');
      expect(refusal(s, { ...tpm(q), quotedAkName: '000b' + 'b'.repeat(64) } as Proof)).toBe('quote signed by another key than the challenged AK');
      // A quote is checked against the AK even where the policy does not require one.
      expect(refusal(s, { ...tpm(ch({ akName: '000b' + 'a'.repeat(64) })), quotedAkName: '000b' + 'b'.repeat(64) } as Proof)).toBe('quote signed by another key than the challenged AK');
    });

    it('x509: the challenge must be an x509 one for the registered certificate, answered with that certificate', () => {
      const s = fresh();
      const xc = ch({ kind: 'x509', secretSha256: CERT, ekSha256: '' });
      expect(refusal(s, x509(ch({ kind: 'tpm', secretSha256: CERT }), CERT))).toBe('a tpm challenge answered as x509');
      expect(refusal(s, x509({ ...xc, machineId: 'edge-2' }))).toBe('challenge issued for another machine');
      expect(refusal(s, x509(xc), xc.expiresAt)).toBe('challenge expired');
      expect(refusal({ ...s, challengesNotBefore: 1_001 }, x509(xc))).toMatch(/issued before a revocation or a change of EK or certificate/);
      // A challenge opened for a certificate that is no longer the registered one.
      expect(refusal(fresh({ certificateSha256: '2'.repeat(64) }), x509(xc))).toBe('challenge for a certificate that is not the registered one');
      // Signed with another certificate than the challenged one.
      expect(refusal(s, x509(xc, '2'.repeat(64)))).toBe('certificate is not the challenged one');
      // An x509 challenge has no EK: a machine without one answers it all the same.
      const ok = reserveEnrollment(fresh({ ekPublicKeySha256: null }), x509(xc), 'r', 2_000).state;
      expect(ok.reservation).toEqual({ id: 'r', method: 'x509', proofKey: 'tpm:c1', until: 2_000 + RESERVATION_MS, challengeExpiresAt: xc.expiresAt });
      expect(refusal(ok, x509(xc), 2_001)).toBe('challenge in use by a concurrent enrollment');
    });

    it('a tpm challenge being answered is refused to a second answer; another challenge meets the reservation as a conflict', () => {
      const busy = reserveEnrollment(fresh(), tpm(), 'r1', 2_000).state;
      expect(busy.reservation).toEqual({ id: 'r1', method: 'tpm', proofKey: 'tpm:c1', until: 2_000 + RESERVATION_MS, challengeExpiresAt: 1_000 + CHALLENGE_TTL_MS });
      expect(refusal(busy, tpm(), 2_001)).toBe('challenge in use by a concurrent enrollment');
      const e = caught(() => reserveEnrollment(busy, tpm(ch({ id: 'c2' })), 'r2', 2_001));
      expect([e.code, e.message, e.reason]).toEqual(['conflict', 'another enrollment of this machine is in progress', 'concurrent enrollment']);
      // Once the lease is over the same challenge answers again.
      expect(reserveEnrollment(busy, tpm(), 'r3', 2_000 + RESERVATION_MS).state.reservation?.id).toBe('r3');
    });

    it('rate limit: the attempt over the limit says when to retry; attempts leave the window after MACHINE_RATE_WINDOW_MS', () => {
      let s = fresh();
      for (let i = 0; i < MACHINE_RATE_MAX_ATTEMPTS; i++) {
        s = reserveEnrollment(s, jwt(`j${i}`), `r${i}`, 10_000 + i * 1_000).state;
        s = commitEnrollment(s, `r${i}`, live(`tok00${i}`), null, 10_000 + i * 1_000).state;
      }
      expect(s.attempts).toHaveLength(MACHINE_RATE_MAX_ATTEMPTS);
      const e = caught(() => reserveEnrollment(s, jwt('jx'), 'rx', 20_500));
      expect(e.code).toBe('rate_limited');
      expect(e.message).toBe('too many enrollment attempts for this machine');
      expect(e.reason).toBe(`machine rate limit: ${MACHINE_RATE_MAX_ATTEMPTS} attempts in 60 s`);
      // The first attempt (10 000) leaves the window at 70 000: 49.5 s from 20 500, rounded up.
      expect(e.retryAfterSeconds).toBe(50);
      // Just before the oldest leaves: still limited, and never told to retry in under a second.
      expect(caught(() => reserveEnrollment(s, jwt('jx'), 'rx', 10_000 + MACHINE_RATE_WINDOW_MS - 1)).retryAfterSeconds).toBe(1);
      const after = reserveEnrollment(s, jwt('jy'), 'ry', 10_000 + MACHINE_RATE_WINDOW_MS).state;
      expect(after.attempts).toEqual([...s.attempts.slice(1), 10_000 + MACHINE_RATE_WINDOW_MS]);
    });
  });

  describe('commit', () => {
    it('books the proof: reservation gone, token live, previous token owed, jwt id kept until exp, expired ones dropped', () => {
      let s = reserveEnrollment(fresh(), jwt('j1'), 'r1', 2_000).state;
      s = commitEnrollment(s, 'r1', live('aaaaaa'), { jtiSha256: 'j1', exp: 3_000 }, 2_000).state;
      s = reserveEnrollment(s, jwt('j2'), 'r2', 3_000).state;
      const { state, tokensToDelete } = commitEnrollment(s, 'r2', live('bbbbbb'), { jtiSha256: 'j2', exp: 9_000 }, 3_000);
      expect(tokensToDelete).toEqual([ref('aaaaaa')]);
      expect(state.pendingDeletes).toEqual([ref('aaaaaa')]);
      expect(state.liveToken).toEqual(live('bbbbbb'));
      expect(state.reservation).toBeNull();
      expect(state.usedJwts).toEqual({ j2: 9_000 });
      expect(state.lastEnrolledAt).toBe(3_000);
      expect(state.updatedAt).toBe(3_000);
      // Only a code proof uses the code.
      expect(state.codeUsedAt).toBeNull();
    });

    it('a code commit marks the code used at the commit time', () => {
      const s = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      expect(commitEnrollment(s, 'r1', live('aaaaaa'), null, 2_500).state.codeUsedAt).toBe(2_500);
    });

    it('a challenge answered is remembered until it expires; challenges already expired are forgotten', () => {
      // A challenge whose expiry is now has expired (reserve refuses it): forgotten.
      let s: MachineState = { ...fresh(), usedChallenges: { old: 2_000, kept: 9_999 } };
      s = reserveEnrollment(s, tpm(), 'r1', 2_000).state;
      const { state } = commitEnrollment(s, 'r1', live('aaaaaa'), null, 2_000);
      expect(state.usedChallenges).toEqual({ kept: 9_999, c1: 1_000 + CHALLENGE_TTL_MS });
      // A reservation stored before challengeExpiresAt was kept: remembered for a whole TTL.
      const legacy = { ...fresh(), reservation: { id: 'r1', method: 'tpm', proofKey: 'tpm:c9', until: 9e9 } };
      expect(commitEnrollment(legacy, 'r1', live('aaaaaa'), null, 2_000).state.usedChallenges).toEqual({ c9: 2_000 + CHALLENGE_TTL_MS });
      // Code and jwt proofs answer no challenge.
      const byCode = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      expect(commitEnrollment(byCode, 'r1', live('aaaaaa'), null, 2_000).state.usedChallenges).toEqual({});
    });

    it('a lost reservation is a conflict that owes a delete for the minted token', () => {
      const s = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      let err: unknown;
      try {
        commitEnrollment(s, 'other', live('cccccc'), null, 2_001);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(RejectionWithState);
      const r = err as RejectionWithState;
      expect(r.name).toBe('RejectionWithState');
      expect(r.message).toBe('the enrollment was superseded');
      expect([r.error.code, r.error.reason]).toEqual(['conflict', 'reservation lost before commit']);
      expect(r.tokensToDelete).toEqual([ref('cccccc')]);
      expect(r.state!.pendingDeletes).toEqual([ref('cccccc')]);
      expect(r.state!.reservation).toEqual(s.reservation);
      // No document at all: nothing to persist, the token is still owed.
      const none = (() => {
        try {
          commitEnrollment(null, 'r1', live('cccccc'), null, 2_001);
        } catch (e) {
          return e as RejectionWithState;
        }
      })()!;
      expect(none.state).toBeNull();
      expect(none.tokensToDelete).toEqual([ref('cccccc')]);
    });

    it('a machine revoked while minting refuses the commit and owes the new token a delete', () => {
      const s = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      const revokedMeanwhile: MachineState = { ...s, revokedAt: 2_001 };
      let err: RejectionWithState | undefined;
      try {
        commitEnrollment(revokedMeanwhile, 'r1', live('cccccc'), null, 2_002);
      } catch (e) {
        err = e as RejectionWithState;
      }
      expect([err!.error.code, err!.error.message, err!.error.reason]).toEqual(['attestation_rejected', 'attestation rejected', 'machine revoked while minting']);
      expect(err!.state!.liveToken).toBeNull();
      expect(err!.state!.pendingDeletes).toEqual([ref('cccccc')]);
      expect(err!.tokensToDelete).toEqual([ref('cccccc')]);
    });

    it('RejectionWithState owes nothing unless told', () => {
      expect(new RejectionWithState(new AppError('conflict', 'x'), null).tokensToDelete).toEqual([]);
    });
  });

  describe('release and the books', () => {
    it('a release frees only its own reservation; a token whose create was ambiguous is owed once', () => {
      const s = reserveEnrollment(fresh(), code(), 'r1', 2_000).state;
      expect(releaseEnrollment(s, 'other')!.reservation).toEqual(s.reservation);
      const owed = releaseEnrollment(s, 'r1', ref('qqqqqq'))!;
      expect(owed.reservation).toBeNull();
      expect(owed.pendingDeletes).toEqual([ref('qqqqqq')]);
      expect(releaseEnrollment(owed, 'r1', ref('qqqqqq'))!.pendingDeletes).toEqual([ref('qqqqqq')]);
      // Owed beside the tokens already owed.
      const more = releaseEnrollment({ ...s, pendingDeletes: [ref('pppppp')] }, 'r1', ref('qqqqqq'))!;
      expect(more.pendingDeletes).toEqual([ref('pppppp'), ref('qqqqqq')]);
      // Several owed at once (every id a resent create may have landed): each once.
      const many = releaseEnrollment({ ...s, pendingDeletes: [ref('pppppp')] }, 'r1', [ref('pppppp'), ref('qqqqqq'), ref('qqqqqq'), ref('rrrrrr')])!;
      expect(many.pendingDeletes).toEqual([ref('pppppp'), ref('qqqqqq'), ref('rrrrrr')]);
      expect(many.attempts).toEqual(s.attempts);
      expect(releaseEnrollment(s, 'r1', [])!.attempts).toEqual([]);
      // Owed even when the reservation was already gone.
      expect(releaseEnrollment(fresh(), 'r1', ref('qqqqqq'))!.pendingDeletes).toEqual([ref('qqqqqq')]);
      expect(releaseEnrollment(null, 'r1', ref('qqqqqq'))).toBeNull();
    });

    it('a release takes back the attempt its reservation counted, unless a token may have been minted', () => {
      let s = reserveEnrollment(fresh(), jwt('j1'), 'r1', 2_000).state;
      s = commitEnrollment(s, 'r1', live('aaaaaa'), null, 2_000).state;
      s = reserveEnrollment(s, jwt('j2'), 'r2', 3_000).state;
      s = reserveEnrollment(releaseEnrollment(s, 'r2')!, jwt('j3'), 'r3', 3_000).state;
      expect(s.attempts).toEqual([2_000, 3_000]);
      // Only the one attempt of that time goes, and only for its own reservation.
      expect(releaseEnrollment(s, 'r3')!.attempts).toEqual([2_000]);
      expect(releaseEnrollment(s, 'other')!.attempts).toEqual([2_000, 3_000]);
      // An ambiguous create stays counted.
      expect(releaseEnrollment(s, 'r3', ref('qqqqqq'))!.attempts).toEqual([2_000, 3_000]);
      // An attempt already out of the window is not there to take back.
      expect(releaseEnrollment({ ...s, attempts: [2_000] }, 'r3')!.attempts).toEqual([2_000]);
    });

    it('confirmed deletes leave the books, the live token included', () => {
      const s: MachineState = { ...enrolled(fresh(), live('aaaaaa')), pendingDeletes: [ref('zzzzzz'), ref('yyyyyy')] };
      const after = confirmDeleted(s, ['zzzzzz', 'aaaaaa'])!;
      expect(after.pendingDeletes).toEqual([ref('yyyyyy')]);
      expect(after.liveToken).toBeNull();
      expect(confirmDeleted(s, ['yyyyyy'])!.liveToken).toMatchObject({ id: 'aaaaaa' });
      expect(confirmDeleted(null, ['x'])).toBeNull();
    });

    it('due for deletion: what is owed, and the live token from its expiry on (never one without expiry)', () => {
      const s: MachineState = { ...enrolled(fresh(), live('aaaaaa', 5_000)), pendingDeletes: [ref('zzzzzz')] };
      expect(dueForDeletion(s, 4_999)).toEqual([ref('zzzzzz')]);
      expect(dueForDeletion(s, 5_000)).toEqual([ref('zzzzzz'), ref('aaaaaa')]);
      expect(dueForDeletion(enrolled(fresh(), live('aaaaaa', null)), 9e15)).toEqual([]);
      expect(dueForDeletion(null, 1)).toEqual([]);
    });

    it('the alarm: soon while deletes are owed, else at the live token’s expiry, else never', () => {
      const s = enrolled(fresh(), live('aaaaaa', 5_000));
      expect(nextAlarmAt({ ...s, pendingDeletes: [ref('zzzzzz')] }, 100, 30_000)).toBe(30_100);
      expect(nextAlarmAt(s, 100, 30_000)).toBe(5_000);
      expect(nextAlarmAt(fresh(), 100, 30_000)).toBeNull();
      expect(nextAlarmAt(null, 100, 30_000)).toBeNull();
    });
  });

  describe('fleet events', () => {
    const registered = (at: number, over: Partial<MachineRegistration> = {}) => ({ type: 'machine.registered' as const, registration: reg(over), at });
    const revoked = (at: number) => ({ type: 'machine.revoked' as const, at });

    it('a revocation of an unknown machine leaves a revoked tombstone that an older registration cannot lift', () => {
      const tomb = applyFleetEvent(null, 'edge-9', revoked(5_000), 6_000);
      expect(tomb.applied).toBe(true);
      expect(tomb.tokensToDelete).toEqual([]);
      expect(tomb.state).toMatchObject({ revokedAt: 6_000, createdAt: 6_000, lastFleetEventAt: 5_000, lastFleetEventType: 'machine.revoked', liveToken: null, pendingDeletes: [], attempts: [], usedJwts: {} });
      expect(tomb.state!.registration).toEqual({ id: 'edge-9', enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null });
      const late = applyFleetEvent(tomb.state, 'edge-9', registered(4_000, { id: 'edge-9' }), 7_000);
      expect(late).toEqual({ state: tomb.state, applied: false, tokensToDelete: [] });
    });

    it('a registration at the same occurrence as a revocation is refused and owes nothing; a repeated revocation applies', () => {
      const { state } = applyFleetEvent(null, 'edge-1', revoked(5_000), 6_000);
      expect(applyFleetEvent(state, 'edge-1', registered(5_000), 6_001)).toEqual({ state, applied: false, tokensToDelete: [] });
      const again = applyFleetEvent({ ...state!, pendingDeletes: [ref('zzzzzz')] }, 'edge-1', revoked(5_000), 6_002);
      expect(again.applied).toBe(true);
      expect(again.tokensToDelete).toEqual([ref('zzzzzz')]);
    });

    it('with no event applied before, an event of any occurrence time applies (1969 included)', () => {
      expect(applyFleetEvent(null, 'edge-1', registered(-1_000), 6_000).applied).toBe(true);
      const { state } = applyRegistration(null, reg(), 0);
      expect(applyFleetEvent(state, 'edge-1', revoked(-1_000), 6_000).applied).toBe(true);
    });

    it('a revocation event deletes the live token', () => {
      const { state } = applyFleetEvent(null, 'edge-1', registered(1_000), 1_000);
      const withToken = enrolled(state!, live('aaaaaa'));
      const r = applyFleetEvent(withToken, 'edge-1', revoked(3_000), 3_000);
      expect(r.tokensToDelete).toEqual([ref('aaaaaa')]);
      expect(r.state!.liveToken).toBeNull();
      expect(r.state!.revokedAt).toBe(3_000);
    });

    it('a registration event applies the registration and records its occurrence', () => {
      const r = applyFleetEvent(null, 'edge-1', registered(1_000), 1_500);
      expect(r.applied).toBe(true);
      expect(r.tokensToDelete).toEqual([]);
      expect(r.state).toMatchObject({ registration: reg(), createdAt: 1_500, lastFleetEventAt: 1_000, lastFleetEventType: 'machine.registered' });
      // A registration at the same occurrence as an earlier registration applies (it is not stale).
      const again = applyFleetEvent(r.state, 'edge-1', registered(1_000, { labels: { site: 'south' } }), 1_600);
      expect(again.applied).toBe(true);
      expect(again.state!.registration.labels).toEqual({ site: 'south' });
    });

    it('the last applied event delivered again is never applied twice, even once the event log forgot its id', () => {
      const first = applyFleetEvent(null, 'edge-1', { ...registered(1_000), eventId: 'evt-1' }, 1_500);
      expect(first.state).toMatchObject({ lastFleetEventId: 'evt-1' });
      // The same event (its id pruned from the log after the retention): stale, nothing changes.
      const replay = applyFleetEvent(first.state, 'edge-1', { ...registered(1_000, { labels: { site: 'south' } }), eventId: 'evt-1' }, 900_000);
      expect(replay).toEqual({ state: first.state, applied: false, tokensToDelete: [] });
      // Another event at the same occurrence still applies; so does a revocation delivered again after a later id.
      expect(applyFleetEvent(first.state, 'edge-1', { ...registered(1_000), eventId: 'evt-2' }, 1_600).applied).toBe(true);
      const rev = applyFleetEvent(first.state, 'edge-1', { ...revoked(2_000), eventId: 'evt-3' }, 2_000);
      expect(rev.state).toMatchObject({ lastFleetEventId: 'evt-3', revokedAt: 2_000 });
      expect(applyFleetEvent(rev.state, 'edge-1', { ...revoked(2_000), eventId: 'evt-3' }, 3_000).applied).toBe(false);
    });

    it('the far-future bound: exactly at the tolerance applies, the refusal says by how much', () => {
      const e = caught(() => applyFleetEvent(null, 'edge-1', revoked(1_000 + FLEET_EVENT_MAX_FUTURE_MS + 1), 1_000));
      expect([e.code, e.message, e.reason]).toEqual(['invalid_request', 'occurredAt is too far in the future', `occurredAt ${FLEET_EVENT_MAX_FUTURE_MS + 1} ms ahead`]);
      // A stored occurrence beyond the bound counts as the bound: an event just under it is stale.
      const { state } = applyFleetEvent(null, 'edge-1', registered(1_000), 1_000);
      const poisoned = { ...state!, lastFleetEventAt: 9e15 };
      expect(applyFleetEvent(poisoned, 'edge-1', revoked(10_000 + FLEET_EVENT_MAX_FUTURE_MS - 1), 10_000).applied).toBe(false);
    });
  });

  it('constant-time hex comparison: equal strings only', () => {
    expect(constantTimeEqualHex('abcd', 'abcd')).toBe(true);
    expect(constantTimeEqualHex('abcd', 'abce')).toBe(false);
    expect(constantTimeEqualHex('bbcd', 'abcd')).toBe(false);
    expect(constantTimeEqualHex('abc', 'abcd')).toBe(false);
    expect(constantTimeEqualHex('abcd', 'abc')).toBe(false);
    expect(constantTimeEqualHex('', '')).toBe(true);
  });
});
