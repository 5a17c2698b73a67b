// The per-machine state machine: single use, one live token, revocation, rate limits.
import { describe, expect, it } from 'vitest';
import { AppError } from '../errors.ts';
import { createMemoryMachineStore } from '../store/memory.ts';
import { CHALLENGE_TTL_MS, dueForDeletion, MACHINE_RATE_MAX_ATTEMPTS, nextAlarmAt, RESERVATION_MS, type MachineRegistration } from './machine-state.ts';

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

  it('unknown machine → machine_unknown; revoked → machine_revoked', async () => {
    const s = createMemoryMachineStore();
    expect(await codeOf(s.reserve('nope', code(), 'r', 1))).toBe('machine_unknown');
    expect(await codeOf(s.revoke('nope', 1))).toBe('machine_unknown');
    await s.register(reg(), 0);
    await s.revoke('edge-1', 1);
    expect(await codeOf(s.reserve('edge-1', code(), 'r', 2))).toBe('machine_revoked');
  });

  it('a new token puts the previous one on the delete list', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ enrollmentCodeSha256: null }), 0);
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

  it('jwtSubject must match `<iss>|<sub>` or `<sub>`', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg({ jwtSubject: 'https://i|device-1' }), 0);
    const jwt = (sub: string, j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: sub });
    expect(await codeOf(s.reserve('edge-1', jwt('device-2', 'x'), 'r', 1))).toBe('attestation_rejected');
    await expect(s.reserve('edge-1', jwt('device-1', 'y'), 'r2', 2)).resolves.toBeDefined();
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
    await s.register(reg({ enrollmentCodeSha256: null }), 0);
    const jwt = (j: string) => ({ method: 'jwt' as const, jtiSha256: j, exp: 9e9, issuer: 'https://i', subject: 's' });
    await s.reserve('edge-1', jwt('a'), 'r1', 0);
    expect(await codeOf(s.reserve('edge-1', jwt('b'), 'r2', 10))).toBe('conflict');
    await s.reserve('edge-1', jwt('b'), 'r3', RESERVATION_MS + 1);
    expect(await codeOf(s.commit('edge-1', 'r1', token('dddddd'), null, RESERVATION_MS + 2))).toBe('conflict');
  });

  it('rate-limits attempts per machine, counting failures too', async () => {
    const s = createMemoryMachineStore();
    await s.register(reg(), 0);
    for (let i = 0; i < MACHINE_RATE_MAX_ATTEMPTS; i++) expect(await codeOf(s.reserve('edge-1', code('b'.repeat(64)), `r${i}`, 1_000 + i))).toBe('attestation_rejected');
    const err = (await s.reserve('edge-1', code(), 'rx', 2_000).catch((e) => e)) as AppError;
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterSeconds).toBeGreaterThan(0);
    await expect(s.reserve('edge-1', code(), 'ry', 62_000)).resolves.toBeDefined();
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

  describe('TPM challenges', () => {
    const ch = { id: 'c1', secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64) };
    const tpm = (secret = 'f'.repeat(64), id = 'c1') => ({ method: 'tpm' as const, challengeId: id, secretSha256: secret });

    it('a challenge answers once', async () => {
      const s = createMemoryMachineStore();
      await s.register(reg(), 0);
      await s.openChallenge('edge-1', ch, 1_000);
      await s.reserve('edge-1', tpm(), 'r1', 2_000);
      await s.commit('edge-1', 'r1', token('aaaaaa'), null, 2_000);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r2', 3_000))).toBe('attestation_rejected');
    });
    it('a wrong secret, an unknown challenge, an expired challenge are attestation_rejected', async () => {
      const s = createMemoryMachineStore();
      await s.register(reg(), 0);
      await s.openChallenge('edge-1', ch, 1_000);
      expect(await codeOf(s.reserve('edge-1', tpm('0'.repeat(64)), 'r1', 2_000))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', tpm('f'.repeat(64), 'c2'), 'r2', 2_000))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r3', 1_000 + CHALLENGE_TTL_MS))).toBe('attestation_rejected');
    });
    it('with a PCR policy, the proof must carry a quote by the challenged AK', async () => {
      const s = createMemoryMachineStore();
      await s.register(reg(), 0);
      await s.openChallenge('edge-1', { ...ch, akName: '000b' + 'a'.repeat(64), quoteRequired: true }, 1_000);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r1', 2_000))).toBe('attestation_rejected');
      expect(await codeOf(s.reserve('edge-1', { ...tpm(), quotedAkName: '000b' + 'b'.repeat(64) }, 'r2', 2_000))).toBe('attestation_rejected');
      await expect(s.reserve('edge-1', { ...tpm(), quotedAkName: '000b' + 'a'.repeat(64) }, 'r3', 2_000)).resolves.toBeDefined();
    });
    it('a challenge of one kind cannot be answered as the other', async () => {
      const s = createMemoryMachineStore();
      await s.register(reg(), 0);
      await s.openChallenge('edge-1', { ...ch, kind: 'x509' }, 1_000);
      expect(await codeOf(s.reserve('edge-1', tpm(), 'r1', 2_000))).toBe('attestation_rejected');
      await expect(s.reserve('edge-1', { ...tpm(), method: 'x509' }, 'r2', 2_000)).resolves.toBeDefined();
    });
    it('opening a challenge needs a registered, unrevoked machine', async () => {
      const s = createMemoryMachineStore();
      expect(await codeOf(s.openChallenge('edge-1', ch, 0))).toBe('machine_unknown');
      await s.register(reg(), 0);
      await s.revoke('edge-1', 1);
      expect(await codeOf(s.openChallenge('edge-1', ch, 2))).toBe('machine_revoked');
    });
  });
});
