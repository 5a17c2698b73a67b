// The per-machine state machine: single use, one live token, revocation, rate limits.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createMemoryMachineStore } from '../store/memory.ts';
import { applyFleetEvent, CHALLENGE_TTL_MS, dueForDeletion, FLEET_EVENT_MAX_FUTURE_MS, MACHINE_RATE_MAX_ATTEMPTS, nextAlarmAt, RESERVATION_MS, type ChallengeRecord, type MachineRegistration } from './machine-state.ts';

const reg = (over: Partial<MachineRegistration> = {}): MachineRegistration => ({
  id: 'edge-1',
  enrollmentCodeSha256: 'a'.repeat(64),
  enrollmentCodeExpiresAt: 10_000_000,
  jwtSubject: null,
  ekPublicKeySha256: null,
  certificateSha256: null,
  groups: null,
  labels: {},
  tokenTtlSeconds: null,
  ...over,
});
const code = (h = 'a'.repeat(64)) => ({ method: 'code' as const, codeSha256: h });
const token = (id: string, expiresAt: number | null = 5_000) => ({ id, uid: `uid-${id}`, expiresAt, mintedAt: 1_000, method: 'code' });
const codeOf = async (p: Promise<unknown>) => ((await p.catch((e) => e)) as AppError).code;

describe('machine state', () => {
  it('reserve → commit uses the code once', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'r1', 1_000);
    expect(await s.commit('edge-1', 'r1', token('aaaaaa'), null, 1_000)).toEqual([]);
    expect(await codeOf(s.reserve('edge-1', code(), 'r2', 2_000))).toBe('code_used');
    expect((await s.get('edge-1'))!.liveToken).toMatchObject({ id: 'aaaaaa' });
  });

  it('a concurrent second use of the same code is code_used, and a release makes it usable again', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'r1', 1_000);
    expect(await codeOf(s.reserve('edge-1', code(), 'r2', 1_001))).toBe('code_used');
    await s.release('edge-1', 'r1');
    await expect(s.reserve('edge-1', code(), 'r3', 1_002)).resolves.toBeDefined();
  });

  it('a wrong code is attestation_rejected even after the code was used', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    expect(await codeOf(s.reserve('edge-1', code('b'.repeat(64)), 'r1', 1_000))).toBe('attestation_rejected');
  });

  it('an expired code is attestation_rejected', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeExpiresAt: 500 }), 0);
    expect(await codeOf(s.reserve('edge-1', code(), 'r1', 1_000))).toBe('attestation_rejected');
  });

  it('unknown, wrong-code and revoked machines get one refusal (attestation_rejected); the reasons differ', async () => {
    const s = createMemoryMachineStore();
    const err = async (p: Promise<unknown>) => (await p.catch((e) => e)) as AppError;
    const unknown = await err(s.reserve('nope', code(), 'r', 1));
    await s.register(reg(), 0);
    const wrong = await err(s.reserve('edge-1', code('b'.repeat(64)), 'r', 1));
    await s.revoke('edge-1', 1);
    const revoked = await err(s.reserve('edge-1', code(), 'r', 2));
    for (const e of [unknown, wrong, revoked]) expect({ code: e.code, message: e.message }).toEqual({ code: 'attestation_rejected', message: 'attestation rejected' });
    expect(new Set([unknown.reason, wrong.reason, revoked.reason]).size).toBe(3);
    // Admin calls still say what they mean.
    expect(await codeOf(s.revoke('nope', 1))).toBe('machine_unknown');
  });

  it('a new token puts the previous one on the delete list', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeSha256: null, jwtSubject: 'https://i|s' }), 0);
    const jwt = (j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9_999_999, issuer: 'https://i', subject: 's' });
    await s.reserve('edge-1', jwt('j1'), 'r1', 1);
    await s.commit('edge-1', 'r1', token('aaaaaa'), { jtiSha256: 'j1', exp: 9_999_999 }, 1);
    await s.reserve('edge-1', jwt('j2'), 'r2', 2);
    expect(await s.commit('edge-1', 'r2', token('bbbbbb'), { jtiSha256: 'j2', exp: 9_999_999 }, 2)).toEqual([{ id: 'aaaaaa', uid: 'uid-aaaaaa' }]);
    // The same JWT id is refused until its exp.
    expect(await codeOf(s.reserve('edge-1', jwt('j1'), 'r3', 3))).toBe('attestation_rejected');
    await s.confirmDeleted('edge-1', ['aaaaaa']);
    expect(s.states.get('edge-1')!.pendingDeletes).toEqual([]);
  });

  it('the jwt method needs a registered `<iss>|<sub>` and matches the subject with its issuer only', async () => {
    const s = createMemoryMachineStore();
    const jwt = (sub: string, j: string, issuer = 'https://i') => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer, subject: sub });
    const reasonOf = async (p: Promise<unknown>) => ((await p.catch((e) => e)) as AppError).reason;
    // No subject registered: the method is off, whatever the token says.
    await s.register(reg({ jwtSubject: null }), 0);
    expect(await reasonOf(s.reserve('edge-1', jwt('device-1', 'a'), 'r', 1))).toMatch(/jwt method is off/);
    // A bare subject (stored before registration refused it) matches nothing.
    await s.register(reg({ jwtSubject: 'device-1' }), 0);
    expect(await codeOf(s.reserve('edge-1', jwt('device-1', 'b'), 'r', 1))).toBe('attestation_rejected');
    await s.register(reg({ jwtSubject: 'https://i|device-1' }), 0);
    expect(await codeOf(s.reserve('edge-1', jwt('device-2', 'x'), 'r', 1))).toBe('attestation_rejected');
    expect(await codeOf(s.reserve('edge-1', jwt('device-1', 'y', 'https://other'), 'r', 1))).toBe('attestation_rejected');
    await expect(s.reserve('edge-1', jwt('device-1', 'z'), 'r2', 2)).resolves.toBeDefined();
  });

  it('revocation owes a delete for the live token; a commit after revocation owes one for the new token', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'r1', 1);
    const { tokensToDelete } = await s.revoke('edge-1', 2);
    expect(tokensToDelete).toEqual([]);
    expect(await codeOf(s.commit('edge-1', 'r1', token('cccccc'), null, 3))).toBe('conflict');
    expect(s.states.get('edge-1')!.pendingDeletes).toEqual([{ id: 'cccccc', uid: 'uid-cccccc' }]);
  });

  it('a lapsed reservation lets another proof in, and the late commit is refused', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeSha256: null, jwtSubject: 'https://i|s' }), 0);
    const jwt = (j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's' });
    await s.reserve('edge-1', jwt('a'), 'r1', 0);
    expect(await codeOf(s.reserve('edge-1', jwt('b'), 'r2', 10))).toBe('conflict');
    await s.reserve('edge-1', jwt('b'), 'r3', RESERVATION_MS + 1);
    expect(await codeOf(s.commit('edge-1', 'r1', token('dddddd'), null, RESERVATION_MS + 2))).toBe('conflict');
  });

  it('failed proofs do not count: a flood of wrong codes cannot lock out the code holder', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    for (let i = 0; i < 10 * MACHINE_RATE_MAX_ATTEMPTS; i++) expect(await codeOf(s.reserve('edge-1', code('b'.repeat(64)), `r${i}`, 1_000 + i))).toBe('attestation_rejected');
    await expect(s.reserve('edge-1', code(), 'rx', 2_000)).resolves.toBeDefined();
  });

  it('rate-limits attempts per machine once the proof holds', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeSha256: null, jwtSubject: 'https://i|s' }), 0);
    const jwt = (j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's' });
    for (let i = 0; i < MACHINE_RATE_MAX_ATTEMPTS; i++) {
      await s.reserve('edge-1', jwt(`j${i}`), `r${i}`, 1_000 + i);
      await s.commit('edge-1', `r${i}`, token(`tok00${i}`), { jtiSha256: `j${i}`, exp: 9e9 }, 1_000 + i);
    }
    const err = (await s.reserve('edge-1', jwt('jx'), 'rx', 2_000).catch((e) => e)) as AppError;
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    await expect(s.reserve('edge-1', jwt('jy'), 'ry', 62_000)).resolves.toBeDefined();
  });

  it('a released attempt (nothing minted: cluster_busy, an outage) is not counted; an ambiguous one is', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeSha256: null, jwtSubject: 'https://i|s' }), 0);
    const jwt = (j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's' });
    for (let i = 0; i < 3 * MACHINE_RATE_MAX_ATTEMPTS; i++) {
      await s.reserve('edge-1', jwt(`j${i}`), `r${i}`, 1_000 + i);
      await s.release('edge-1', `r${i}`);
    }
    for (let i = 0; i < MACHINE_RATE_MAX_ATTEMPTS; i++) {
      await s.reserve('edge-1', jwt(`k${i}`), `q${i}`, 2_000 + i);
      await s.release('edge-1', `q${i}`, { id: `amb00${i}`, uid: '' });
    }
    expect(((await s.reserve('edge-1', jwt('jx'), 'rx', 3_000).catch((e) => e)) as AppError).code).toBe('rate_limited');
  });

  it('a code reservation never released lapses after RESERVATION_MS', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'gone', 1_000); // the client vanished mid-mint: no release, no commit
    expect(await codeOf(s.reserve('edge-1', code(), 'r2', 1_000 + RESERVATION_MS - 1))).toBe('code_used');
    await expect(s.reserve('edge-1', code(), 'r3', 1_000 + RESERVATION_MS)).resolves.toBeDefined();
    await s.commit('edge-1', 'r3', token('aaaaaa'), null, 1_000 + RESERVATION_MS);
    expect(await codeOf(s.reserve('edge-1', code(), 'r4', 1_000 + RESERVATION_MS + 1))).toBe('code_used');
  });

  it('a new registration clears a reservation left behind', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'gone', 1_000);
    await s.register(reg({ enrollmentCodeSha256: 'c'.repeat(64) }), 1_001);
    await expect(s.reserve('edge-1', code('c'.repeat(64)), 'r2', 1_002)).resolves.toBeDefined();
    // The vanished client's commit, if it ever comes, is refused and its token owed a delete.
    expect(await codeOf(s.commit('edge-1', 'gone', token('zzzzzz'), null, 1_003))).toBe('conflict');
    expect(s.states.get('edge-1')!.pendingDeletes).toContainEqual({ id: 'zzzzzz', uid: 'uid-zzzzzz' });
  });

  it('re-registering with a new code makes it usable; re-registering reinstates a revoked machine', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'r1', 1);
    await s.commit('edge-1', 'r1', token('aaaaaa'), null, 1);
    await s.revoke('edge-1', 2);
    const { created, machine } = await s.register(reg({ enrollmentCodeSha256: 'c'.repeat(64) }), 3);
    expect(created).toBe(false);
    expect(machine.revokedAt).toBeNull();
    expect(machine.enrollmentCodeUsed).toBe(false);
    await expect(s.reserve('edge-1', code('c'.repeat(64)), 'r2', 4)).resolves.toBeDefined();
  });

  it('alarm schedule: expired live token and owed deletes are due', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    await s.reserve('edge-1', code(), 'r1', 1);
    await s.commit('edge-1', 'r1', token('aaaaaa', 5_000), null, 1);
    const st = s.states.get('edge-1')!;
    expect(nextAlarmAt(st, 10, 30_000)).toBe(5_000);
    expect(dueForDeletion(st, 4_999)).toEqual([]);
    expect(dueForDeletion(st, 5_000)).toEqual([{ id: 'aaaaaa', uid: 'uid-aaaaaa' }]);
  });

  describe('TPM and device-certificate challenges', () => {
    const EK = 'e'.repeat(64);
    const CERT = 'd'.repeat(64);
    const ch = (over: Partial<ChallengeRecord> = {}): ChallengeRecord => ({ id: 'c1', machineId: 'edge-1', kind: 'tpm', secretSha256: 'f'.repeat(64), ekSha256: EK, issuedAt: 1_000, expiresAt: 1_000 + CHALLENGE_TTL_MS, ...over });
    const tpm = (challenge = ch(), secret = 'f'.repeat(64)) => ({ method: 'tpm' as const, challenge, secretSha256: secret });
    const registered = async () => {
      const s = createMemoryMachineStore();
      await s.register(reg({ ekPublicKeySha256: EK }), 0);
      return s;
    };

    it('a challenge answers once', async () => {
      const s = await registered();
      await s.reserve('edge-1', tpm(), 'r1', 2_000);
      await s.commit('edge-1', 'r1', token('aaaaaa'), null, 2_000);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r2', 3_000))).toBe('attestation_rejected');
      // Another open challenge of the same machine still answers.
      await expect(s.reserve('edge-1', tpm(ch({ id: 'c2' })), 'r3', 3_000)).resolves.toBeDefined();
    });
    it('a wrong secret, an expired challenge, a challenge for another machine are attestation_rejected', async () => {
      const s = await registered();
      expect(await codeOf(s.reserve('edge-1', tpm(ch(), '0'.repeat(64)), 'r1', 2_000))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r3', 1_000 + CHALLENGE_TTL_MS))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', tpm(ch({ machineId: 'edge-2' })), 'r4', 2_000))).toBe('attestation_rejected');
    });
    it('with a PCR policy, the proof must carry a quote by the challenged AK', async () => {
      const s = await registered();
      const q = ch({ akName: '000b' + 'a'.repeat(64), quoteRequired: true });
      expect(await codeOf(s.reserve('edge-1', tpm(q), 'r1', 2_000))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', { ...tpm(q), quotedAkName: '000b' + 'b'.repeat(64) }, 'r2', 2_000))).toBe('attestation_rejected');
      await expect(s.reserve('edge-1', { ...tpm(q), quotedAkName: '000b' + 'a'.repeat(64) }, 'r3', 2_000)).resolves.toBeDefined();
    });
    it('a challenge of one kind cannot be answered as the other', async () => {
      const s = createMemoryMachineStore();
      await s.register(reg({ certificateSha256: CERT }), 0);
      const x = ch({ kind: 'x509', secretSha256: CERT, ekSha256: '' });
      expect(await codeOf(s.reserve('edge-1', { method: 'tpm', challenge: x, secretSha256: CERT }, 'r1', 2_000))).toBe('attestation_rejected');
      await expect(s.reserve('edge-1', { method: 'x509', challenge: x, secretSha256: CERT }, 'r2', 2_000)).resolves.toBeDefined();
    });
    it('open challenges die on re-registration with a new EK or certificate, and on revocation', async () => {
      const s = await registered();
      await s.register(reg({ ekPublicKeySha256: '1'.repeat(64) }), 1_500);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r1', 2_000))).toBe('attestation_rejected');
      // Back to the first EK: a challenge issued before the change still answers nothing.
      await s.register(reg({ ekPublicKeySha256: EK }), 1_600);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r2', 2_000))).toBe('attestation_rejected');
      await expect(s.reserve('edge-1', tpm(ch({ id: 'c3', issuedAt: 1_700 })), 'r3', 2_000)).resolves.toBeDefined();

      const x = createMemoryMachineStore();
      await x.register(reg({ certificateSha256: CERT }), 0);
      const xc = ch({ kind: 'x509', secretSha256: CERT, ekSha256: '' });
      await x.register(reg({ certificateSha256: '2'.repeat(64) }), 1_500);
      expect(await codeOf(x.reserve('edge-1', { method: 'x509', challenge: xc, secretSha256: CERT }, 'r1', 2_000))).toBe('attestation_rejected');

      const r = await registered();
      await r.revoke('edge-1', 1_500);
      await r.register(reg({ ekPublicKeySha256: EK }), 1_600);
      expect(await codeOf(r.reserve('edge-1', tpm(), 'r1', 2_000))).toBe('attestation_rejected');
    });
    it('a re-registration that keeps the EK keeps open challenges', async () => {
      const s = await registered();
      await s.register(reg({ ekPublicKeySha256: EK, labels: { a: 'b' } }), 1_500);
      await expect(s.reserve('edge-1', tpm(), 'r1', 2_000)).resolves.toBeDefined();
    });
  });

  describe('fleet events', () => {
    const registered = { type: 'machine.registered' as const, registration: reg() };
    it('a revocation wins a tie: a registered event at the same occurredAt does not reinstate', () => {
      let { state } = applyFleetEvent(null, 'edge-1', { ...registered, at: 1_000 }, 2_000);
      ({ state } = applyFleetEvent(state, 'edge-1', { type: 'machine.revoked', at: 5_000 }, 6_000));
      const tie = applyFleetEvent(state, 'edge-1', { ...registered, at: 5_000 }, 6_001);
      expect(tie.applied).toBe(false);
      expect(tie.state!.revokedAt).not.toBeNull();
      // The other order at one time: the revocation applies.
      let { state: s2 } = applyFleetEvent(null, 'edge-1', { ...registered, at: 5_000 }, 6_000);
      const rev = applyFleetEvent(s2, 'edge-1', { type: 'machine.revoked', at: 5_000 }, 6_001);
      expect(rev.applied).toBe(true);
      expect(rev.state!.revokedAt).not.toBeNull();
      s2 = rev.state;
      // A later registration reinstates.
      expect(applyFleetEvent(s2, 'edge-1', { ...registered, at: 5_001 }, 6_002).state!.revokedAt).toBeNull();
    });
    it('an occurredAt beyond now + the signature tolerance is refused; within it, applied', () => {
      const now = 1_000_000;
      expect(() => applyFleetEvent(null, 'edge-1', { ...registered, at: now + FLEET_EVENT_MAX_FUTURE_MS + 1 }, now)).toThrow(expect.objectContaining({ code: 'invalid_request' }));
      expect(applyFleetEvent(null, 'edge-1', { ...registered, at: now + FLEET_EVENT_MAX_FUTURE_MS }, now).applied).toBe(true);
    });
    it('a far-future occurredAt stored earlier blocks later events no longer than the tolerance', () => {
      const { state } = applyFleetEvent(null, 'edge-1', { ...registered, at: 1_000 }, 2_000);
      const poisoned = { ...state!, lastFleetEventAt: 9e15 };
      const now = 10_000_000;
      expect(applyFleetEvent(poisoned, 'edge-1', { type: 'machine.revoked', at: now + FLEET_EVENT_MAX_FUTURE_MS }, now).applied).toBe(true);
    });
    it('an older event is stale', () => {
      const { state } = applyFleetEvent(null, 'edge-1', { type: 'machine.revoked', at: 5_000 }, 6_000);
      expect(applyFleetEvent(state, 'edge-1', { ...registered, at: 4_999 }, 6_001).applied).toBe(false);
    });
  });
});
