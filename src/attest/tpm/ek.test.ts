// The EK trust anchors and the EK checks, with their audit reasons, on the swtpm vectors
// (test/vectors/tpm-swtpm.json: swtpm-localca root + intermediate, the EK certificate).
import { createHash, X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import sameLength from '../../../test/vectors/tpm-ek-roots-same-length.json' with { type: 'json' };
import { parseEkPublicPem, parseEkRoots, verifyEkCertificate } from './index.ts';

const der = new Uint8Array(Buffer.from(vectors.ekCertDerBase64, 'base64'));
const [rootPem, icaPem] = vectors.ekRootsPem.split(/(?<=-----END CERTIFICATE-----\n)/) as [string, string];
const NOW = new Date('2026-12-01T00:00:00Z');
const reason = async (p: Promise<unknown>) => ((await p.then(() => null, (e: unknown) => e)) as { code: string; reason: string } | null) ?? { code: 'accepted', reason: '' };

describe('parseEkRoots', () => {
  it('self-signed certificates are roots, the others intermediates, whatever their order; other blocks are skipped', () => {
    expect(new X509Certificate(rootPem).subject).toBe(new X509Certificate(rootPem).issuer);
    const t = parseEkRoots(`${icaPem}-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n${rootPem}`);
    expect(t.roots.map((c) => Buffer.from(c.der).toString('base64'))).toEqual([new X509Certificate(rootPem).raw.toString('base64')]);
    expect(t.intermediates.map((c) => Buffer.from(c.der).toString('base64'))).toEqual([new X509Certificate(icaPem).raw.toString('base64')]);
    expect(parseEkRoots(null)).toEqual({ roots: [], intermediates: [] });
    expect(parseEkRoots('')).toEqual({ roots: [], intermediates: [] });
  });

  it('an issuer name as long as the subject does not make a certificate self-signed: every byte must match', () => {
    const t = parseEkRoots(`${sameLength.intermediatePem}${sameLength.rootPem}`);
    expect(t.roots.map((c) => Buffer.from(c.der).toString('base64'))).toEqual([new X509Certificate(sameLength.rootPem).raw.toString('base64')]);
    expect(t.intermediates.map((c) => Buffer.from(c.der).toString('base64'))).toEqual([new X509Certificate(sameLength.intermediatePem).raw.toString('base64')]);
    expect(t.intermediates[0]!.rawSubject.length).toBe(t.intermediates[0]!.rawIssuer.length);
  });
});

describe('verifyEkCertificate', () => {
  it('gives the SPKI of the EK, its SHA-256 (what ekPublicKeySha256 registers) and certified', async () => {
    const ek = await verifyEkCertificate(der, parseEkRoots(vectors.ekRootsPem), NOW);
    const spki = new X509Certificate(Buffer.from(der)).publicKey.export({ format: 'der', type: 'spki' });
    expect(Buffer.from(ek.spki)).toEqual(spki);
    expect(ek.sha256).toBe(createHash('sha256').update(spki).digest('hex'));
    expect(ek.certified).toBe(true);
  });
  it('each refusal says why', async () => {
    expect(await reason(verifyEkCertificate(der, parseEkRoots(null), NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'ek: no TPM_EK_ROOTS_PEM configured' });
    expect(await reason(verifyEkCertificate(der, parseEkRoots(rootPem), NOW))).toMatchObject({ code: 'attestation_rejected', reason: 'ek: certificate does not chain to a configured EK root' });
    expect(await reason(verifyEkCertificate(der, parseEkRoots(vectors.ekRootsPem), new Date('2026-11-01T00:00:00Z')))).toMatchObject({ reason: 'ek: certificate does not chain to a configured EK root' });
    expect((await reason(verifyEkCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), parseEkRoots(vectors.ekRootsPem), NOW))).reason).toMatch(/^ek: certificate does not parse: /);
  });
});

describe('parseEkPublicPem', () => {
  it('takes the first PUBLIC KEY block; the EK is then certified only by its registration', () => {
    const spki = new X509Certificate(Buffer.from(der)).publicKey.export({ format: 'der', type: 'spki' });
    const pem = `${rootPem}-----BEGIN PUBLIC KEY-----\n${spki.toString('base64')}\n-----END PUBLIC KEY-----\n`;
    expect(parseEkPublicPem(pem)).toEqual({ spki: new Uint8Array(spki), sha256: createHash('sha256').update(spki).digest('hex'), certified: false });
  });
});

describe('TpmRejectedError', () => {
  it('is attestation_rejected to the caller, with its own name and the reason and cause kept', async () => {
    const { TpmRejectedError } = await import('./index.ts');
    const cause = new Error('inner');
    const e = new TpmRejectedError('quote: truncated', cause);
    expect([e.name, e.code, e.message, e.reason, e.cause]).toEqual(['TpmRejectedError', 'attestation_rejected', 'attestation rejected', 'quote: truncated', cause]);
  });
});
