// The TPM challenge and its answer through the enrollment use case, on the swtpm vectors
// (test/vectors/tpm-swtpm.json): opaque challenge ids, uniform refusals, a revoked machine's EK
// never auto-registering, and a legitimate prover getting through while an attacker hammers the
// same machine. The TPM's side (ActivateCredential) is stood in for by reading the credential the
// service sealed, as only the TPM holding the EK could.
import { afterEach, describe, expect, it, vi } from 'vitest';
import vectors from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { enroll, type EnrollDeps } from '../../enroll/enroll.ts';
import type { AppError } from '../../errors.ts';
import { createMemoryAuditLog, createMemoryChallengeStore, createMemoryMachineIndex, createMemoryMachineStore } from '../../store/memory.ts';
import type { MachineRegistration } from '../../enroll/machine-state.ts';
import { createTpmVerifier, issueTpmChallenge, parseEkRoots, verifyEkCertificate, CREDENTIAL_BYTES, type ChallengeDeps } from './index.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const EK_CERT = vectors.ekCertDerBase64;
const AK = vectors.akPublicBase64;
const trust = parseEkRoots(vectors.ekRootsPem);
const reg = (id: string, over: Partial<MachineRegistration> = {}): MachineRegistration => ({ id, enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null, ...over });

async function world(over: Partial<ChallengeDeps> = {}) {
  const index = createMemoryMachineIndex();
  const machines = createMemoryMachineStore((v) => void index.upsert(v));
  const challenges = createMemoryChallengeStore();
  const audit = createMemoryAuditLog();
  const ekSha = (await verifyEkCertificate(b64(EK_CERT), trust, new Date())).sha256;
  let clock = Date.now();
  const now = () => new Date(clock);
  let minted = 0;
  const challengeDeps: ChallengeDeps = { machines, index, challenges, ekTrust: trust, allowUnregistered: false, quoteRequired: false, now, newId: () => crypto.randomUUID(), ...over };
  const enrollDeps: EnrollDeps = {
    machines,
    index,
    audit,
    tokens: {
      mint: async () => {
        const id = `tok${String(++minted).padStart(3, '0')}`;
        return { token: { id, secret: '0123456789abcdef', token: `${id}.0123456789abcdef` }, uid: `uid-${id}`, expiresAt: new Date(clock + 600_000), createdAt: null } as never;
      },
      remove: async () => true,
    },
    caHash: async () => 'a'.repeat(64),
    verifiers: { tpm: createTpmVerifier(challenges) },
    defaults: { tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], serverUrl: 'https://k3s.test:6443' },
    now,
    newId: () => crypto.randomUUID(),
  };
  return { machines, index, challenges, audit, ekSha, challengeDeps, enrollDeps, tick: (ms: number) => (clock += ms) };
}

/** Opens a challenge and returns it with the credential the TPM would recover from it. */
async function openChallenge(deps: ChallengeDeps, body: Record<string, unknown> = { method: 'tpm', ekCert: EK_CERT, akPublic: AK }) {
  let credential: Uint8Array | null = null;
  const real = crypto.getRandomValues.bind(crypto);
  const spy = vi.spyOn(crypto, 'getRandomValues').mockImplementation(<T extends ArrayBufferView | null>(a: T): T => {
    const out = real(a as never) as T;
    if (credential === null && a instanceof Uint8Array && a.length === CREDENTIAL_BYTES) credential = new Uint8Array(a);
    return out;
  });
  try {
    const ch = await issueTpmChallenge(body, deps);
    return { ...ch, secret: Buffer.from(credential!).toString('base64') };
  } finally {
    spy.mockRestore();
  }
}

const failure = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as AppError;

afterEach(() => vi.restoreAllMocks());

describe('issueTpmChallenge', () => {
  it('answers an opaque challenge id that does not name the machine; the answer enrolls once', async () => {
    const w = await world();
    await w.machines.register(reg('edge-secret-name', { ekPublicKeySha256: w.ekSha }), 0);
    const ch = await openChallenge(w.challengeDeps);
    expect(ch.machineId).toBe('edge-secret-name');
    expect(ch.challengeId).not.toContain('edge');
    expect(ch.challengeId).toMatch(/^[0-9a-f-]{36}$/);
    const ok = await enroll({ method: 'tpm', challengeId: ch.challengeId, secret: ch.secret }, { requestId: 'r', clientIp: null }, w.enrollDeps);
    expect(ok.machineId).toBe('edge-secret-name');
    expect((await failure(enroll({ method: 'tpm', challengeId: ch.challengeId, secret: ch.secret }, { requestId: 'r', clientIp: null }, w.enrollDeps))).code).toBe('attestation_rejected');
  });

  it('an unregistered EK and a revoked machine are refused alike (attestation_rejected), reasons in the error only', async () => {
    const w = await world();
    const unknown = await failure(openChallenge(w.challengeDeps));
    await w.machines.register(reg('edge-r', { ekPublicKeySha256: w.ekSha }), 0);
    await w.machines.revoke('edge-r', 1);
    const revoked = await failure(openChallenge(w.challengeDeps));
    expect([unknown.code, revoked.code]).toEqual(['attestation_rejected', 'attestation_rejected']);
    expect(unknown.message).toBe(revoked.message);
    expect(unknown.reason).toMatch(/not registered/);
    expect(revoked.reason).toMatch(/revoked/);
  });

  it('TPM_ALLOW_UNREGISTERED: the EK of a revoked machine never auto-registers under a new id', async () => {
    const w = await world({ allowUnregistered: true });
    await w.machines.register(reg('edge-old', { ekPublicKeySha256: w.ekSha }), 0);
    await w.machines.revoke('edge-old', 1);
    expect((await failure(openChallenge(w.challengeDeps))).code).toBe('attestation_rejected');
    expect(await w.machines.get(`tpm-${w.ekSha.slice(0, 20)}`)).toBeNull();
    expect(w.challenges.records.size).toBe(0);
  });

  it('TPM_ALLOW_UNREGISTERED: an EK nobody has auto-registers once, as tpm-<hash>', async () => {
    const w = await world({ allowUnregistered: true });
    const ch = await openChallenge(w.challengeDeps);
    expect(ch.machineId).toBe(`tpm-${w.ekSha.slice(0, 20)}`);
    await w.machines.revoke(ch.machineId, 1);
    expect((await failure(openChallenge(w.challengeDeps))).code).toBe('attestation_rejected');
  });

  it('a legitimate prover gets through while an attacker opens challenges and answers wrongly for the same machine', async () => {
    const w = await world();
    await w.machines.register(reg('edge-1', { ekPublicKeySha256: w.ekSha }), 0);
    const legit = await openChallenge(w.challengeDeps);
    // The attacker holds only public material (the EK certificate, any AK): 40 challenges and
    // 40 wrong answers to them, for this machine, while the legitimate TPM activates its credential.
    for (let i = 0; i < 40; i++) {
      const a = await openChallenge(w.challengeDeps);
      const wrong = await failure(enroll({ method: 'tpm', challengeId: a.challengeId, secret: Buffer.alloc(32, i).toString('base64') }, { requestId: `a${i}`, clientIp: null }, w.enrollDeps));
      expect(wrong.code).toBe('attestation_rejected');
      w.tick(100);
    }
    const ok = await enroll({ method: 'tpm', challengeId: legit.challengeId, secret: legit.secret }, { requestId: 'legit', clientIp: null }, w.enrollDeps);
    expect(ok.machineId).toBe('edge-1');
  });

  it('an open challenge dies when the machine is re-registered with another EK', async () => {
    const w = await world();
    await w.machines.register(reg('edge-1', { ekPublicKeySha256: w.ekSha }), 0);
    const ch = await openChallenge(w.challengeDeps);
    w.tick(10);
    await w.machines.register(reg('edge-1', { ekPublicKeySha256: 'f'.repeat(64) }), w.challengeDeps.now().getTime());
    const e = await failure(enroll({ method: 'tpm', challengeId: ch.challengeId, secret: ch.secret }, { requestId: 'r', clientIp: null }, w.enrollDeps));
    expect(e.code).toBe('attestation_rejected');
    expect(w.audit.events.at(-1)!.reason).toMatch(/EK|issued before/);
  });

  it('an unknown or malformed challenge id: attestation_rejected / invalid_request', async () => {
    const w = await world();
    expect((await failure(enroll({ method: 'tpm', challengeId: crypto.randomUUID(), secret: 'AAAA' }, { requestId: 'r', clientIp: null }, w.enrollDeps))).code).toBe('attestation_rejected');
    for (const challengeId of ['x', `${crypto.randomUUID()}:edge-1`, 42, null, 'a'.repeat(65)]) {
      expect((await failure(enroll({ method: 'tpm', challengeId, secret: 'AAAA' }, { requestId: 'r', clientIp: null }, w.enrollDeps))).code).toBe('invalid_request');
    }
  });
});
