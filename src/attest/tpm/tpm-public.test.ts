// TPM2B_PUBLIC parsing and EK certificate checks on vectors from swtpm + tpm2-tools
// (test/vectors/tpm-swtpm.json), with the malformed-input matrix run against the parser.
import { describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import { AppError } from '../../errors.ts';
import { computeTpmName, parseEkRoots, parseTpm2bPublic, TPMA_OBJECT, validateAttestationKey, verifyEkCertificate } from './index.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const ak = b64(vectors.akPublicBase64);
const rejectedWith = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('attestation_rejected');
    return (err as AppError).reason;
  }
  throw new Error('expected a rejection');
};

describe('parseTpm2bPublic', () => {
  it('parses the AK tpm2_createak wrote; its name equals tpm2-tools’ ak.name', () => {
    const pub = parseTpm2bPublic(ak);
    expect(pub.type).toBe('rsa');
    expect(pub.rsa!.keyBits).toBe(2048);
    expect(Buffer.from(computeTpmName(pub)).toString('hex')).toBe(vectors.akNameHex);
    expect(() => validateAttestationKey(pub)).not.toThrow();
  });
  it('rejects every truncation of a real AK', () => {
    for (let n = 0; n < ak.length; n++) rejectedWith(() => parseTpm2bPublic(ak.slice(0, n)));
  });
  it.each([
    ['trailing bytes', () => new Uint8Array([...ak, 0])],
    ['size field too large', () => Object.assign(ak.slice(), { 0: 0xff })],
    ['unknown type', () => Object.assign(ak.slice(), { 2: 0x00, 3: 0x25 })],
    ['unknown nameAlg', () => Object.assign(ak.slice(), { 4: 0x00, 5: 0x04 })],
    ['empty', () => new Uint8Array(0)],
  ])('rejects %s', (_n, make) => {
    rejectedWith(() => parseTpm2bPublic(make()));
  });
  it.each([
    ['restricted', TPMA_OBJECT.restricted],
    ['fixedTPM', TPMA_OBJECT.fixedTPM],
    ['fixedParent', TPMA_OBJECT.fixedParent],
    ['sensitiveDataOrigin', TPMA_OBJECT.sensitiveDataOrigin],
    ['sign', TPMA_OBJECT.sign],
  ])('refuses an AK without %s', (name, bit) => {
    const bytes = ak.slice();
    const attrs = new DataView(bytes.buffer).getUint32(6) & ~bit;
    new DataView(bytes.buffer).setUint32(6, attrs >>> 0);
    expect(rejectedWith(() => validateAttestationKey(parseTpm2bPublic(bytes)))).toBe(`AK is not acceptable: ${name} is clear`);
  });
  it('refuses a decrypt key', () => {
    const bytes = ak.slice();
    new DataView(bytes.buffer).setUint32(6, (new DataView(bytes.buffer).getUint32(6) | TPMA_OBJECT.decrypt) >>> 0);
    expect(rejectedWith(() => validateAttestationKey(parseTpm2bPublic(bytes)))).toBe('AK is not acceptable: decrypt is set');
  });
});

describe('verifyEkCertificate', () => {
  const der = b64(vectors.ekCertDerBase64);
  it('accepts the swtpm EK certificate (critical SAN, no serverAuth) against its localca chain', async () => {
    const ek = await verifyEkCertificate(der, parseEkRoots(vectors.ekRootsPem), new Date());
    expect(ek.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(ek.certified).toBe(true);
  });
  it('refuses it without roots, with the root but not the intermediate, or with a garbage certificate', async () => {
    await expect(verifyEkCertificate(der, parseEkRoots(null), new Date())).rejects.toMatchObject({ code: 'attestation_rejected' });
    const rootOnly = vectors.ekRootsPem.split(/(?<=-----END CERTIFICATE-----\n)/)[0]!;
    await expect(verifyEkCertificate(der, parseEkRoots(rootOnly), new Date())).rejects.toMatchObject({ code: 'attestation_rejected' });
    await expect(verifyEkCertificate(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]), parseEkRoots(vectors.ekRootsPem), new Date())).rejects.toMatchObject({ code: 'attestation_rejected' });
  });
});
