// TPM2B_PUBLIC parsing and EK certificate checks on vectors from swtpm + tpm2-tools
// (test/vectors/tpm-swtpm.json, tpm-public.json), with the malformed-input matrix run against the
// parser: every rejection is a TpmRejectedError (attestation_rejected) with a precise reason.
import { describe, expect, it } from 'vitest';
import vectors from '../../../test/vectors/tpm-swtpm.json' with { type: 'json' };
import pubVectors from '../../../test/vectors/tpm-public.json' with { type: 'json' };
import { AppError } from '../../errors.ts';
import { akNameHex, computeTpmName, parseEkRoots, parseTpm2bPublic, TPM_ALG, TPM_ECC_CURVE, TPM_PUBLIC_MAX_BYTES, TPMA_OBJECT, TpmRejectedError, validateAttestationKey, verifyEkCertificate, type TpmPublic } from './index.ts';

const b64 = (s: string) => new Uint8Array(Buffer.from(s, 'base64'));
const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ak = b64(vectors.akPublicBase64);
const eccAk = unhex(pubVectors.eccAk.tpm2bPublicHex);
const ek384 = unhex(pubVectors.eccP384Ek.tpm2bPublicHex);
const nonRestricted = unhex(pubVectors.nonRestrictedSigningKey.tpm2bPublicHex);
const rejectedWith = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(TpmRejectedError);
    expect(err).toBeInstanceOf(AppError);
    expect((err as AppError).code).toBe('attestation_rejected');
    expect((err as AppError).message).toBe('attestation rejected'); // the reason never reaches the caller
    return (err as AppError).reason;
  }
  throw new Error('expected a rejection');
};
/** tpm2-tools prints attributes as lowercase names joined by |, in bit order. */
const toolsAttributes = (pub: TpmPublic) => pub.attributes.map((a) => a.toLowerCase()).join('|');
/** Copy with bytes patched at offsets: [offset, ...bytes]. */
const patch = (b: Uint8Array, ...edits: [number, ...number[]][]) => {
  const c = b.slice();
  for (const [at, ...bytes] of edits) c.set(bytes, at);
  return c;
};
const setAttrs = (b: Uint8Array, f: (a: number) => number) => {
  const c = b.slice();
  const v = new DataView(c.buffer);
  v.setUint32(6, f(v.getUint32(6)) >>> 0);
  return c;
};
/** Re-wraps a TPMT_PUBLIC in a correct TPM2B size. */
const wrap = (tpmt: Uint8Array) => new Uint8Array([tpmt.length >> 8, tpmt.length & 0xff, ...tpmt]);

describe('parseTpm2bPublic', () => {
  it('parses the RSA AK tpm2_createak wrote; its name equals tpm2-tools’ ak.name', () => {
    const pub = parseTpm2bPublic(ak);
    expect(pub.type).toBe('rsa');
    expect(pub.nameAlg).toBe(TPM_ALG.SHA256);
    expect(pub.rsa!.keyBits).toBe(2048);
    expect(pub.rsa!.exponent).toBe(65537);
    expect(pub.rsa!.modulus.length).toBe(256);
    expect(pub.scheme).toEqual({ algorithm: TPM_ALG.RSASSA, hashAlg: TPM_ALG.SHA256, count: null });
    expect(pub.symmetric).toBeNull();
    expect(pub.authPolicy.length).toBe(0);
    expect(toolsAttributes(pub)).toBe('fixedtpm|fixedparent|sensitivedataorigin|userwithauth|restricted|sign');
    expect(hex(computeTpmName(pub))).toBe(vectors.akNameHex);
    expect(akNameHex(pub)).toBe(vectors.akNameHex);
    expect(hex(computeTpmName(ak.subarray(2), TPM_ALG.SHA256))).toBe(vectors.akNameHex);
    expect(() => validateAttestationKey(pub)).not.toThrow();
  });
  it('parses the ECC (ECDSA) AK: attributes and name as tpm2_readpublic prints them', () => {
    const pub = parseTpm2bPublic(eccAk);
    expect(pub.type).toBe('ecc');
    expect(pub.ecc!.curve).toBe(TPM_ECC_CURVE.NIST_P256);
    expect(pub.ecc!.kdf).toBeNull();
    expect(pub.ecc!.x.length).toBe(32);
    expect(pub.scheme).toEqual({ algorithm: TPM_ALG.ECDSA, hashAlg: TPM_ALG.SHA256, count: null });
    expect(toolsAttributes(pub)).toBe(pubVectors.eccAk.attributes);
    expect(pub.objectAttributes).toBe(Number(pubVectors.eccAk.attributesRaw));
    expect(akNameHex(pub)).toBe(pubVectors.eccAk.nameHex);
    expect(() => validateAttestationKey(pub)).not.toThrow();
  });
  it('parses swtpm’s P-384 EK: SHA-384 name, policy, AES-256-CFB', () => {
    const pub = parseTpm2bPublic(ek384);
    expect(pub.nameAlg).toBe(TPM_ALG.SHA384);
    expect(pub.authPolicy.length).toBe(48);
    expect(pub.symmetric).toEqual({ algorithm: TPM_ALG.AES, keyBits: 256, mode: TPM_ALG.CFB });
    expect(pub.ecc!.curve).toBe(TPM_ECC_CURVE.NIST_P384);
    expect(toolsAttributes(pub)).toBe(pubVectors.eccP384Ek.attributes);
    expect(pub.objectAttributes).toBe(Number(pubVectors.eccP384Ek.attributesRaw));
    expect(hex(computeTpmName(pub))).toBe(pubVectors.eccP384Ek.nameHex);
    expect(hex(computeTpmName(pub.tpmtPublic, TPM_ALG.SHA384))).toBe(pubVectors.eccP384Ek.nameHex);
    // An EK is a decryption key, not an AK.
    expect(rejectedWith(() => validateAttestationKey(pub))).toBe('AK is not acceptable: sign is clear');
  });
  it.each([
    ['RSA AK', ak],
    ['ECC AK', eccAk],
    ['P-384 EK', ek384],
  ])('rejects every truncation of the %s, with or without a matching size field', (_n, blob) => {
    for (let n = 0; n < blob.length; n++) {
      expect(rejectedWith(() => parseTpm2bPublic(blob.slice(0, n)))).toMatch(/truncated|trailing/);
      if (n >= 2) expect(rejectedWith(() => parseTpm2bPublic(wrap(blob.slice(2, n))))).toMatch(/^TPMT_PUBLIC: (truncated|.*does not match|ECC point)/);
    }
  });
  const rsaMod = (f: (tpmt: Uint8Array) => Uint8Array) => wrap(f(ak.slice(2)));
  it.each([
    ['empty', () => new Uint8Array(0), /TPM2B_PUBLIC: truncated in publicArea.size/],
    ['one byte', () => new Uint8Array([0]), /TPM2B_PUBLIC: truncated in publicArea.size/],
    ['a zero size field', () => new Uint8Array([0, 0]), /TPMT_PUBLIC: truncated in type/],
    ['trailing bytes', () => new Uint8Array([...ak, 0]), /TPM2B_PUBLIC: 1 trailing bytes/],
    ['size field too large', () => patch(ak, [0, 0x01, 0x19]), /TPM2B_PUBLIC: truncated in publicArea/],
    ['size field over the maximum', () => patch(ak, [0, 0xff, 0xff]), /publicArea size 65535 over 1024/],
    ['an oversized input', () => new Uint8Array(TPM_PUBLIC_MAX_BYTES + 3), /TPM2B_PUBLIC: 1027 bytes is over 1026/],
    ['size field too small (inner trailing bytes)', () => wrap(new Uint8Array([...ak.slice(2), 0])), /TPMT_PUBLIC: 1 trailing bytes/],
    ['unknown type', () => patch(ak, [2, 0x00, 0x25]), /unsupported type 0x0025/],
    ['keyedhash type', () => patch(ak, [2, 0x00, 0x08]), /unsupported type 0x0008/],
    ['unknown nameAlg', () => patch(ak, [4, 0x00, 0x99]), /unsupported nameAlg 0x0099/],
    ['SHA-1 nameAlg', () => patch(ak, [4, 0x00, 0x04]), /unsupported nameAlg 0x0004/],
    ['a reserved attribute bit (0)', () => setAttrs(ak, (a) => a | 1), /reserved objectAttributes bits set \(0x1\)/],
    ['a reserved attribute bit (31)', () => setAttrs(ak, (a) => a | 0x80000000), /reserved objectAttributes bits set \(0x80000000\)/],
    ['an authPolicy that is not a nameAlg digest', () => rsaMod((t) => new Uint8Array([...t.slice(0, 8), 0, 4, 1, 2, 3, 4, ...t.slice(10)])), /authPolicy of 4 bytes/],
    ['an authPolicy over 64 bytes', () => rsaMod((t) => new Uint8Array([...t.slice(0, 8), 0, 65, ...new Uint8Array(65), ...t.slice(10)])), /authPolicy size 65 over 64/],
    ['unknown symmetric algorithm', () => patch(ek384, [60, 0x00, 0x26]), /unsupported symmetric 0x0026/],
    ['unsupported AES key size', () => patch(ek384, [62, 0x00, 0x40]), /unsupported AES key size 64/],
    ['unsupported symmetric mode', () => patch(ek384, [64, 0x00, 0x44]), /unsupported symmetric mode 0x0044/],
    ['unknown RSA scheme', () => patch(ak, [14, 0x00, 0x99]), /unknown scheme 0x0099/],
    ['an ECC scheme on an RSA key', () => patch(ak, [14, 0x00, 0x18]), /unknown scheme 0x0018/],
    ['unknown scheme hash', () => patch(ak, [16, 0x00, 0x99]), /unknown scheme hashAlg 0x0099/],
    ['unsupported RSA key size', () => patch(ak, [18, 0x07, 0x00]), /unsupported RSA key size 1792/],
    ['RSA keyBits not matching the modulus', () => patch(ak, [18, 0x0c, 0x00]), /RSA keyBits 3072 does not match a 256-byte modulus/],
    ['an even RSA exponent', () => patch(ak, [20, 0, 1, 0, 0]), /bad RSA exponent 65536/],
    ['unknown ECC scheme', () => patch(eccAk, [14, 0x00, 0x14]), /unknown scheme 0x0014/],
    ['unknown curve', () => patch(eccAk, [18, 0x00, 0x05]), /unsupported curve 0x0005/],
    ['unknown kdf', () => patch(ek384, [70, 0x00, 0x99]), /unknown kdf 0x0099/],
    ['ECC x of the wrong size', () => wrap(new Uint8Array([...eccAk.slice(2, 22), 0, 31, ...eccAk.slice(25)])), /ECC point of 31\/32 bytes/],
    ['ECC y over 66 bytes', () => wrap(new Uint8Array([...eccAk.slice(2, 56), 0, 67, ...new Uint8Array(67)])), /unique.y size 67 over 66/],
  ])('rejects %s', (_n, make, reason) => {
    expect(rejectedWith(() => parseTpm2bPublic(make()))).toMatch(reason);
  });
  it('refuses a non-Uint8Array as a caller mistake', () => {
    expect(() => parseTpm2bPublic('AAAA' as unknown as Uint8Array)).toThrow(TypeError);
  });
});

describe('validateAttestationKey', () => {
  it.each([
    ['restricted', TPMA_OBJECT.restricted],
    ['fixedTPM', TPMA_OBJECT.fixedTPM],
    ['fixedParent', TPMA_OBJECT.fixedParent],
    ['sensitiveDataOrigin', TPMA_OBJECT.sensitiveDataOrigin],
    ['sign', TPMA_OBJECT.sign],
  ])('refuses an AK without %s', (name, bit) => {
    for (const blob of [ak, eccAk]) {
      expect(rejectedWith(() => validateAttestationKey(parseTpm2bPublic(setAttrs(blob, (a) => a & ~bit))))).toBe(`AK is not acceptable: ${name} is clear`);
    }
  });
  it('refuses a decrypt key', () => {
    expect(rejectedWith(() => validateAttestationKey(parseTpm2bPublic(setAttrs(ak, (a) => a | TPMA_OBJECT.decrypt))))).toBe('AK is not acceptable: decrypt is set');
  });
  it('refuses the non-restricted signing key tpm2_create made', () => {
    const pub = parseTpm2bPublic(nonRestricted);
    expect(toolsAttributes(pub)).toBe(pubVectors.nonRestrictedSigningKey.attributes);
    expect(rejectedWith(() => validateAttestationKey(pub))).toBe('AK is not acceptable: restricted is clear');
  });
  it('refuses an RSA-1024 AK', () => {
    const tpmt = ak.slice(2);
    const small = new Uint8Array([...tpmt.slice(0, 16), 0x04, 0x00, ...tpmt.slice(18, 22), 0x00, 0x80, ...tpmt.slice(24, 24 + 128)]);
    expect(rejectedWith(() => validateAttestationKey(parseTpm2bPublic(wrap(small))))).toBe('AK is not acceptable: RSA key of 1024 bits is under 2048');
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
