// Device-certificate challenges through the enrollment use case, on a PKI made with openssl
// (skipped, with the reason printed, where openssl is missing): opaque challenge ids, uniform
// refusals, a prover unaffected by an attacker opening challenges with its public certificate,
// and challenges that die with the certificate they were issued for.
import { execFileSync } from 'node:child_process';
import { sign as signData, X509Certificate } from 'node:crypto';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hasOpenssl, makeDeviceCerts } from '../../test/support/device-pki.ts';
import { enroll, type EnrollDeps } from '../enroll/enroll.ts';
import type { MachineRegistration } from '../enroll/machine-state.ts';
import type { AppError } from '../errors.ts';
import { createMemoryAuditLog, createMemoryChallengeStore, createMemoryMachineIndex, createMemoryMachineStore } from '../store/memory.ts';
import { parseEkRoots } from './tpm/index.ts';
import { createX509Verifier, issueX509Challenge } from './x509.ts';

if (!hasOpenssl) console.log('src/attest/x509.test.ts: skipped, openssl is not installed');

const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-x509-'));
const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const der = (name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`))).raw;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const signNonce = (key: string, nonceHex: string) => signData('sha256', Buffer.from(nonceHex, 'hex'), readFileSync(join(dir, `${key}.key`))).toString('base64');
const reg = (id: string, over: Partial<MachineRegistration> = {}): MachineRegistration => ({ id, enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null, ...over });
const failure = async (p: Promise<unknown>) => (await p.catch((e: unknown) => e)) as AppError;

describe.skipIf(!hasOpenssl)('x509 challenges', () => {
  beforeAll(() => {
    makeDeviceCerts(dir, ['device', 'other']);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function world() {
    const machines = createMemoryMachineStore();
    const challenges = createMemoryChallengeStore();
    const audit = createMemoryAuditLog();
    const trust = parseEkRoots(readFileSync(join(dir, 'ca.pem'), 'utf8'));
    let minted = 0;
    const deps: EnrollDeps = {
      machines,
      index: createMemoryMachineIndex(),
      audit,
      tokens: {
        mint: async () => {
          const id = `tok${String(++minted).padStart(3, '0')}`;
          return { token: { id, secret: '0123456789abcdef', token: `${id}.0123456789abcdef` }, uid: `uid-${id}`, expiresAt: new Date(Date.now() + 600_000), createdAt: null } as never;
        },
        remove: async () => true,
      },
      caHash: async () => 'a'.repeat(64),
      verifiers: { x509: createX509Verifier(trust, challenges) },
      defaults: { tokenTtlSeconds: 600, tokenGroups: ['system:bootstrappers:k3s:default-node-token'], serverUrl: 'https://k3s.test:6443' },
      now: () => new Date(),
      newId: () => crypto.randomUUID(),
    };
    const open = (machineId: string, cert = 'device') => issueX509Challenge({ method: 'x509', machineId, certificate: der(cert).toString('base64') }, { machines, challenges, trust, now: () => new Date(), newId: () => crypto.randomUUID() });
    const answer = (ch: { challengeId: string; nonce: string }, cert = 'device', key = cert) => enroll({ method: 'x509', challengeId: ch.challengeId, certificate: der(cert).toString('base64'), signature: signNonce(key, ch.nonce) }, { requestId: 'r', clientIp: null }, deps);
    return { machines, challenges, audit, open, answer };
  }

  it('an opaque challenge id; the signed answer enrolls once', async () => {
    const w = world();
    await w.machines.register(reg('dev-x509', { certificateSha256: sha(der('device')) }), Date.now());
    const ch = await w.open('dev-x509');
    expect(ch.challengeId).not.toContain('dev-x509');
    expect((await w.answer(ch)).machineId).toBe('dev-x509');
    expect((await failure(w.answer(ch))).code).toBe('attestation_rejected');
  });

  it('unknown machine, revoked machine and unregistered certificate get one refusal at the challenge', async () => {
    const w = world();
    await w.machines.register(reg('dev-revoked', { certificateSha256: sha(der('device')) }), Date.now());
    await w.machines.revoke('dev-revoked', Date.now());
    await w.machines.register(reg('dev-other', { certificateSha256: sha(der('other')) }), Date.now());
    const errors = [await failure(w.open('nobody')), await failure(w.open('dev-revoked')), await failure(w.open('dev-other'))];
    expect(errors.map((e) => [e.code, e.message])).toEqual(Array(3).fill(['attestation_rejected', 'attestation rejected']));
    expect(w.challenges.records.size).toBe(0);
  });

  it('a prover gets through while an attacker opens challenges with its (public) certificate', async () => {
    const w = world();
    await w.machines.register(reg('dev-x509', { certificateSha256: sha(der('device')) }), Date.now());
    const legit = await w.open('dev-x509');
    for (let i = 0; i < 50; i++) {
      const a = await w.open('dev-x509');
      // Without the device key the attacker's answers fail (signed by another key).
      expect((await failure(w.answer(a, 'device', 'other'))).code).toBe('attestation_rejected');
    }
    expect((await w.answer(legit)).machineId).toBe('dev-x509');
  });

  it('an open challenge dies when the machine is re-registered with another certificate', async () => {
    const w = world();
    await w.machines.register(reg('dev-x509', { certificateSha256: sha(der('device')) }), Date.now() - 10);
    const ch = await w.open('dev-x509');
    await w.machines.register(reg('dev-x509', { certificateSha256: sha(der('other')) }), Date.now() + 1);
    expect((await failure(w.answer(ch))).code).toBe('attestation_rejected');
    expect(w.audit.events.at(-1)!.reason).toMatch(/certificate/);
  });

  it('a malformed or unknown challenge id: invalid_request / attestation_rejected', async () => {
    const w = world();
    expect((await failure(w.answer({ challengeId: `${crypto.randomUUID()}:dev-x509`, nonce: '00' }))).code).toBe('invalid_request');
    expect((await failure(w.answer({ challengeId: crypto.randomUUID(), nonce: '00' }))).code).toBe('attestation_rejected');
  });
});
