// Device certificates rule by rule, on a PKI made with openssl (skipped where it is missing): what
// the request must carry and up to what size, the chain the device may add, the clientAuth chain
// at `now`, the challenge record and the nonce, and each refusal with its audit reason.
import { execFileSync } from 'node:child_process';
import { createHash, sign as signData, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CHALLENGE_TTL_MS, type MachineRegistration } from '../enroll/machine-state.ts';
import { AppError } from '../errors.ts';
import { createMemoryChallengeStore, createMemoryMachineStore } from '../store/memory.ts';
import { parseEkRoots } from './tpm/index.ts';
import { hasOpenssl } from '../../test/support/device-pki.ts';
import { createX509Verifier, issueX509Challenge, verifyDeviceCertificate, x509NonceHex, type DeviceTrust } from './x509.ts';


const dir = mkdtempSync(join(tmpdir(), 'k3s-enroll-x509-rules-'));
const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
const der = (name: string) => new X509Certificate(readFileSync(join(dir, `${name}.pem`))).raw;
const b64 = (name: string) => der(name).toString('base64');
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const signNonce = (key: string, nonceHex: string) => signData('sha256', Buffer.from(nonceHex, 'hex'), readFileSync(join(dir, `${key}.key`))).toString('base64');
const reg = (over: Partial<MachineRegistration> = {}): MachineRegistration => ({ id: 'edge-1', enrollmentCodeSha256: null, enrollmentCodeExpiresAt: null, jwtSubject: null, ekPublicKeySha256: null, certificateSha256: null, groups: null, labels: {}, tokenTtlSeconds: null, ...over });
/** A minute after the PKI is made (openssl dates certificates from the second it signs them). */
let NOW: Date;
const failure = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(AppError);
  return { code: (e as AppError).code, message: (e as AppError).message, reason: (e as AppError).reason };
};

describe.skipIf(!hasOpenssl)('device certificate rules', () => {
  let trust: DeviceTrust;
  let rootOnly: DeviceTrust;
  beforeAll(() => {
    writeFileSync(join(dir, 'client.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n');
    writeFileSync(join(dir, 'server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n');
    writeFileSync(join(dir, 'ca.ext'), 'basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign\n');
    const key = (name: string) => ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`];
    ossl('req', '-x509', ...key('ca'), '-out', 'ca.pem', '-days', '365', '-subj', '/CN=device-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign');
    const issue = (name: string, ca: string, ext: string) => {
      ossl('req', '-new', ...key(name), '-out', `${name}.csr`, '-subj', `/CN=${name}`);
      ossl('x509', '-req', '-in', `${name}.csr`, '-CA', `${ca}.pem`, '-CAkey', `${ca}.key`, '-CAcreateserial', '-out', `${name}.pem`, '-days', '30', '-extfile', ext);
    };
    issue('device', 'ca', 'client.ext');
    issue('server', 'ca', 'server.ext');
    issue('ica', 'ca', 'ca.ext');
    issue('leaf', 'ica', 'client.ext');
    trust = parseEkRoots(readFileSync(join(dir, 'ca.pem'), 'utf8'));
    rootOnly = { roots: trust.roots, intermediates: [] };
    NOW = new Date(Math.floor(Date.now() / 1000) * 1000 + 60_000);
  }, 60_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  describe('verifyDeviceCertificate', () => {
    it('gives the certificate and the SHA-256 of its DER', async () => {
      const { cert, sha256 } = await verifyDeviceCertificate({ certificate: b64('device') }, trust, NOW);
      expect(sha256).toBe(sha(der('device')));
      expect(cert.spki.length).toBeGreaterThan(0);
    });

    it('refuses a missing, oversized or undecodable certificate with invalid_request', async () => {
      for (const certificate of [undefined, 42, '', '!!!!', 'A'.repeat(8193), [b64('device')]]) {
        expect(await failure(verifyDeviceCertificate({ certificate }, trust, NOW))).toMatchObject({ code: 'invalid_request', message: 'certificate must be the base64 DER of the device certificate' });
      }
    });

    it('a chain is a list of up to 4 base64 DER certificates', async () => {
      const message = 'chain must be a list of at most 4 base64 DER certificates';
      for (const chain of ['x', [b64('ica'), b64('ica'), b64('ica'), b64('ica'), b64('ica')], [42], ['A'.repeat(8193)], [[b64('ica')]], {}]) {
        expect(await failure(verifyDeviceCertificate({ certificate: b64('leaf'), chain }, rootOnly, NOW))).toMatchObject({ code: 'invalid_request', message });
      }
      expect(await failure(verifyDeviceCertificate({ certificate: b64('leaf'), chain: ['!!!!'] }, rootOnly, NOW))).toMatchObject({ code: 'invalid_request', message: 'chain entries must be base64 DER' });
      // Four are accepted, and the intermediate the device sends completes its chain.
      const ok = await verifyDeviceCertificate({ certificate: b64('leaf'), chain: [b64('ica'), b64('ica'), b64('ica'), b64('ica')] }, rootOnly, NOW);
      expect(ok.sha256).toBe(sha(der('leaf')));
      // Intermediates configured beside DEVICE_CA_PEM complete it too.
      const withIca = parseEkRoots(`${readFileSync(join(dir, 'ca.pem'), 'utf8')}${readFileSync(join(dir, 'ica.pem'), 'utf8')}`);
      expect((await verifyDeviceCertificate({ certificate: b64('leaf') }, withIca, NOW)).sha256).toBe(sha(der('leaf')));
      // Without it the leaf does not chain.
      expect(await failure(verifyDeviceCertificate({ certificate: b64('leaf') }, rootOnly, NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'x509: certificate does not chain to DEVICE_CA_PEM for clientAuth at this time' });
    });

    it('a certificate or chain entry of exactly 8192 characters is read (and judged on what it holds)', async () => {
      expect((await failure(verifyDeviceCertificate({ certificate: 'A'.repeat(8192) }, trust, NOW))).code).toBe('attestation_rejected');
      expect((await failure(verifyDeviceCertificate({ certificate: b64('device'), chain: ['A'.repeat(8192)] }, trust, NOW))).code).toBe('attestation_rejected');
    });

    it('refusals an attacker could provoke are attestation_rejected, each with its reason', async () => {
      expect(await failure(verifyDeviceCertificate({ certificate: b64('device') }, { roots: [], intermediates: [] }, NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'x509: no DEVICE_CA_PEM configured' });
      expect((await failure(verifyDeviceCertificate({ certificate: Buffer.from([0x30, 0x03, 0x02, 0x01, 0x01]).toString('base64') }, trust, NOW))).reason).toMatch(/^x509: /);
      expect((await failure(verifyDeviceCertificate({ certificate: b64('device'), chain: [Buffer.from([0x30, 0x00]).toString('base64')] }, trust, NOW))).reason).toMatch(/^x509: /);
      const notClient = 'x509: certificate does not chain to DEVICE_CA_PEM for clientAuth at this time';
      expect(await failure(verifyDeviceCertificate({ certificate: b64('server') }, trust, NOW))).toMatchObject({ code: 'attestation_rejected', reason: notClient });
      expect(await failure(verifyDeviceCertificate({ certificate: b64('device') }, trust, new Date(NOW.getTime() + 40 * 86_400_000)))).toMatchObject({ reason: notClient });
    });
  });

  describe('challenge and answer', () => {
    const ID = 'A0b1C2d3E4f5G6h7-_x';
    async function world() {
      const machines = createMemoryMachineStore();
      const challenges = createMemoryChallengeStore();
      await machines.register(reg({ certificateSha256: sha(der('device')) }), 0);
      const open = (body: Record<string, unknown>) => issueX509Challenge({ method: 'x509', machineId: 'edge-1', certificate: b64('device'), ...body }, { machines, challenges, trust, now: () => NOW, newId: () => ID });
      return { machines, challenges, open, verifier: createX509Verifier(trust, challenges) };
    }

    it('the challenge: an opaque id, the nonce SHA-256("x509:" + id), the certificate hash as its secret', async () => {
      const w = await world();
      const ch = await w.open({});
      expect(x509NonceHex(ID)).toBe(createHash('sha256').update(`x509:${ID}`).digest('hex'));
      expect(ch).toEqual({ machineId: 'edge-1', challengeId: ID, nonce: x509NonceHex(ID), expiresAt: new Date(NOW.getTime() + CHALLENGE_TTL_MS).toISOString().replace('.000Z', 'Z') });
      expect(await w.challenges.get(ID)).toMatchObject({ id: ID, machineId: 'edge-1', kind: 'x509', secretSha256: sha(der('device')), ekSha256: '', issuedAt: NOW.getTime(), expiresAt: NOW.getTime() + CHALLENGE_TTL_MS });
      expect(await failure(w.open({ certificate: b64('leaf'), chain: [b64('ica')] }))).toMatchObject({ code: 'attestation_rejected', reason: 'x509: certificate is not the one registered for this machine' });
      expect(await failure(w.open({ machineId: 'Bad_Id' }))).toMatchObject({ code: 'invalid_request' });
    });

    it('the answer: a signature over the nonce by the certificate key gives the challenged machine', async () => {
      const w = await world();
      const ch = await w.open({});
      expect(w.verifier.method).toBe('x509');
      const ev = await w.verifier.verify({ challengeId: ID, certificate: b64('device'), signature: signNonce('device', ch.nonce) }, NOW);
      expect(ev).toEqual({ machineId: 'edge-1', proof: { method: 'x509', challenge: await w.challenges.get(ID), secretSha256: sha(der('device')) }, usedJwt: null });
    });

    it('refuses a malformed signature, a signature by another key or over another nonce, and an unknown challenge', async () => {
      const w = await world();
      const ch = await w.open({});
      for (const signature of [undefined, 42, '', '!!!!', 'A'.repeat(1025), [signNonce('device', ch.nonce)]]) {
        expect(await failure(w.verifier.verify({ challengeId: ID, certificate: b64('device'), signature }, NOW))).toMatchObject({ code: 'invalid_request', message: 'signature must be base64' });
      }
      const bad = 'x509: signature over the challenge does not verify with the certificate key';
      // A signature of exactly 1024 characters is read, and does not verify.
      expect(await failure(w.verifier.verify({ challengeId: ID, certificate: b64('device'), signature: 'A'.repeat(1024) }, NOW))).toMatchObject({ code: 'attestation_rejected', reason: bad });
      expect(await failure(w.verifier.verify({ challengeId: ID, certificate: b64('device'), signature: signNonce('server', ch.nonce) }, NOW))).toMatchObject({ code: 'attestation_rejected', reason: bad });
      expect(await failure(w.verifier.verify({ challengeId: ID, certificate: b64('device'), signature: signNonce('device', x509NonceHex('B'.repeat(20))) }, NOW))).toMatchObject({ reason: bad });
      const other = 'B'.repeat(20);
      expect(await failure(w.verifier.verify({ challengeId: other, certificate: b64('device'), signature: signNonce('device', x509NonceHex(other)) }, NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'x509: unknown or expired challenge' });
    });
  });
});
