// issueTpmChallenge and the tpm verifier, rule by rule: what the request must carry, what the
// challenge record and the answer hold, and each refusal (on the swtpm vectors, no TPM needed).
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { AppError } from '../../errors.ts';
import type { MachineRegistration } from '../../enroll/machine-state.ts';
import { createMemoryChallengeStore, createMemoryMachineIndex, createMemoryMachineStore } from '../../store/memory.ts';
import { CHALLENGE_TTL_MS } from '../../enroll/machine-state.ts';
import { akNameHex, createTpmVerifier, issueTpmChallenge, parseEkPublicPem, parseEkRoots, parseTpm2bPublic, quoteNonceHex, verifyEkCertificate, type ChallengeDeps } from './index.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const trust = parseEkRoots(vectors.ekRootsPem);
const NOW = new Date('2026-12-01T12:00:00Z'); // the vector EK certificate is valid from 2026-11-28
const ID = '123e4567-e89b-42d3-a456-426614174000';
const reg = (over: Partial<MachineRegistration> = {}): MachineRegistration => ({ id: 'edge-1', enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null, ...over });

async function world(over: Partial<ChallengeDeps> = {}, registerEk = true) {
  const index = createMemoryMachineIndex();
  const machines = createMemoryMachineStore((v) => void index.upsert(v));
  const challenges = createMemoryChallengeStore();
  const ek = await verifyEkCertificate(b64(vectors.ekCertDerBase64), trust, NOW);
  if (registerEk) await machines.register(reg({ ekPublicKeySha256: ek.sha256 }), 0);
  const deps: ChallengeDeps = { machines, index, challenges, ekTrust: trust, allowUnregistered: false, quoteRequired: false, now: () => NOW, newId: () => ID, ...over };
  return { machines, index, challenges, ek, deps };
}
const body = (over: Record<string, unknown> = {}) => ({ method: 'tpm', ekCert: vectors.ekCertDerBase64, akPublic: vectors.akPublicBase64, ...over });
const ekPem = (spki: Uint8Array) => `-----BEGIN PUBLIC KEY-----\n${Buffer.from(spki).toString('base64').replace(/(.{64})/g, '$1\n')}\n-----END PUBLIC KEY-----\n`;
const failure = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(AppError);
  return { code: (e as AppError).code, message: (e as AppError).message, reason: (e as AppError).reason };
};

describe('issueTpmChallenge', () => {
  it('stores a challenge sealed to the EK for the AK, and answers with what tpm2_activatecredential needs', async () => {
    const w = await world({ quoteRequired: true });
    const ch = await issueTpmChallenge(body(), w.deps);
    expect(ch.machineId).toBe('edge-1');
    expect(ch.challengeId).toBe(ID);
    expect(ch.expiresAt).toBe('2026-12-01T12:05:00Z');
    expect(ch.nonce).toBe(createHash('sha256').update(ID).digest('hex'));
    expect(ch.nonce).toBe(quoteNonceHex(ID));
    const file = b64(ch.tpm2ToolsCredential);
    expect([...file.slice(0, 8)]).toEqual([0xba, 0xdc, 0xc0, 0xde, 0, 0, 0, 1]);
    expect(Buffer.from(file.slice(8))).toEqual(Buffer.concat([Buffer.from(ch.credentialBlob, 'base64'), Buffer.from(ch.encryptedSecret, 'base64')]));
    const stored = await w.challenges.get(ID);
    expect(stored).toMatchObject({ id: ID, machineId: 'edge-1', kind: 'tpm', ekSha256: w.ek.sha256, akName: vectors.akNameHex, quoteRequired: true, issuedAt: NOW.getTime(), expiresAt: NOW.getTime() + CHALLENGE_TTL_MS });
    expect(stored!.secretSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(akNameHex(parseTpm2bPublic(b64(vectors.akPublicBase64)))).toBe(vectors.akNameHex);
  });

  it('refuses a request without what it needs, naming it', async () => {
    const w = await world();
    const cases: [Record<string, unknown>, string][] = [
      [body({ method: 'x509' }), 'method must be "tpm"'],
      [body({ akPublic: undefined }), 'akPublic is required'],
      [body({ akPublic: '' }), 'akPublic must be base64 of at most 1536 bytes'],
      [body({ akPublic: 'A'.repeat(2052) }), 'akPublic must be base64 of at most 1536 bytes'],
      [body({ akPublic: 42 }), 'akPublic must be base64 of at most 1536 bytes'],
      [body({ akPublic: [vectors.akPublicBase64] }), 'akPublic must be base64 of at most 1536 bytes'],
      [body({ ekCert: '!!!!' }), 'ekCert must be base64 of at most 6144 bytes'],
      [body({ ekCert: undefined }), 'exactly one of ekCert, ekPub is required'],
      [body({ ekPub: ekPem(w.ek.spki) }), 'exactly one of ekCert, ekPub is required'],
      [body({ ekCert: undefined, ekPub: 42 }), 'ekPub must be a PEM public key'],
      [body({ ekCert: undefined, ekPub: ' '.repeat(4097) }), 'ekPub must be a PEM public key'],
    ];
    for (const [b, message] of cases) expect(await failure(issueTpmChallenge(b, w.deps))).toMatchObject({ code: 'invalid_request', message });
    // An akPublic of exactly 2048 characters is read (and then refused for what it holds).
    expect((await failure(issueTpmChallenge(body({ akPublic: 'A'.repeat(2048) }), w.deps))).code).toBe('attestation_rejected');
    // An ekPub of exactly 4096 characters is read.
    const padded = `${ekPem(w.ek.spki)}${' '.repeat(4096 - ekPem(w.ek.spki).length)}`;
    expect((await issueTpmChallenge(body({ ekCert: undefined, ekPub: padded }), w.deps)).machineId).toBe('edge-1');
  });

  it('an EK given as a public key must be registered: allowUnregistered admits certified EKs only', async () => {
    const w = await world({ allowUnregistered: true }, false);
    const pem = ekPem(w.ek.spki);
    expect(await failure(issueTpmChallenge(body({ ekCert: undefined, ekPub: pem }), w.deps))).toMatchObject({ code: 'attestation_rejected', reason: `ek ${w.ek.sha256} not registered` });
    expect(parseEkPublicPem(pem)).toEqual({ spki: w.ek.spki, sha256: w.ek.sha256, certified: false });
    // Registered by its hash, the bare public key opens a challenge.
    const r = await world();
    expect((await issueTpmChallenge(body({ ekCert: undefined, ekPub: pem }), r.deps)).machineId).toBe('edge-1');
    expect(await failure(issueTpmChallenge(body({ ekCert: undefined, ekPub: 'not a pem' }), r.deps))).toMatchObject({ code: 'attestation_rejected', reason: 'ek: ekPub is not a PEM public key' });
  });

  it('an index entry that points at a machine registered with another EK is refused', async () => {
    const w = await world();
    await w.index.upsert({ ...(await w.machines.get('edge-1'))!, ekPublicKeySha256: w.ek.sha256, id: 'edge-2', updatedAt: 1 } as never);
    await w.machines.register(reg({ id: 'edge-2', ekPublicKeySha256: '0'.repeat(64) }), 0);
    const idx = createMemoryMachineIndex();
    await idx.upsert({ ...(await w.machines.get('edge-2'))!, ekPublicKeySha256: w.ek.sha256 });
    expect(await failure(issueTpmChallenge(body(), { ...w.deps, index: idx }))).toMatchObject({ code: 'attestation_rejected', reason: 'ek: index points at edge-2, which is not registered with this EK' });
  });

  it('the AK must be a restricted signing key: a decrypt key gets no challenge', async () => {
    const w = await world();
    const ak = b64(vectors.akPublicBase64);
    ak[7] = ak[7]! | 0x02; // TPMA_OBJECT.decrypt (bit 17) of objectAttributes, at bytes 6-9
    expect(await failure(issueTpmChallenge(body({ akPublic: Buffer.from(ak).toString('base64') }), w.deps))).toMatchObject({ code: 'attestation_rejected', reason: 'AK is not acceptable: decrypt is set' });
    expect(await w.challenges.get(ID)).toBeNull();
  });

  it('an auto-registered TPM keeps its machine: a second challenge reuses it', async () => {
    const w = await world({ allowUnregistered: true }, false);
    const first = await issueTpmChallenge(body(), w.deps);
    expect(first.machineId).toBe(`tpm-${w.ek.sha256.slice(0, 20)}`);
    expect((await w.machines.get(first.machineId))!.ekPublicKeySha256).toBe(w.ek.sha256);
    // Even when the index has not caught up, the existing machine is kept as it is (labels an
    // operator gave it since included).
    await w.machines.register(reg({ id: first.machineId, ekPublicKeySha256: w.ek.sha256, labels: { site: 'north' } }), 1);
    const second = await issueTpmChallenge(body(), { ...w.deps, index: createMemoryMachineIndex() });
    expect(second.machineId).toBe(first.machineId);
    expect((await w.machines.get(first.machineId))!.labels).toEqual({ site: 'north' });
  });
});

describe('the tpm verifier', () => {
  const secret = Buffer.alloc(32, 7).toString('base64');
  it('gives the challenged machine and the SHA-256 of the activated credential', async () => {
    const challenges = createMemoryChallengeStore();
    await challenges.put({ id: ID, machineId: 'edge-9', kind: 'tpm', secretSha256: 'f'.repeat(64), ekSha256: 'e'.repeat(64), issuedAt: 0, expiresAt: 1 });
    const v = createTpmVerifier(challenges);
    expect(v.method).toBe('tpm');
    expect(await v.verify({ challengeId: ID, secret }, NOW)).toEqual({
      machineId: 'edge-9',
      proof: { method: 'tpm', challenge: await challenges.get(ID), secretSha256: createHash('sha256').update(Buffer.alloc(32, 7)).digest('hex') },
      usedJwt: null,
    });
    // A credential of 1..64 bytes, base64 of at most 128 characters.
    await expect(v.verify({ challengeId: ID, secret: Buffer.alloc(64, 1).toString('base64') }, NOW)).resolves.toBeDefined();
    await expect(v.verify({ challengeId: ID, secret: Buffer.alloc(1, 1).toString('base64') }, NOW)).resolves.toBeDefined();
    // 128 characters is the bound on the string (atob skips the spaces): 128 pass, 129 do not.
    await expect(v.verify({ challengeId: ID, secret: `${Buffer.alloc(64, 1).toString('base64')}${' '.repeat(40)}` }, NOW)).resolves.toBeDefined();
    for (const bad of [Buffer.alloc(65, 1).toString('base64'), '', '!!!!', 42, undefined, `${Buffer.alloc(64, 1).toString('base64')}${' '.repeat(41)}`]) {
      expect(await failure(v.verify({ challengeId: ID, secret: bad }, NOW))).toMatchObject({ code: 'invalid_request', message: 'secret must be the base64 of the activated credential' });
    }
    expect(await failure(v.verify({ challengeId: 'A'.repeat(20), secret }, NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'unknown or expired challenge' });
  });
});
